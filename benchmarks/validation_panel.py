"""A validation panel: training sets of other domains (``data/train``) written in the held-out panel's layout.

The held-out panel (docs/panel.md) is read once per candidate; choices come before it, on validation data. For
retrieval those are held-back training queries and whole retrieval sets of other domains
(``benchmarks/hybrid_weights.py``). This does the same for classification and clustering: it writes the labelled
training sets that an adapter did not train on as a panel folder, so that ``taskvec eval panel --panel-root OUT``
reads an adapter on them with the panel's own protocols, paired bootstrap and verdicts, and the held-out panel
stays unread:

    python benchmarks/validation_panel.py --out /tmp/validation-panel \\
        --classification data/train/trec-classification data/train/offensive-classification \\
        --clustering data/train/trec-clustering data/train/insuranceqa-clustering
    taskvec eval panel --task classification --adapter DIR --panel-root /tmp/validation-panel

A classification set's records are split, seeded and stratified by label, into a few-shot pool (``train.jsonl``)
and test texts (``test.jsonl``); a clustering set's records all become ``test.jsonl``, and so do a scored-pair
set's (``--similarity``: a ``train.jsonl`` of {text1, text2, score}, or a folder the harness reads as a similarity
test set, such as the STS Benchmark's). The last also serves a home test set: ``taskvec eval panel --task
similarity --adapter NEW --against SHIPPED --panel-root OUT`` reads a candidate against the adapter it would
replace, paired over the same pairs, which two separate figures cannot say. Nothing is written into the
repository: the output holds copies of sets whose licences are those of their ``SOURCE.md``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskvec.data.labelled import LabelledTexts, read_labelled
from taskvec.data.licence import licence_near
from taskvec.data.pairs import read_scored_pairs
from taskvec.eval.datasets import load_similarity
from taskvec.eval.panel import MANIFEST

SEED = 0
TEST_SHARE = 0.5  # of each label's texts; the rest is the few-shot pool
FEW_SHOT = 8  # texts per label a few-shot draw takes where the set has more than 4 labels (MTEB's default)
FEW_SHOT_FEW_LABELS = 16  # where it has 4 or fewer, as the panel's 4-topic AG News set takes


def split_by_label(data: LabelledTexts, seed: int = SEED) -> tuple[list[int], list[int]]:
    """(pool rows, test rows): each label's rows shuffled, ``TEST_SHARE`` of them to the test side (at least one
    to each side where a label has two or more)."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for row, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(row)
    pool, test = [], []
    for label in sorted(by_label):
        rows = by_label[label]
        rng.shuffle(rows)
        cut = min(max(1, round(len(rows) * TEST_SHARE)), len(rows) - 1) if len(rows) > 1 else 0
        test += rows[:cut]
        pool += rows[cut:]
    return sorted(pool), sorted(test)


def set_name(source: Path) -> str:
    """A set's name: its folder's, also for the ``train.jsonl`` inside one (data/train's layout), else the file's stem."""
    if source.is_dir():
        return source.name
    return source.parent.name if source.name == "train.jsonl" else source.stem


def manifest_entry(source: Path, records: Path, kind: str, metric: str, what: str) -> dict:
    """A set's ``panel.json`` entry: named by :func:`set_name`, licensed by the note beside ``records``."""
    name = set_name(source)
    return {
        "name": name,
        "kind": kind,
        "layout": kind,
        "domain": f"validation: {name} ({what})",
        "metric": metric,
        "licence": licence_near(records),
        "committed": False,
        "origin": str(source),
        "commit": "-",
    }


def write_rows(path: Path, data: LabelledTexts, rows: list[int]) -> None:
    """The chosen rows of ``data`` as a JSONL file of {text, label}."""
    path.write_text("".join(json.dumps({"text": data.texts[i], "label": data.labels[i]}) + "\n" for i in rows))


def write_set(source: Path, kind: str, out: Path) -> dict:
    """One training set as a panel set under ``out``; its ``panel.json`` entry."""
    records = source / "train.jsonl" if source.is_dir() else source
    data = read_labelled(records)
    name = set_name(source)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    labels = len(set(data.labels))
    entry = manifest_entry(source, records, kind, "V-measure", "a training set of another domain, data/train")
    if kind == "classification":
        pool, test = split_by_label(data)
        write_rows(folder / "train.jsonl", data, pool)
        write_rows(folder / "test.jsonl", data, test)
        per_label = FEW_SHOT_FEW_LABELS if labels <= 4 else FEW_SHOT
        entry.update(metric=f"accuracy ({per_label}/label)", samples_per_label=per_label)
        print(f"{name}: {labels} labels, pool {len(pool)}, test {len(test)}, {per_label}/label", file=sys.stderr)
    else:
        write_rows(folder / "test.jsonl", data, list(range(len(data.texts))))
        print(f"{name}: {labels} labels, {len(data.texts)} texts", file=sys.stderr)
    return entry


def write_scored_pairs(source: Path, out: Path) -> dict:
    """One scored-pair set (``train.jsonl``, a folder holding one, or a similarity test folder) as a panel set."""
    records = source / "train.jsonl" if (source / "train.jsonl").is_file() else source
    name = set_name(source)
    data = read_scored_pairs(records, name) if records.is_file() else load_similarity(source)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    rows = zip(data.texts1, data.texts2, data.targets, strict=True)
    (folder / "test.jsonl").write_text(
        "".join(json.dumps({"text1": a, "text2": b, "score": score}) + "\n" for a, b, score in rows)
    )
    print(f"{name}: {len(data.texts1)} scored pairs", file=sys.stderr)
    return manifest_entry(source, records, "similarity", "Spearman", "scored pairs outside the held-out panel")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the panel folder to write")
    parser.add_argument("--classification", nargs="*", type=Path, default=[], help="labelled training sets")
    parser.add_argument("--clustering", nargs="*", type=Path, default=[], help="labelled training sets")
    parser.add_argument(
        "--similarity", nargs="*", type=Path, default=[], help="scored-pair sets (train.jsonl, or a test folder)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sets = [write_set(s, "classification", args.out) for s in args.classification]
    sets += [write_set(s, "clustering", args.out) for s in args.clustering]
    sets += [write_scored_pairs(s, args.out) for s in args.similarity]
    # "validation": readings of this folder decide nothing (taskvec.eval.ship): it is for choices, not ship decisions
    (args.out / MANIFEST).write_text(json.dumps({"validation": True, "sets": sets}, indent=2) + "\n")
    print(f"wrote {len(sets)} sets to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
