"""Weight-space interpolation of trained adapters: back towards the base model (WiSE-FT, Wortsman et al., 2022),
and between adapters of one task (a uniform model soup, Wortsman et al., 2022).

A LoRA adapter adds ``delta = (alpha / r) * B @ A`` to each weight it targets. Scaling every ``B`` by ``w`` gives
``W + w * delta``: ``w = 1`` is the adapter as trained, ``w -> 0`` the base model. Fine-tunes interpolated this way
keep most of their gain on the data they were trained for and lose less on data they never saw, which is what a
shipped adapter must do (it may not score below the base model on other sets of its task kind).

Given several adapters of one task, the update is ``w`` times the mean of theirs, exactly: one LoRA whose rank is
the sum of theirs, each ``A`` scaled by ``w / n * alpha_i / r_i`` and stacked, each ``B`` stacked beside the others,
``alpha`` equal to the new rank (so ``B @ A`` is the update itself). Averaged fine-tunes of one starting point often
hold better on unseen data than any one of them; whether they do here is measured, not assumed (docs/training-data.md).
Caveat: the soup's rank is the sum of its adapters', and so is its LoRA work in each forward pass (adapters are
served unmerged): rank 32 on every linear layer of all-MiniLM-L6-v2 adds 12.5% to those layers' multiply-adds,
against 6.3% for one rank-16 adapter.

Caveat: choose ``w`` on held-out sets, not on the training run's validation split, which is drawn from the training
data and so nearly always prefers ``w = 1``. The validation figures in the card stay those of the trained adapter;
the test figures and the panel are dropped, because they were measured on other weights: ``taskvec interpolate``
measures the panel again at the end (the ship rule, :mod:`taskvec.train.ship_rule`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from taskvec.engine.fingerprint import fingerprint_folder
from taskvec.errors import InvalidInputError
from taskvec.train.model_card import INFO_FILE, write_model_card
from taskvec.train.output import check_out_folder

WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"


def interpolate_adapter(
    source: Path | Sequence[Path], weight: float, out: Path, *, command: str | None = None, overwrite: bool = False
) -> Path:
    """Write ``out``: the adapter at ``source`` with its update scaled by ``weight`` (0 < weight <= 1); given
    several sources (adapters of one task, base model and prompts), ``weight`` times the mean of their updates.
    An adapter already at ``out`` is replaced only with ``overwrite`` (taskvec.train.output)."""
    sources = [Path(source)] if isinstance(source, (str, Path)) else [Path(s) for s in source]
    out = Path(out)
    if not 0.0 < weight <= 1.0:
        raise InvalidInputError(
            f"weight must be in (0, 1], got {weight}",
            field="--weight",
            fix="1 keeps the trained adapter, smaller values move it towards the base model (0.5 is halfway).",
        )
    tensors = [_lora_tensors(folder) for folder in sources]
    if any(out.resolve() == folder.resolve() for folder in sources):
        raise InvalidInputError(
            "out must differ from source: scaling in place would lose the trained adapter",
            field="--out",
            fix="Write the interpolated adapter to a new folder.",
        )
    if len(set(s.resolve() for s in sources)) < len(sources):
        raise InvalidInputError(
            "the same adapter is given twice: a soup of it with itself is the adapter",
            field="source",
            fix="Name each adapter once.",
        )
    check_out_folder(out, overwrite=overwrite)
    config: dict[str, Any] | None = None  # one source: its config as it is
    if len(sources) == 1:
        combined = {k: (v * weight if ".lora_B." in k else v) for k, v in tensors[0].items()}
        info = _read_info(sources[0])
    else:
        config, combined = _soup(sources, tensors, weight)
        info = _soup_info(sources)

    # Build the new folder beside ``out`` and swap it in at the end: a failure part-way leaves ``out`` as it was.
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for path in sources[0].iterdir():
            if path.is_file() and path.name not in (WEIGHTS_FILE, CONFIG_FILE, INFO_FILE, "README.md"):
                shutil.copy2(path, staging / path.name)
        if config is None:
            shutil.copy2(sources[0] / CONFIG_FILE, staging / CONFIG_FILE)
        else:
            (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        save_file(combined, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        if info is not None:
            _record(staging, info, weight, command or f"(weight {weight})")
        if out.exists():
            old = staging.with_name(staging.name + ".old")
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old)
        else:
            staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _lora_tensors(folder: Path) -> dict[str, Any]:
    """A trained LoRA adapter's tensors, or an error naming what the folder lacks."""
    from safetensors.torch import load_file

    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise InvalidInputError(
                f"source {folder} has no {name}",
                field="source",
                fix="Pass a PEFT LoRA adapter folder (as `taskvec train` writes).",
            )
    if json.loads((folder / CONFIG_FILE).read_text()).get("peft_type") != "LORA":
        raise InvalidInputError(
            f"source {folder} is not a LoRA adapter (adapter_config.json peft_type is not LORA)",
            field="source",
            fix="Only LoRA adapters can be interpolated.",
        )
    tensors = load_file(str(folder / WEIGHTS_FILE))
    if not any(".lora_B." in k for k in tensors):
        raise InvalidInputError(
            f"source {folder} holds no lora_B weights to scale", field="source", fix="Pass a trained LoRA adapter."
        )
    return tensors


def _read_info(folder: Path) -> dict[str, Any] | None:
    path = folder / INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else None


# What must agree for a mean of updates to be one adapter of one task: the LoRA layout, then the task it serves.
_SAME_CONFIG = ("base_model_name_or_path", "bias", "fan_in_fan_out", "use_dora", "modules_to_save")
_SAME_TASK = ("task", "query_prompt", "document_prompt", "base_model_fingerprint", "pooling")


def _soup(sources: list[Path], tensors: list[dict[str, Any]], weight: float) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    configs = [json.loads((folder / CONFIG_FILE).read_text()) for folder in sources]
    first = configs[0]
    for folder, config, found in zip(sources, configs, tensors, strict=True):
        differs = [k for k in _SAME_CONFIG if config.get(k) != first.get(k)]
        if sorted(config.get("target_modules") or []) != sorted(first.get("target_modules") or []):
            differs.append("target_modules")
        if set(found) != set(tensors[0]):
            differs.append("the layers it adapts")
        if differs:
            raise InvalidInputError(
                f"{folder} and {sources[0]} differ in {', '.join(differs)}: their updates cannot be averaged.",
                field="source",
                fix="Average adapters of one base model trained with the same --target-modules (and --rank layout).",
            )
        if config.get("use_dora") or config.get("rank_pattern") or config.get("alpha_pattern"):
            raise InvalidInputError(
                f"{folder} is a DoRA adapter or sets per-layer ranks, which an average of updates does not cover.",
                field="source",
                fix="Average plain LoRA adapters (as `taskvec train` writes).",
            )
    n = len(sources)
    scales = [weight / n * c["lora_alpha"] / (math.sqrt(c["r"]) if c.get("use_rslora") else c["r"]) for c in configs]
    combined: dict[str, Any] = {}
    for key in tensors[0]:
        parts = [found[key] for found in tensors]
        if ".lora_A." in key:  # (r, in): each adapter's rows, scaled; stacked along the rank
            combined[key] = torch.cat([p * s for p, s in zip(parts, scales, strict=True)], dim=0).contiguous()
        elif ".lora_B." in key:  # (out, r): each adapter's columns, side by side
            combined[key] = torch.cat(parts, dim=1).contiguous()
        else:
            combined[key] = parts[0]
    rank = sum(int(c["r"]) for c in configs)
    config = {**first, "r": rank, "lora_alpha": float(rank), "use_rslora": False}
    return config, combined


def _soup_info(sources: list[Path]) -> dict[str, Any]:
    """The first source's record, with every source's data and the list of what was averaged."""
    infos = [_read_info(folder) for folder in sources]
    missing = [str(folder) for folder, info in zip(sources, infos, strict=True) if info is None]
    if missing:
        raise InvalidInputError(
            f"{', '.join(missing)} has no {INFO_FILE}: nothing says which task and prompts it was trained for.",
            field="source",
            fix="Average adapters written by `taskvec train` (or `taskvec interpolate`).",
        )
    records: list[dict[str, Any]] = [i for i in infos if i is not None]
    first = records[0]
    for folder, info in zip(sources, records, strict=True):
        if info.get("soup"):
            raise InvalidInputError(
                f"{folder} is a soup already: its record cannot also list the adapters of this one.",
                field="source",
                fix="Average the adapters it was made of together with the others, in one command.",
            )
        differs = [k for k in _SAME_TASK if info.get(k) != first.get(k)]
        if differs:
            raise InvalidInputError(
                f"{folder} and {sources[0]} differ in {', '.join(differs)}: their vectors live in different spaces.",
                field="source",
                fix="Average adapters trained for one task, with the same prompts, on the same base model.",
            )
    info = json.loads(json.dumps(first))
    info["data"] = _union([row for r in records for row in r["data"]], key=lambda row: json.dumps(row, sort_keys=True))
    for field in ("anchor_data", "val_data"):
        info[field] = _union([x for r in records for x in r.get(field) or []], key=str)
    info.pop("interpolation", None)
    info["soup"] = [
        {
            "folder": str(folder),
            "fingerprint": fingerprint_folder(folder),
            "commands": [record.get("command"), *(record.get("interpolation") or {}).get("commands", [])],
            "weight": float((record.get("interpolation") or {}).get("weight", 1.0)),
            "validation": record.get("validation", {}).get("adapter", {}),
        }
        for folder, record in zip(sources, records, strict=True)
    ]
    return info


def _union(items: list[Any], key: Any) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())


def _record(folder: Path, info: dict[str, Any], weight: float, command: str) -> None:
    """Note the interpolation in the run's facts and re-render the card; drop test figures of other weights."""
    before = info.get("interpolation") or {}
    info["interpolation"] = {
        "weight": round(weight * float(before.get("weight", 1.0)), 6),  # interpolating twice multiplies
        "commands": [*before.get("commands", []), command],
    }
    info.pop("test", None)
    info.pop("test_note", None)
    info.pop("panel", None)  # measured on other weights: the ship rule reads the panel of this one again
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    write_model_card(folder, info)
