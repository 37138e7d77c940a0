"""Weight-space interpolation of a trained adapter back towards its base model (WiSE-FT, Wortsman et al., 2022).

A LoRA adapter adds ``delta = (alpha / r) * B @ A`` to each weight it targets. Scaling every ``B`` by ``w`` gives
``W + w * delta``: ``w = 1`` is the adapter as trained, ``w -> 0`` the base model. Fine-tunes interpolated this way
keep most of their gain on the data they were trained for and lose less on data they never saw, which is what a
shipped adapter must do (it may not score below the base model on other sets of its task kind).

Caveat: choose ``w`` on held-out sets, not on the training run's validation split, which is drawn from the training
data and so nearly always prefers ``w = 1``. The validation figures in the card stay those of the trained adapter;
the test figures and the panel are dropped, because they were measured on other weights: ``taskvec interpolate``
measures the panel again at the end (the ship rule, :mod:`taskvec.train.ship_rule`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from taskvec.errors import InvalidInputError
from taskvec.train.model_card import INFO_FILE, write_model_card

WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"


def interpolate_adapter(source: Path, weight: float, out: Path, *, command: str | None = None) -> Path:
    """Write ``out``: the adapter at ``source`` with its update scaled by ``weight`` (0 < weight <= 1)."""
    from safetensors.torch import load_file, save_file

    source, out = Path(source), Path(out)
    if not 0.0 < weight <= 1.0:
        raise InvalidInputError(
            f"weight must be in (0, 1], got {weight}",
            field="--weight",
            fix="1 keeps the trained adapter, smaller values move it towards the base model (0.5 is halfway).",
        )
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (source / name).is_file():
            raise InvalidInputError(
                f"source {source} has no {name}",
                field="source",
                fix="Pass a PEFT LoRA adapter folder (as `taskvec train` writes).",
            )
    if out.resolve() == source.resolve():
        raise InvalidInputError(
            "out must differ from source: scaling in place would lose the trained adapter",
            field="--out",
            fix="Write the interpolated adapter to a new folder.",
        )
    if json.loads((source / CONFIG_FILE).read_text()).get("peft_type") != "LORA":
        raise InvalidInputError(
            f"source {source} is not a LoRA adapter (adapter_config.json peft_type is not LORA)",
            field="source",
            fix="Only LoRA adapters can be interpolated.",
        )

    tensors = load_file(str(source / WEIGHTS_FILE))
    if not any(".lora_B." in k for k in tensors):
        raise InvalidInputError(
            f"source {source} holds no lora_B weights to scale", field="source", fix="Pass a trained LoRA adapter."
        )

    # Build the new folder beside ``out`` and swap it in at the end: a failure part-way leaves ``out`` as it was.
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for path in source.iterdir():
            if path.is_file() and path.name != WEIGHTS_FILE:
                shutil.copy2(path, staging / path.name)
        scaled = {k: (v * weight if ".lora_B." in k else v) for k, v in tensors.items()}
        save_file(scaled, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        if (source / INFO_FILE).is_file():
            _record(staging, json.loads((source / INFO_FILE).read_text()), weight, command or f"(weight {weight})")
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
