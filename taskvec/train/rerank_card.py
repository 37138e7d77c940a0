"""The model card (README.md) of a rerank adapter, rendered from ``taskvec_training.json`` like the embedding
adapters' cards: training sets, validation, the test figures of every set checked, the ship decision, the command.

``add_rerank_figures`` records test figures measured after training (``taskvec eval checks --rerank``) in both
files and applies the ship rule: a reranker is a default only if the two-stage pipeline is at or above the
one-stage pipeline on every held-out set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taskvec.train.model_card import INFO_FILE, _table


def ship_decision(test: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """(ships, why): at or above the one-stage pipeline on every held-out set, and measured on at least one."""
    held_out = {k: v for k, v in test.items() if "held-out" in k}
    if not held_out:
        return False, "not measured on any held-out set yet, so it is not a default."
    worse = [k for k, v in held_out.items() if v["reranked"] < v["first_stage"]]
    if worse:
        return False, f"below the one-stage pipeline on {', '.join(worse)}, so it is **not** a default."
    return True, "at or above the one-stage pipeline on every held-out set: it may ship as the default."


def render(info: dict[str, Any]) -> str:
    hp, val = info["hyperparameters"], info["validation"]
    data_rows = [[d["source"], d["train"], d["licence"]] for d in info["data"]]
    val_rows = [[k, val["queries"].get(k, ""), v, val["reranked"].get(k, "")] for k, v in val["first_stage"].items()]
    parts = [
        "---",
        "library_name: peft",
        f"base_model: {info['base_model']}",
        "tags: [taskvec, lora, reranker, cross-encoder]",
        "---",
        "",
        f"# taskvec `rerank` adapter for {info['base_model']}",
        "",
        f"A cross-encoder on the frozen backbone: a LoRA adapter (rank {hp['rank']}, alpha {hp['alpha']:g}, dropout "
        f"{hp['dropout']:g}, on the attention projections) and a linear head on the mean of the token states of "
        f"`[CLS] query [SEP] document [SEP]` ({info['trainable_parameters']:,} parameters, "
        f"{info['max_seq_length']} tokens per pair). The score is residual: the cosine of the first stage "
        f"(task `{info['first_stage']}`, space `{info.get('residual_space', '')}`) plus the head's output. The head "
        "starts at zero, so before training the reranker ranks exactly as the first stage does. taskvec selects it "
        "with `search(..., rerank=true)` or the `rerank` tool; see docs/rerank.md.",
        "",
        "| | |",
        "|---|---|",
        f"| base model fingerprint | `{info['base_model_fingerprint']}` (taskvec `fingerprint_folder`) |",
        f"| loss | {info['loss']} (scale {hp['scale']:g}), negatives from the first stage's top {hp['candidates']}"
        f" (first {hp['mine_skip']} ranks skipped) |",
        f"| training wall time | {info['wall_seconds'] / 60:.1f} min ({info['cpu_seconds'] / 60:.1f} CPU-min) on "
        f"{info['machine']} |",
        f"| steps | {info['steps']} run, best at step {info['best_step']} (step 0 is the first stage alone) |",
        "",
        "## Training data",
        "",
        "Training splits only, read by path, never copied into the repository; validation queries are carved out by "
        "a seeded hash of the query.",
        "",
        _table(data_rows, ["source", "train pairs", "licence"]),
        "",
        "## Validation",
        "",
        f"nDCG@10 of reranking each validation query's first-stage top {hp['val_candidates']} (over the source's "
        "whole corpus).",
        "",
        _table(val_rows, ["validation set", "queries", "first stage", "reranked"]),
    ]
    test = info.get("test") or {}
    if test:
        rows = [
            [
                k,
                v.get("candidates", ""),
                v["first_stage"],
                v["reranked"],
                v["reranked"] - v["first_stage"],
                v.get("spread", ""),
            ]
            for k, v in test.items()
        ]
        _, why = ship_decision(test)
        parts += [
            "",
            "## Test figures",
            "",
            info.get("test_note", ""),
            "",
            _table(rows, ["data set (split)", "candidates", "one stage", "two stages", "change", "spread"]),
            "",
            f"**Ship rule:** {why}",
        ]
    parts += [
        "",
        "## Hyperparameters",
        "",
        "```json",
        json.dumps(hp, indent=2),
        "```",
        "",
        "## Reproduce",
        "",
        "```bash",
        info["command"],
        "```",
        "",
        "Seeded: the same command on the same software gives the same adapter (thread counts and bf16 autocast can "
        "move the last digits).",
        "",
    ]
    return "\n".join(parts)


def write_card(out: Path, info: dict[str, Any]) -> None:
    (Path(out) / "README.md").write_text(render(info))


def add_rerank_figures(folder: Path, figures: dict[str, dict[str, Any]], note: str) -> bool:
    """Record test figures (``{set: {first_stage, reranked, ...}}``) in the adapter's files; returns whether the
    ship rule passes."""
    path = Path(folder) / INFO_FILE
    info = json.loads(path.read_text())
    info["test"] = {**info.get("test", {}), **figures}
    info["test_note"] = note
    info["ships"], _ = ship_decision(info["test"])
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    write_card(folder, info)
    return bool(info["ships"])
