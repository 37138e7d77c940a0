"""benchmarks/validation_panel.py: labelled training sets of other domains become a panel folder that
``taskvec eval panel`` reads with the held-out panel's protocols, and the held-out panel is not touched."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from data_files import ORIGINAL_FILES, write_jsonl
from helpers import load_benchmark, make_random_adapter

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
    assert json.loads((out / "panel.json").read_text())["validation"] is True
    assert [(s["name"], s["kind"], s.get("samples_per_label")) for s in sets] == [
        ("toy-classes", "classification", 8),
        ("toy-groups", "clustering", None),
    ]
    for task, name in (("classification", "toy-classes"), ("clustering", "toy-groups")):
        run = ["panel", "--task", task, "--adapter", "none", "--panel-root", str(out), "--model", str(tiny_model_dir)]
        assert cli.main([*run, "--rounds", "20", "--json"]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert list(result["sets"]) == [name] and result["sets"][name]["units"] > 0


def test_scored_pairs_become_a_similarity_set_read_against_another_adapter(
    tmp_path: Path, tiny_model_dir: Path, capsys
) -> None:
    """``--similarity``: a training file of scored pairs and a similarity test folder (the STS Benchmark's layout)
    become panel sets with every pair and score kept, which ``--against`` reads paired (a home set's comparison)."""
    pairs = [
        {"text1": f"a cat number {i}", "text2": f"a {'cat' if i % 2 else 'car'} {i}", "score": i % 3} for i in range(9)
    ]
    write_jsonl(tmp_path / "forum" / "train.jsonl", pairs)
    (tmp_path / "forum" / "SOURCE.md").write_text("# forum\n\nLicence: research use\n")
    sts = tmp_path / "stsbenchmark"
    sts.mkdir()
    (sts / "sts-test.csv").write_text(ORIGINAL_FILES["stsbenchmark/sts-test.csv"])
    out = tmp_path / "home"
    forum = tmp_path / "forum" / "train.jsonl"  # named by its folder, as data/train's sets are laid out
    assert validation_panel.main(["--out", str(out), "--similarity", str(forum), str(sts)]) == 0
    sets = {s["name"]: s for s in json.loads((out / "panel.json").read_text())["sets"]}
    assert {n: (s["kind"], s["layout"], s["metric"]) for n, s in sets.items()} == {
        "forum": ("similarity", "similarity", "Spearman"),
        "stsbenchmark": ("similarity", "similarity", "Spearman"),
    }
    assert sets["forum"]["licence"] == "research use"
    written = [json.loads(line) for line in (out / "forum" / "test.jsonl").read_text().splitlines()]
    assert [(r["text1"], r["text2"], r["score"]) for r in written] == [
        (p["text1"], p["text2"], p["score"]) for p in pairs
    ]
    sts_rows = [json.loads(line) for line in (out / "stsbenchmark" / "test.jsonl").read_text().splitlines()]
    assert [(r["text2"], r["score"]) for r in sts_rows] == [
        ("A man plays.", 5.0),
        ("Cats sleep.", 1.25),
        ("A pear ripens.", 0.0),
    ]

    one = make_random_adapter(tiny_model_dir, tmp_path / "one", seed=1)
    two = make_random_adapter(tiny_model_dir, tmp_path / "two", seed=2)
    run = ["panel", "--task", "similarity", "--adapter", str(one), "--against", str(two), "--panel-root", str(out)]
    assert cli.main([*run, "--model", str(tiny_model_dir), "--rounds", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["sets"]["forum"]["units"] == len(pairs) and result["sets"]["stsbenchmark"]["units"] == 3
    for row in result["sets"].values():
        assert row["adapter_vs_against"]["change"] == pytest.approx(row["adapter"] - row["against"], abs=2e-5)
    # A validation folder's reading decides nothing, whatever its verdicts: no card or registry may count it as a pass.
    assert result["validation"] and result["decision"]["provisional"]
    assert "a validation folder" in result["decision"]["why"]
