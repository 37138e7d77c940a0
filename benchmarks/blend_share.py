"""Choose a blended task's adapter share on validation sets, never on the panel (docs/training-data.md, "blend").

For each share ``s`` the vectors are ``taskvec.engine.blend.blended(bare, adapter, s)``, composed from one
encoding of each half (the engine makes the same vectors: tests/test_blend.py), and each validation set is scored
with the panel's own protocol and paired bootstrap (``taskvec.eval.panel.measure_set``): the adapter alone and
every share against the bare model.

* home validation: the sets of the adapter's own task, outside its training rows and its test sets;
* unseen validation: labelled sets of other domains that neither the adapter nor the panel holds.

The rule, written before the figures: among the shares whose unseen sets are all not ``down``, take the one with
the highest mean change on the home sets; none qualifying means no blend. Only that share is then read on the
panel (``taskvec eval panel --task T --blend S``).

    python benchmarks/blend_share.py --task clustering --json-out docs/results/blend_share_clustering.json
    python benchmarks/blend_share.py --task sentiment --json-out docs/results/blend_share_classification.json

(``--task sentiment`` reads the adapter that shipped as classification's when that record was made: it moved to
``adapters/all-MiniLM-L6-v2/sentiment`` unchanged, and its validation sets are classification sets.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARES = (0.25, 0.5, 0.75)


def validation_sets(task: str, data_root: Path, folder: Path) -> dict[str, list[Any]]:
    """The validation sets of ``task`` written under ``folder`` in the panel's layouts, as PanelSets by group: the
    unseen sets by ``benchmarks/validation_panel.py`` (its stratified split and few-shot sizes), the home sets from
    their own splits."""
    from benchmarks.validation_panel import write_rows, write_set
    from taskvec.data.labelled import LabelledTexts
    from taskvec.engine.tasks import BUILTIN_TASKS
    from taskvec.eval.checks import _amazon, _emotion, _newsgroup_subjects
    from taskvec.eval.panel import PanelSet

    kind = BUILTIN_TASKS[task]

    def home(name: str, splits: dict[str, tuple[list[str], list[str]]], per_label: int | None = None) -> PanelSet:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for split, (texts, labels) in splits.items():
            write_rows(folder / name / f"{split}.jsonl", LabelledTexts(texts, labels), list(range(len(texts))))
        layout = "classification" if per_label else "clustering"
        return PanelSet(name, kind, layout, "home validation", "", "", False, "", "", per_label)

    def unseen(names: list[str]) -> list[PanelSet]:
        return [PanelSet(**write_set(REPO / "data" / "train" / name, kind, folder)) for name in names]

    if task == "sentiment":
        return {
            "home": [
                home("amazon-valid", {"train": _amazon(data_root, "train"), "test": _amazon(data_root, "valid")}, 32),
                home("emotion-val", {"train": _emotion(data_root, "train"), "test": _emotion(data_root, "val")}, 16),
            ],
            "unseen": unseen(["trec-classification", "offensive-classification"]),
        }
    if task == "clustering":
        return {
            "home": [home("20ng-fold1", {"test": _newsgroup_subjects(data_root, fold=1)})],
            "unseen": unseen(["trec-clustering", "insuranceqa-clustering"]),
        }
    raise SystemExit(f"--task {task}: a blend share is chosen here for sentiment or clustering")


def encoded_once(embed: Any) -> Any:
    """``embed`` with a memory: each (texts, role) is encoded once, however many modes read it."""
    cache: dict[tuple[str, ...], Any] = {}

    def run(texts: list[str], role: str = "document") -> Any:
        key = (role, *texts)
        if key not in cache:
            cache[key] = embed(texts, role)
        return cache[key]

    return run


def score_set(ps: Any, folder: Path, bare: Any, adapted: Any, shares: tuple[float, ...]) -> dict[str, Any]:
    """One validation set: the adapter alone and each share against the bare model, on the panel's bootstrap."""
    from taskvec.engine.blend import blended

    def blend_at(share: float) -> Any:
        return lambda texts, role="document": blended(b(texts, role), a(texts, role), [share] * len(texts))

    b, a = encoded_once(bare), encoded_once(adapted)  # each half encoded once per set, whatever the shares
    return score_modes(ps, folder, {"base": b, "adapter": a, **{f"{s:g}": blend_at(s) for s in shares}})


def score_modes(ps: Any, folder: Path, embeds: dict[str, Any]) -> dict[str, Any]:
    """One validation set scored under each mode of ``embeds`` (one of them ``base``), each against ``base`` on the
    panel's paired bootstrap: the base figure and every ``<mode>_vs_base`` change."""
    from taskvec.eval import panel

    measures = {mode: panel.measure_set(ps, folder, embed, None) for mode, embed in embeds.items()}
    row = panel._row(ps, measures, panel.ROUNDS)
    return {k: v for k, v in row.items() if k == "base" or k.endswith("_vs_base")}


def choose(rows: dict[str, dict[str, dict[str, Any]]], modes: Sequence[str]) -> str | None:
    """The rule: among ``modes`` whose unseen sets are all not down, the highest mean change on the home sets."""
    allowed = [m for m in modes if all(r[f"{m}_vs_base"]["verdict"] != "down" for r in rows["unseen"].values())]
    return max(allowed, key=lambda m: home_change(rows, m), default=None)


def home_change(rows: dict[str, dict[str, dict[str, Any]]], mode: str) -> float:
    """``mode``'s mean change against the bare model over the home validation sets."""
    return sum(r[f"{mode}_vs_base"]["change"] for r in rows["home"].values()) / len(rows["home"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, choices=("sentiment", "clustering"))
    parser.add_argument("--shares", type=float, nargs="+", default=list(SHARES))
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--adapter", type=Path, help="a candidate adapter of the task (default: the shipped one)")
    args = parser.parse_args()

    from taskvec.engine import Encoder
    from taskvec.eval.checks import Runner, mode_tasks

    shares = tuple(args.shares)
    encoder = Encoder(device="cpu", dtype="fp32")
    adapter = args.adapter or encoder.profile.adapter_folder(args.task)
    tasks = mode_tasks(encoder, args.task, adapter, None, None)
    bare, adapted = Runner(encoder, tasks["base"], None).embed, Runner(encoder, tasks["adapter"], None).embed
    started, load = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), os.getloadavg()[0]
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for group, sets in validation_sets(args.task, args.data_root, Path(tmp)).items():
            rows[group] = {}
            for ps in sets:
                rows[group][ps.name] = score_set(ps, Path(tmp) / ps.name, bare, adapted, shares)
                print(ps.name, json.dumps(rows[group][ps.name]), flush=True)
    best = choose(rows, [f"{s:g}" for s in shares])
    chosen = float(best) if best is not None else None
    result = {
        "task": args.task,
        "adapter": str(adapter.relative_to(REPO) if adapter.is_relative_to(REPO) else adapter) if adapter else None,
        "shares": list(shares),
        "started": started,
        "load_1min": round(load, 2),
        "command": f"python benchmarks/blend_share.py --task {args.task}"
        + (f" --adapter {args.adapter}" if args.adapter else ""),
        "rule": "among the shares whose unseen validation sets are all not down against the bare model, the one "
        "with the highest mean change on the home validation sets; none qualifying: no blend",
        "sets": rows,
        "chosen": chosen,
    }
    print(f"chosen share: {chosen}")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
