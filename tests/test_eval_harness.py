"""The quality harness end to end on tiny generated data: every layout, every runner, the CLI and the suite.

The tiny random BERT knows nothing, but it is deterministic: identical texts get identical vectors, and texts
built from disjoint vocabularies land apart. The data below is built so that those two facts fix the answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from data_files import FRUIT, METAL, texts_of, write_jsonl, write_original_layouts

from taskvec import metrics
from taskvec.errors import InvalidInputError
from taskvec.eval import cli, datasets, runners
from taskvec.eval.suite import SUITE, published_figure, render_report, run_suite
from taskvec.eval.variants import ABLATION, Variant

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # as in conftest.py: ../shared/data
NONE = Variant("none", "none")


# ---------------------------------------------------------------------------------------- data layouts
def make_generic_pairs(folder: Path, target: str) -> None:
    """Half the pairs repeat a text (gold 5 / label 1), half join a fruit text to a metal text (gold 0 / label 0)."""
    fruit, metal = texts_of(FRUIT, 10), texts_of(METAL, 10)
    rows = [{"text1": f, "text2": f, target: 5.0 if target == "score" else 1} for f in fruit[:5]]
    rows += [
        {"text1": f, "text2": m, target: float(i % 2) if target == "score" else 0}
        for i, (f, m) in enumerate(zip(fruit[5:], metal[5:], strict=True))
    ]
    write_jsonl(folder / "test.jsonl", rows)


def make_generic_labelled(folder: Path, splits: tuple[str, ...], per_label: int = 12) -> None:
    for split in splits:
        rows = [{"text": t, "label": "fruit"} for t in texts_of(FRUIT, per_label)]
        rows += [{"text": t, "label": "metal"} for t in texts_of(METAL, per_label)]
        write_jsonl(folder / f"{split}.jsonl", rows)


def make_repeated_topics(folder: Path) -> None:
    """Three labels, each one text repeated: three distinct points, so k-means with k=3 must find the labels."""
    topics = {"fruit": "apple banana cherry", "metal": "iron copper zinc", "weather": "rain snow wind"}
    write_jsonl(
        folder / "test.jsonl", [{"text": text, "label": label} for _ in range(6) for label, text in topics.items()]
    )


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with every set of the suite in its original layout, plus generic folders of each kind."""
    root = write_original_layouts(tmp_path_factory.mktemp("data"))
    make_generic_pairs(root / "generic_similarity", "score")
    make_generic_pairs(root / "generic_pairs", "label")
    make_generic_labelled(root / "generic_classification", ("train", "test"))
    make_generic_labelled(root / "generic_clustering", ("test",))
    make_repeated_topics(root / "repeated_topics")
    return root


# ------------------------------------------------------------------------------------------------- loaders
# The readers themselves are tested in test_data.py; these check which layout each folder is read as.
@pytest.mark.parametrize(
    ("kind", "folder", "layout"),
    [
        ("retrieval", "scifact", "beir"),
        ("similarity", "stsbenchmark", "stsbenchmark"),
        ("similarity", "generic_similarity", "generic"),
        ("classification", "amazon_counterfactual", "amazon_counterfactual"),
        ("classification", "emotion", "emotion"),
        ("classification", "generic_classification", "generic"),
        ("clustering", "twenty_newsgroups", "20newsgroups_subjects"),
        ("clustering", "generic_clustering", "generic"),
        ("pairs", "twitter_url_corpus", "twitter_url_corpus"),
        ("pairs", "generic_pairs", "generic"),
    ],
)
def test_loaders_recognise_each_layout(data_root: Path, kind: str, folder: str, layout: str) -> None:
    data = datasets.LOADERS[kind](data_root / folder)
    assert (data.name, data.layout) == (folder, layout)


def test_loaders_add_the_protocol_of_each_layout(data_root: Path, tmp_path: Path) -> None:
    assert datasets.load_classification(data_root / "amazon_counterfactual").samples_per_label == 32
    assert datasets.load_classification(data_root / "emotion").samples_per_label == 16
    assert datasets.load_classification(data_root / "generic_classification").samples_per_label is None
    assert datasets.load_pairs(data_root / "twitter_url_corpus").targets == [1.0, 0.0, 1.0]  # votes (5, 2, 4) of 6
    write_jsonl(tmp_path / "test.jsonl", [{"sentences": ["a", "b"], "labels": ["x", "y"]}])
    assert datasets.load_clustering(tmp_path).layout == "mteb_sets"
    (tmp_path / "test.jsonl").unlink()
    (tmp_path / "test.tsv").write_text("text\tlabel\nan apple\tfruit\n")
    assert datasets.load_clustering(tmp_path).test.labels == ["fruit"]


@pytest.mark.parametrize(
    ("kind", "write", "needle"),
    [
        ("retrieval", lambda d: None, "qrels/test.tsv"),
        (
            "similarity",
            lambda d: write_jsonl(d / "test.jsonl", [{"text1": "a", "text2": "b"}]),
            "'score' (or 'similarity_score')",
        ),
        ("classification", lambda d: write_jsonl(d / "train.jsonl", [{"text": "a", "label": 1}]), "test"),
        ("clustering", lambda d: write_jsonl(d / "test.jsonl", [{"text": "", "label": 1}]), "'text'"),
        ("pairs", lambda d: write_jsonl(d / "test.jsonl", [{"text1": "a", "text2": "b", "label": 2}]), "0 or 1"),
        ("similarity", lambda d: (d / "notes.txt").write_text("x"), "Provide one of: test.jsonl"),
    ],
)
def test_bad_input_names_the_file_field_and_fix(tmp_path: Path, kind: str, write, needle: str) -> None:
    write(tmp_path)
    with pytest.raises(InvalidInputError) as info:
        datasets.LOADERS[kind](tmp_path)
    assert needle in str(info.value)
    assert info.value.fix


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        datasets.load_similarity(tmp_path / "nowhere")


# ------------------------------------------------------------------------------------------------- runners
def test_retrieval_finds_each_query_twin(tiny_encoder, data_root: Path) -> None:
    data = datasets.load_retrieval(data_root / "scifact")
    result = runners.run_variant("retrieval", tiny_encoder, NONE, data)
    assert result.metric == "ndcg_at_10"
    assert result.value == pytest.approx(1.0)
    assert result.details["recall_at_100"] == pytest.approx(1.0)
    assert result.details["mrr_at_10"] == pytest.approx(1.0)
    assert result.details["documents"] == 13
    assert result.space_id == tiny_encoder.space(NONE.apply(tiny_encoder.tasks["retrieval"])).id


def test_similarity_is_spearman_of_the_pair_cosines(tiny_encoder, data_root: Path) -> None:
    data = datasets.load_similarity(data_root / "generic_similarity")
    result = runners.run_variant("similarity", tiny_encoder, NONE, data)
    task = NONE.apply(tiny_encoder.tasks["similarity"])
    a = tiny_encoder.encode(data.texts1, task=task).vectors
    b = tiny_encoder.encode(data.texts2, task=task).vectors
    expected = metrics.spearman(data.targets, metrics.paired_cosine(a, b))
    assert result.value == pytest.approx(expected, abs=1e-6)
    assert result.value > 0.5  # the repeated-text pairs (gold 5) have cosine 1


def test_pairs_ranks_repeated_texts_first(tiny_encoder, data_root: Path) -> None:
    result = runners.run_variant("pairs", tiny_encoder, NONE, datasets.load_pairs(data_root / "generic_pairs"))
    assert result.metric == "cosine_ap"
    assert result.value == pytest.approx(1.0)
    assert result.details["max_ap"] >= result.value
    assert result.details["positives"] == 5


def test_classification_protocol(tiny_encoder, data_root: Path) -> None:
    data = datasets.load_classification(data_root / "generic_classification")
    result = runners.run_variant("classification", tiny_encoder, NONE, data, samples_per_label=4, seed_sets=3)
    details = result.details
    assert details["samples_per_label"] == 4
    assert len(details["seed_set_means"]) == 3 and len(details["first_seed_set_experiments"]) == 10
    assert result.value == pytest.approx(np.mean(details["seed_set_means"]))
    assert details["accuracy_min"] <= result.value <= details["accuracy_max"]
    assert details["train_texts_encoded"] <= len(data.train.texts)
    assert result.value > 0.9  # two disjoint vocabularies are easy to tell apart
    default = runners.run_variant("classification", tiny_encoder, NONE, data, experiments=2)
    assert default.details["samples_per_label"] == runners.MTEB_DEFAULT_SAMPLES_PER_LABEL


def test_clustering_recovers_the_labels_of_distinct_points(tiny_encoder, data_root: Path) -> None:
    data = datasets.load_clustering(data_root / "repeated_topics")
    result = runners.run_variant("clustering", tiny_encoder, NONE, data, runs=3)
    assert result.details["clusters"] == 3
    assert result.details["v_measures"] == pytest.approx([1.0, 1.0, 1.0])
    generic = runners.run_variant(
        "clustering", tiny_encoder, NONE, datasets.load_clustering(data_root / "generic_clustering"), runs=4
    )
    assert generic.value == pytest.approx(np.mean(generic.details["v_measures"]))
    assert len(generic.details["v_measures"]) == 4


def test_mteb_clustering_sets_are_clustered_one_by_one(tiny_encoder, tmp_path: Path) -> None:
    # Set 1 separates perfectly (V = 1); set 2 is one text under two labels (V = 0). Pooled, k-means would see
    # 'apple', 'iron' and the repeated text as three clusters for two labels, and score neither 1 nor 0.5.
    first = {"sentences": ["apple"] * 3 + ["iron"] * 3, "labels": ["x"] * 3 + ["y"] * 3}
    second = {"sentences": ["the same words"] * 4, "labels": ["x", "y", "x", "y"]}
    write_jsonl(tmp_path / "test.jsonl", [first, second])
    data = datasets.load_clustering(tmp_path)
    assert data.layout == "mteb_sets" and data.sets() == [(0, 6), (6, 10)]
    result = runners.run_variant("clustering", tiny_encoder, NONE, data, runs=2)
    assert result.details["sets"] == 2
    assert result.details["v_measures"] == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize(
    ("kind", "folder"),
    [
        ("similarity", "stsbenchmark"),
        ("classification", "emotion"),
        ("clustering", "twenty_newsgroups"),
        ("pairs", "twitter_url_corpus"),
    ],
)
def test_original_layouts_run(tiny_encoder, data_root: Path, kind: str, folder: str) -> None:
    data = datasets.LOADERS[kind](data_root / folder)
    options = {"experiments": 2, "samples_per_label": 1} if kind == "classification" else {}
    result = runners.run_variant(kind, tiny_encoder, NONE, data, **options)
    assert result.dataset == folder
    assert -1.0 <= result.value <= 1.0


# ------------------------------------------------------------------------------------------------- variants
def test_variants_switch_prompt_and_adapter_independently(tiny_encoder, tmp_path: Path) -> None:
    base = tiny_encoder.tasks["retrieval"].with_prompts("q: ", "d: ")
    base = type(base)(**{**base.__dict__, "adapter": tmp_path})
    assert Variant("none", "task").apply(base).query_prompt == ""
    assert Variant("none", "task").apply(base).adapter == tmp_path
    generic = Variant("generic", "none").apply(base)
    assert generic.query_prompt == generic.document_prompt == "Represent this text: "
    assert generic.adapter is None
    assert Variant("task", "none").apply(base).document_prompt == "d: "
    spaces = {tiny_encoder.space(Variant(p, "none").apply(base)).id for p in ("none", "generic", "task")}
    assert len(spaces) == 3
    with pytest.raises(InvalidInputError, match="prompt"):
        Variant("fancy", "none")


# ------------------------------------------------------------------------------------------------------ CLI
def _cli(tiny_model_dir: Path, *args: str) -> list[str]:
    return [*args, "--model", str(tiny_model_dir), "--device", "cpu"]


def test_cli_json_is_the_last_line(tiny_model_dir: Path, data_root: Path, capsys: pytest.CaptureFixture) -> None:
    records = {}
    for prompt in ("none", "generic"):
        argv = _cli(
            tiny_model_dir,
            "retrieval",
            "--data",
            str(data_root / "scifact"),
            "--prompt",
            prompt,
            "--adapter",
            "none",
            "--json",
        )
        assert cli.main(argv) == 0
        records[prompt] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    record = records["none"]
    assert record["dataset"] == "scifact" and record["task"] == "retrieval" and record["kind"] == "retrieval"
    assert record["variant"] == "prompt=none,adapter=none"
    assert record["metric"] == "ndcg_at_10" and record["value"] == pytest.approx(1.0)
    assert record["model"] and record["model_fingerprint"] and record["seconds"] >= 0
    assert records["generic"]["space_id"] != record["space_id"]
    assert records["generic"]["query_prompt"] == "Represent this text: "


def test_cli_as_a_module_prints_json_last(tiny_model_dir: Path, data_root: Path) -> None:
    argv = _cli(tiny_model_dir, "pairs", "--data", str(data_root / "generic_pairs"), "--json")
    proc = subprocess.run([sys.executable, "-m", "taskvec.eval.cli", *argv], capture_output=True, text=True, check=True)
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["metric"] == "cosine_ap" and record["variant"] == "prompt=task,adapter=task"


def test_cli_reports_bad_data_with_exit_code_2(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(_cli(tiny_model_dir, "similarity", "--data", str(tmp_path))) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "Fix:" in err


def test_register_adds_eval_to_a_main_parser(tiny_model_dir: Path, data_root: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="taskvec")
    parser.add_argument("--model")  # a main CLI may parse the encoder flags before the sub-command
    sub = parser.add_subparsers(dest="command")
    cli.register(sub)
    args = parser.parse_args(["--model", str(tiny_model_dir), "eval", "clustering", "--data", "x", "--runs", "2"])
    assert args.model == str(tiny_model_dir)  # not overwritten by the sub-command's own --model
    assert args.runs == 2 and args.func is not None


# ---------------------------------------------------------------------------------------------------- suite
def _tiny_adapter(model_dir: Path, folder: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    model = get_peft_model(
        AutoModel.from_pretrained(str(model_dir)), LoraConfig(r=2, target_modules=["query", "value"])
    )
    model.save_pretrained(str(folder))
    return folder


def test_suite_writes_the_table_from_results_and_reference_files(
    tiny_model_dir: Path, data_root: Path, tmp_path: Path
) -> None:
    from taskvec.engine import Encoder

    adapter = _tiny_adapter(tiny_model_dir, tmp_path / "sim-adapter")
    tasks_file = tmp_path / "tasks.toml"
    tasks_file.write_text(f'[tasks.similarity]\nadapter = "{adapter}"\n')
    encoder = Encoder(tiny_model_dir, device="cpu", tasks_file=tasks_file)
    references = data_root / "reference_scores"
    references.mkdir(exist_ok=True)
    name = encoder.model_name.rsplit("/", 1)[-1]
    (references / f"{name}__STSBenchmark.json").write_text(
        json.dumps({"mteb_version": "9.9", "scores": {"test": [{"hf_subset": "default", "cosine_spearman": 0.12345}]}})
    )
    out = tmp_path / "docs" / "results" / "quality.md"
    report = run_suite(encoder, data_root, out=out, json_out=out.with_suffix(".json"), seed_sets=2)
    text = out.read_text()
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["results"] == report["results"]

    table = text.split("## Notes")[0]  # the ablation table (the time table below repeats the row names)
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert "0.1235" in rows[f"published MTEB, {name}, no prompt"]  # read from the file, not typed
    # every variant ran on every set; the adapter row only where the task has one (similarity: STS and pairs)
    cells = {(r["folder"], r["row"]): r for r in report["results"]}
    assert len(cells) == len(SUITE) * 4 + 3  # 3 prompt rows and the default everywhere, the adapter row twice, hybrid
    assert ("twitter_url_corpus", "task adapter") in cells
    assert cells[("stsbenchmark", "task adapter")]["adapter"] == str(adapter)
    assert cells[("stsbenchmark", "task adapter")]["space_id"] != cells[("stsbenchmark", "task prompt")]["space_id"]
    assert rows["task adapter"].count("no adapter") == len(SUITE) - 2
    # the default row is what each task runs, read from the row that encodes the same way, not measured again
    assert cells[("stsbenchmark", "default")]["same_as"] == "task adapter"
    assert cells[("stsbenchmark", "default")]["value"] == cells[("stsbenchmark", "task adapter")]["value"]
    assert (
        cells[("scifact", "default")]["space_id"]
        == cells[("scifact", cells[("scifact", "default")]["same_as"])]["space_id"]
    )
    assert f"({cells[('scifact', 'default')]['same_as']})" in rows["default"]
    for row, _ in ABLATION[:3]:
        value = cells[("scifact", row)]["value"]
        assert f"{value:.4f}" in rows[row]
    assert " ± " in rows["no prompt"]  # classification spreads over the 2 seed sets
    newsgroups = cells[("twenty_newsgroups", "no prompt")]["details"]  # clustering over its k-means runs
    assert f"{newsgroups['v_measure']:.4f} ± {newsgroups['v_measure_std']:.4f}" in rows["no prompt"]
    # the sentiment and emotion sets are read with the task a user would pick for them, topics with classification
    assert {cells[(f, "default")]["task"] for f in ("amazon_counterfactual", "emotion")} == {"sentiment"}
    assert "(`emotion/`, classification, read with task=sentiment)" in text
    assert "Not MTEB's set" in text and "3 subject lines" in text  # the count comes from the data
    assert published_figure(references, encoder.model_name, SUITE[0]) is None
    render_report(out.with_suffix(".json"), tmp_path / "again.md")  # the report is a function of the JSON alone
    assert (tmp_path / "again.md").read_text() == text

    # a partial rerun replaces one column and keeps the others as they were
    kept = [r for r in report["results"] if r["folder"] != "stsbenchmark"]
    again = run_suite(
        encoder, data_root, out=out, json_out=out.with_suffix(".json"), seed_sets=2, only=["stsbenchmark"]
    )
    assert [r for r in again["results"] if r["folder"] != "stsbenchmark"] == kept
    assert {r["folder"] for r in again["results"]} == {r["folder"] for r in report["results"]}
    with pytest.raises(InvalidInputError, match="seed_sets"):
        run_suite(encoder, data_root, out=out, json_out=out.with_suffix(".json"), seed_sets=3, only=["emotion"])
    with pytest.raises(InvalidInputError, match="Unknown data sets"):
        run_suite(encoder, data_root, out=out, json_out=out.with_suffix(".json"), seed_sets=2, only=["nope"])


def test_suite_adds_hybrid_and_reranked_rows_to_retrieval_columns(
    tiny_model_dir: Path, data_root: Path, tmp_path: Path
) -> None:
    from test_rerank import save_rerank_adapter

    from taskvec.engine import Encoder
    from taskvec.eval.suite import HYBRID_ROW, RERANK_ROW
    from taskvec.options import KEYWORD_WEIGHT

    out = tmp_path / "quality.md"
    plain = run_suite(Encoder(tiny_model_dir, device="cpu"), data_root, out=out, json_out=out.with_suffix(".json"),
                      seed_sets=2, sets=SUITE[:2])  # fmt: skip
    assert RERANK_ROW not in out.read_text() and all(r["row"] != RERANK_ROW for r in plain["results"])
    cells = {(r["folder"], r["row"]): r for r in plain["results"]}
    hybrid = cells[("scifact", HYBRID_ROW)]  # every retrieval column has the hybrid search's row, a reranker or not
    assert ("stsbenchmark", HYBRID_ROW) not in cells
    assert hybrid["details"]["mode"] == "hybrid" and hybrid["details"]["keyword_weight"] == KEYWORD_WEIGHT
    assert hybrid["details"]["hybrid"]["vector"] == pytest.approx(cells[("scifact", "default")]["value"])
    row = next(line for line in out.read_text().splitlines() if line.startswith(f"| {HYBRID_ROW} |"))
    assert f"{hybrid['value']:.4f}" in row and row.count("–") == 1
    for name, scale in (("zero", 0.0), ("moved", 1.0)):
        save_rerank_adapter(tiny_model_dir, tmp_path / name, seed=3, head_scale=scale)
        (tmp_path / f"{name}.toml").write_text(f'[tasks.rerank]\nkind = "rerank"\nadapter = "{tmp_path / name}"\n')
        encoder = Encoder(tiny_model_dir, device="cpu", tasks_file=tmp_path / f"{name}.toml")
        report = run_suite(encoder, data_root, out=out, json_out=out.with_suffix(".json"), seed_sets=2, sets=SUITE[:2])
        cells = {(r["folder"], r["row"]): r for r in report["results"]}
        two = cells[("scifact", RERANK_ROW)]
        assert ("stsbenchmark", RERANK_ROW) not in cells  # retrieval columns only
        assert two["details"]["rerank"]["first_stage"] == pytest.approx(cells[("scifact", "default")]["value"])
        if scale == 0:  # an untrained head reranks nothing: the row equals the default's figure
            assert two["value"] == pytest.approx(cells[("scifact", "default")]["value"])
        row = next(line for line in out.read_text().splitlines() if line.startswith(f"| {RERANK_ROW} |"))
        assert f"{two['value']:.4f}" in row and row.count("–") == 1


# ----------------------------------------------------------------------------------------------- real model
@pytest.mark.real_model
def test_sts_benchmark_reproduces_the_published_mteb_figure(real_encoder) -> None:
    folder = SHARED_DATA / "stsbenchmark"
    if not folder.is_dir():
        # CI always has ../shared beside the clone, so there a missing set is a failure, never a silent skip.
        if os.environ.get("CI"):
            pytest.fail(f"{folder} is absent: CI must run with ../shared/data beside the clone")
        pytest.skip(f"{folder} is absent (the data sets are read from ../shared/data beside the clone)")
    entry = next(s for s in SUITE if s.folder == "stsbenchmark")
    published = published_figure(SHARED_DATA / "reference_scores", real_encoder.model_name, entry)
    assert published is not None, "the reference scores of all-MiniLM-L6-v2 should ship with the data"
    result = runners.run_variant("similarity", real_encoder, NONE, datasets.load_similarity(folder))
    assert result.details["pairs"] == 1379
    assert result.value == pytest.approx(published["value"], abs=0.005)


def test_measurements_run_in_fp32_unless_a_dtype_is_named(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`taskvec eval` (one set or the suite) makes figures of record: fp32 even on a CPU where the server's `auto`
    runs bf16; --dtype or TASKVEC_DTYPE still choose. The checks and the panel also stay on the CPU."""
    import argparse

    from taskvec.engine import loading
    from taskvec.eval.cli import build_encoder, record_encoder

    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: True)  # here `auto` would mean bf16
    for var in ("TASKVEC_DTYPE", "TASKVEC_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    args = argparse.Namespace(model=str(tiny_model_dir))
    assert build_encoder(args).describe()["dtype"] == "float32"
    assert record_encoder(argparse.Namespace(model=str(tiny_model_dir))).device.type == "cpu"
    assert build_encoder(argparse.Namespace(model=str(tiny_model_dir), dtype="bf16")).describe()["dtype"] == "bfloat16"
    monkeypatch.setenv("TASKVEC_DTYPE", "auto")
    assert build_encoder(args).describe()["dtype"] == "bfloat16"
