"""A small synthetic panel (panel.json and one or two sets per task kind, in the harness's layouts) for the panel's
and the ship rule's tests; the real panel lives in data/panel (docs/panel.md)."""

from __future__ import annotations

import json
from pathlib import Path

from data_files import FRUIT, METAL, make_beir, texts_of, write_jsonl


def _spec(name: str, kind: str, layout: str, metric: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "kind": kind,
        "layout": layout,
        "domain": f"synthetic {kind}",
        "metric": metric,
        "licence": "written by the test",
        "committed": False,
        "origin": "tests/panel_files.py",
        "commit": "",
        **extra,
    }


def make_panel(root: Path) -> Path:
    """Retrieval and code: a BEIR folder each; similarity: scored pairs and 0/1 pairs; classification: two labels (fruit,
    metal) of train and test texts; clustering: the same two labels; the sentiment task's panel: those halves swapped."""
    fruit, metal = texts_of(FRUIT, 16), texts_of(METAL, 16)
    make_beir(root / "toy-retrieval")
    make_beir(root / "toy-code")
    write_jsonl(
        root / "toy-similarity" / "test.jsonl",
        [
            {"text1": f, "text2": f if i % 2 else m, "score": 5.0 if i % 2 else float(i % 3)}
            for i, (f, m) in enumerate(zip(fruit, metal, strict=True))
        ],
    )
    write_jsonl(
        root / "toy-pairs" / "test.jsonl",
        [
            {"text1": f, "text2": f if i % 2 else m, "label": i % 2}
            for i, (f, m) in enumerate(zip(fruit, metal, strict=True))
        ],
    )
    labelled = [{"text": t, "label": "fruit"} for t in fruit] + [{"text": t, "label": "metal"} for t in metal]
    write_jsonl(root / "toy-classification" / "train.jsonl", labelled[::2])
    write_jsonl(root / "toy-classification" / "test.jsonl", labelled[1::2])
    write_jsonl(root / "toy-clustering" / "test.jsonl", labelled)
    write_jsonl(root / "toy-sentiment" / "train.jsonl", labelled[1::2])  # the sentiment task's own panel
    write_jsonl(root / "toy-sentiment" / "test.jsonl", labelled[::2])
    sets = [
        _spec("toy-retrieval", "retrieval", "retrieval", "nDCG@10"),
        _spec("toy-code", "code", "retrieval", "nDCG@10"),
        _spec("toy-similarity", "similarity", "similarity", "Spearman"),
        _spec("toy-pairs", "similarity", "pairs", "cosine AP"),
        _spec("toy-classification", "classification", "classification", "accuracy (2/label)", samples_per_label=2),
        _spec("toy-clustering", "clustering", "clustering", "V-measure"),
        _spec("toy-sentiment", "sentiment", "classification", "accuracy (2/label)", samples_per_label=2),
    ]
    (root / "panel.json").write_text(json.dumps({"sets": sets}, indent=1) + "\n")
    return root
