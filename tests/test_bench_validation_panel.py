"""benchmarks/validation_panel.py: labelled training sets of other domains become a panel folder that
``taskvec eval panel`` reads with the held-out panel's protocols, and the held-out panel is not touched."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from data_files import write_jsonl
from helpers import load_benchmark

from taskvec.eval import cli

validation_panel = load_benchmark("validation_panel")


def _labelled(folder: Path, labels: dict[str, int]) -> Path:
    folder.mkdir(parents=True)
    rows = [{"text": f"{label} text number {i}", "label": label} for label, n in labels.items() for i in range(n)]
    write_jsonl(folder / "train.jsonl", rows)
    (folder / "SOURCE.md").write_text("# toy\n\nLicence: CC0\n")
    return folder


def test_a_labelled_set_splits_by_label_into_pool_and_test(tmp_path: Path) -> None:
    source = _labelled(tmp_path / "toy", {"a": 10, "b": 5, "c": 2, "d": 1})
    entry = validation_panel.write_set(source, "classification", tmp_path / "out")
    pool = [json.loads(line) for line in (tmp_path / "out" / "toy" / "train.jsonl").read_text().splitlines()]
    test = [json.loads(line) for line in (tmp_path / "out" / "toy" / "test.jsonl").read_text().splitlines()]
    assert Counter(r["label"] for r in test) == {"a": 5, "b": 2, "c": 1}  # half of each, rounded; one of two
    assert Counter(r["label"] for r in pool) == {"a": 5, "b": 3, "c": 1, "d": 1}  # a label of one stays in the pool
    assert not {r["text"] for r in pool} & {r["text"] for r in test}
    assert entry["samples_per_label"] == 16 and entry["licence"] == "CC0" and not entry["committed"]
    again = validation_panel.split_by_label(validation_panel.read_labelled(source / "train.jsonl"))
    assert again == validation_panel.split_by_label(validation_panel.read_labelled(source / "train.jsonl"))


def test_the_panel_command_reads_the_written_folder(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    labels = {f"label{i}": 12 for i in range(5)}
    out = tmp_path / "validation-panel"
    argv = ["--out", str(out), "--classification", str(_labelled(tmp_path / "toy-classes", labels))]
    argv += ["--clustering", str(_labelled(tmp_path / "toy-groups", labels))]
    assert validation_panel.main(argv) == 0
    sets = json.loads((out / "panel.json").read_text())["sets"]
    assert [(s["name"], s["kind"], s.get("samples_per_label")) for s in sets] == [
        ("toy-classes", "classification", 8),
        ("toy-groups", "clustering", None),
    ]
    for task, name in (("classification", "toy-classes"), ("clustering", "toy-groups")):
        run = ["panel", "--task", task, "--adapter", "none", "--panel-root", str(out), "--model", str(tiny_model_dir)]
        assert cli.main([*run, "--rounds", "20", "--json"]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert list(result["sets"]) == [name] and result["sets"][name]["units"] > 0
