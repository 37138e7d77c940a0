"""The model card (README.md) of a rerank adapter, rendered from ``taskvec_training.json`` like the embedding
adapters' cards: training sets, validation, the test figures of every set checked, the ship decision, the command.

``add_rerank_figures`` (``taskvec eval checks --rerank``) and ``add_rerank_panel`` (``taskvec eval panel --rerank``)
record figures measured after training in both files and apply the ship rule: a reranker is a default only if the
two-stage pipeline is at or above the one-stage pipeline, beyond noise, on every held-out check and panel set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taskvec.eval.bootstrap import Z95
from taskvec.train.model_card import INFO_FILE, _table


def _down(row: dict[str, Any]) -> bool:
    """A held-out check whose change is below zero beyond 1.96 bootstrap standard deviations (inside it: level)."""
    return row["reranked"] - row["first_stage"] < -Z95 * float(row.get("change_std", 0.0))


def ship_decision(test: dict[str, dict[str, Any]], panel: dict[str, Any] | None = None) -> tuple[bool, str]:
    """(ships, why): measured on the whole held-out panel (docs/panel.md) and on the held-out checks, with the
    two-stage pipeline below the one-stage pipeline beyond noise on none of them."""
    held_out = {k: v for k, v in test.items() if "held-out" in k}
    downs = [f"{k} ({v['reranked'] - v['first_stage']:+.4f})" for k, v in held_out.items() if _down(v)]
    if panel:
        downs += [
            f"{k} ({v['change']:+.4f} ± {v['noise']:.4f})" for k, v in panel["sets"].items() if v["verdict"] == "down"
        ]
    if downs:
        return False, f"below the one-stage pipeline beyond noise on {', '.join(downs)}, so it is **not** a default."
    missing = []
    if not held_out:
        missing.append("the held-out checks (`taskvec eval checks --rerank ... --card`)")
    if not panel:
        missing.append("the held-out panel (`taskvec eval panel --rerank ... --card`)")
    elif panel.get("sample") or panel.get("left_out"):
        missing.append("the whole held-out panel (the recorded one is a sample or leaves sets out)")
    if missing:
        return False, f"not yet measured on {' and '.join(missing)}, so it is not a default."
    return True, (
        f"at or above the one-stage pipeline (within noise or better) on all {len(held_out)} held-out checks and all "
        f"{len(panel['sets'])} panel sets: it may ship as the default."
    )


def _panel_rows(panel: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"{name} ({row['domain']})",
            row["units"],
            row["first_stage"],
            row["reranked"],
            f"{row['change']:+.4f} ± {row['noise']:.4f} {row['verdict']}",
        ]
        for name, row in panel["sets"].items()
    ]
    return [
        "",
        "## Held-out panel",
        "",
        f"Measured by `{panel['command']}`: public retrieval sets of domains no taskvec adapter trains on "
        f"(docs/panel.md). The first stage is the served `{panel['first_stage_task']}` task; the reranker rescores "
        f"each query's top {panel['candidates']}, both in {panel.get('dtype', 'float32')}. Each change is ± 1.96 "
        f"standard deviations of a paired bootstrap over queries ({panel['rounds']} rounds); inside it the change is "
        "*level*.",
        "",
        _table(rows, ["panel set (domain)", "queries", "one stage", "two stages", "change"]),
    ]


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
        parts += [
            "",
            "## Test figures",
            "",
            info.get("test_note", ""),
            "",
            _table(rows, ["data set (split)", "candidates", "one stage", "two stages", "change", "spread"]),
        ]
    if info.get("panel"):
        parts += _panel_rows(info["panel"])
    if test or info.get("panel"):
        parts += ["", f"**Ship rule:** {ship_decision(test, info.get('panel'))[1]}"]
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
    return _record(path, info)


def add_rerank_panel(folder: Path, panel: dict[str, Any]) -> bool:
    """Record a two-stage panel (``taskvec eval panel --rerank``) in the adapter's files; returns whether the ship
    rule passes."""
    path = Path(folder) / INFO_FILE
    info = json.loads(path.read_text())
    info["panel"] = panel
    return _record(path, info)


def _record(path: Path, info: dict[str, Any]) -> bool:
    info["ships"], _ = ship_decision(info.get("test") or {}, info.get("panel"))
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    write_card(path.parent, info)
    return bool(info["ships"])
