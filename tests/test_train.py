"""Adapter training: losses on hand-made cases, data carving, a short run on the tiny BERT, and the round trip
from `taskvec train` output to the encoder."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from taskvec.errors import DataError, InvalidInputError
from taskvec.train import losses, validation
from taskvec.train.config import SAVED_INFO, TrainConfig
from taskvec.train.data import (
    LabelledSet,
    PairSet,
    ScoredSet,
    carve_validation,
    for_kind,
    read_source,
    take_fold,
    thread_key,
)
from taskvec.train.trainer import Trainer, train

# ------------------------------------------------------------------------------------------------ losses


def _unit(rows: list[list[float]]) -> torch.Tensor:
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def test_in_batch_contrastive_prefers_aligned_pairs():
    q = _unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    target = torch.arange(3)
    aligned = losses.in_batch_contrastive(q, q.clone(), target)
    swapped = losses.in_batch_contrastive(q, q[[1, 2, 0]], target)
    assert aligned.item() < 1e-6
    assert swapped.item() > 10


def test_in_batch_contrastive_masks_other_positives():
    # Query 0 is relevant to documents 0 and 1; document 1 must not count as its negative.
    q = _unit([[1, 0], [0, 1]])
    d = _unit([[1, 0.1], [1, 0]])
    target = torch.tensor([0, 1])
    unmasked = losses.in_batch_contrastive(q[:1], d, target[:1])
    same = torch.tensor([[True, True]])
    masked = losses.in_batch_contrastive(q[:1], d, target[:1], same_as_positive=same)
    assert masked.item() < 1e-6 < unmasked.item()


@pytest.mark.parametrize("fn", [losses.cosent, losses.angle])
def test_pair_losses_rank_by_score(fn):
    a = _unit([[1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]])
    b = _unit([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0]])  # cos 1, 0.71, 0 (and no sine term)
    in_order = fn(a, b, torch.tensor([5.0, 3.0, 0.0]))
    reversed_ = fn(a, b, torch.tensor([0.0, 3.0, 5.0]))
    assert in_order.item() < reversed_.item()
    assert fn(a, b, torch.tensor([1.0, 1.0, 1.0])).item() == pytest.approx(0.0)  # no pair to rank: log(1) = 0


def test_cosent_matches_closed_form():
    a = _unit([[1, 0], [1, 0]])
    b = _unit([[1, 0], [0, 1]])  # cos 1 and 0
    loss = losses.cosent(a, b, torch.tensor([0.0, 1.0]), scale=2.0)  # pair 2 should be higher but is lower
    assert loss.item() == pytest.approx(math.log(1 + math.exp(2.0 * (1 - 0))), rel=1e-5)


def test_supervised_contrastive_prefers_label_clusters():
    labels = torch.tensor([0, 0, 1, 1])
    clustered = _unit([[1, 0.1], [1, -0.1], [-0.1, 1], [0.1, 1]])
    mixed = _unit([[1, 0.1], [-0.1, 1], [1, -0.1], [0.1, 1]])
    assert losses.supervised_contrastive(clustered, labels).item() < losses.supervised_contrastive(mixed, labels).item()
    alone = losses.supervised_contrastive(clustered, torch.tensor([0, 1, 2, 3]))
    assert alone.item() == 0.0 and alone.requires_grad is False  # no positives: a zero that keeps the graph


def test_similarity_anchor_ignores_rotation():
    x = _unit([[1, 0], [0.6, 0.8], [0, 1]])
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    assert losses.similarity_anchor(x @ rot, x).item() == pytest.approx(0.0, abs=1e-7)
    assert losses.similarity_anchor(x[[0, 0, 2]], x).item() > 0.01


# ------------------------------------------------------------------------------------------------ metrics


def test_validation_stand_ins_find_clean_structure():
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(0, 0.05, (20, 3)) + c for c in np.eye(3) * 3])
    names = [str(i // 20) for i in range(60)]
    assert validation.clustering_v_measure(blobs, names) == pytest.approx(1.0)
    assert validation.few_shot_accuracy(blobs, names, shots=4) == pytest.approx(1.0)
    shuffled = list(rng.permutation(names))
    assert validation.few_shot_accuracy(blobs, shuffled, shots=4) < 0.6


def test_validation_spearman_is_never_nan():
    assert validation.spearman([1.0, 2.0, 3.0], [0.5, 0.5, 0.5]) == 0.0  # constant predictions: scipy says NaN
    assert validation.spearman([1.0, 2.0, 3.0], [0.1, 0.3, 0.2]) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------ data


def _labelled(n: int = 200) -> LabelledSet:
    return LabelledSet("toy", [f"text number {i}" for i in range(n)], [str(i % 3) for i in range(n)])


def test_carve_validation_holds_out_whole_items_and_names_the_split():
    data = _labelled()
    train_a, val_a = carve_validation(data, 0.2, 1000, seed=1)
    assert len(val_a) == 40 and len(train_a) == 160 and val_a.name == "toy[val]" and train_a.name == "toy"
    assert not set(train_a.texts) & set(val_a.texts)
    assert [t for t in data.texts if t in set(val_a.texts)] == val_a.texts  # file order kept


def test_groups_never_straddle_the_split():
    subjects = ["Re: Space shuttle", "space shuttle", "RE: re: Space  Shuttle", "Graphics cards", "Re: graphics cards"]
    data = LabelledSet("ng", subjects * 20, ["sci"] * 100, [thread_key(s) for s in subjects * 20])
    train, val = carve_validation(data, 0.5, 1000, seed=0)
    assert not {thread_key(t) for t in train.texts} & {thread_key(t) for t in val.texts}
    f0, f1 = take_fold(data, 0, 2), take_fold(data, 1, 2)
    assert len(f0) + len(f1) == len(data)
    assert not set(f0.groups_ or []) & set(f1.groups_ or [])


def test_pairs_carve_by_query_and_scored_convert():
    data = PairSet("p", {f"q{i}": f"query {i}" for i in range(20)}, {f"q{i}": [f"d{i}", "d0"] for i in range(20)}, {})
    train, val = carve_validation(data, 0.25, 1000, seed=0)
    assert len(val.relevant) == 5 and not set(train.relevant) & set(val.relevant)
    scored = ScoredSet("s", [("a", "b", 5.0), ("c", "d", 1.0)])
    assert for_kind(scored, "retrieval").relevant == {"q0": ["d0"]}
    with pytest.raises(DataError):
        for_kind(scored, "classification")


def test_read_source_gives_each_format_its_shape(tmp_path: Path):
    sts = tmp_path / "sts-train.csv"
    sts.write_text('main\tf\t2012\t1\t4.5\tA "quoted" man. \tA man.\textra\nmain\tf\t2012\t2\t0.5\tA cat.\tA car.\n')
    scored = read_source(sts)
    assert isinstance(scored, ScoredSet) and scored.name == f"{tmp_path.name}/sts-train.csv"
    assert scored.pairs == [('A "quoted" man.', "A man.", 4.5), ("A cat.", "A car.", 0.5)]  # stripped
    tsv = tmp_path / "EN_train.tsv"
    tsv.write_text('Sentence\tis_counterfactual\nIf only it worked. \t1\n"It ""works""."\t0\n')
    labelled = read_source(tsv)
    assert isinstance(labelled, LabelledSet) and labelled.labels == ["1", "0"]
    assert labelled.texts == ["If only it worked.", '"It ""works""."']  # quotes as text, as the adapters trained
    txt = tmp_path / "train.txt"
    txt.write_text("\ni feel; so happy;joy\ni am sad;sadness\n")
    assert read_source(txt).texts == ["i feel; so happy", "i am sad"]
    jl = tmp_path / "pairs.jsonl"
    jl.write_text(json.dumps({"query": "q", "positive": "p", "negatives": ["n"]}) + "\n")
    pairs = read_source(jl)
    assert pairs.corpus[pairs.relevant["q0"][0]] == "p" and pairs.corpus[pairs.negatives["q0"][0]] == "n"
    jl.write_text(json.dumps({"sentence1": "a", "sentence2": "b", "score": 3}) + "\n")
    assert read_source(jl).pairs == [("a", "b", 3.0)]
    jl.write_text(json.dumps({"text": "a", "label": 3}) + "\n")
    assert read_source(jl).labels == ["3"]
    jl.write_text(json.dumps({"body": "a"}) + "\n")
    with pytest.raises(DataError, match="first record has body"):
        read_source(jl)


def test_read_source_takes_the_train_split_of_a_beir_folder(tmp_path: Path):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    docs = [{"_id": "d1", "title": "T", "text": "body"}, {"_id": "d2", "title": None, "text": "other"}]
    (beir / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "1", "text": "question", "metadata": {"x": 1}}) + "\n")
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t0\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n")
    data = read_source(beir)
    assert data.queries == {"1": "question"} and data.relevant == {"1": ["d1"]}  # grade 0 is not relevant
    assert data.corpus == {"d1": "T body", "d2": "other"}


def test_read_source_reads_the_train_jsonl_a_folder_holds(tmp_path: Path):
    """data/train's scored-pair and labelled sets are folders holding train.jsonl: the folder reads as the file, and
    a folder with neither layout is refused naming both (not as a broken BEIR folder)."""
    folder = tmp_path / "forum-similarity"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"text1": "a", "text2": "b", "score": 2}) + "\n")
    (folder / "SOURCE.md").write_text("# forum\n\nLicence: research use\n")
    data = read_source(folder)
    assert isinstance(data, ScoredSet) and data.pairs == [("a", "b", 2.0)]
    assert data.name == read_source(folder / "train.jsonl").name and data.licence == "research use"
    (folder / "train.jsonl").unlink()
    with pytest.raises(DataError, match=r"neither a BEIR folder .* nor a train\.jsonl") as refused:
        read_source(folder)
    assert "folder holding train.jsonl" in refused.value.fix
    (folder / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "body"}) + "\n")
    with pytest.raises(DataError, match=r"qrels/train\.tsv missing"):  # a BEIR folder missing a file says which
        read_source(folder)


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--batch-size", "0", "--batch-size must be at least 2"),
        ("--batch-size", "-4", "--batch-size must be at least 2"),
        ("--lr", "-1", "--lr must be a positive number"),
        ("--lr", "0", "--lr must be a positive number"),
        ("--max-steps", "0", "--max-steps must be at least 1"),
        ("--max-steps", "-1", "--max-steps must be at least 1"),
        ("--epochs", "-1", "--epochs must be a positive number"),
        ("--val-fraction", "-0.5", "--val-fraction must be in [0, 1)"),
    ],
)
def test_numbers_no_run_can_use_are_one_line_before_anything_loads(tmp_path: Path, capsys, flag, value, says):
    from taskvec.train.cli import main as train_main

    argv = ["train", "--task", "classification", "--data", str(tmp_path / "any.jsonl"), "--out", str(tmp_path / "o")]
    assert train_main([*argv, flag, value]) == 2
    err = capsys.readouterr().err
    assert says in err and "Fix: Pass " in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_sources_no_loss_can_learn_from_are_refused_before_the_model_loads(tmp_path: Path, capsys):
    """Constant scores, one label, a label per text, and a BEIR folder whose judgements name no stored document
    used to "train" an unchanged adapter and exit 0."""
    from taskvec.train.cli import main as train_main

    def rows(name: str, records: list[dict]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return path

    pairs = [{"sentence1": f"a {i}", "sentence2": f"b {i}", "score": 3} for i in range(12)]
    one = [{"text": f"text {i}", "label": "only"} for i in range(12)]
    each = [{"text": f"text {i}", "label": f"l{i}"} for i in range(12)]
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "body"}) + "\n")
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "query"}) + "\n")
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tmissing\t1\n")
    cases = [
        ("similarity", rows("const.jsonl", pairs), "all 12 pairs have the score 3"),
        ("classification", rows("one.jsonl", one), "one label over 12 texts"),
        ("clustering", rows("each.jsonl", each), "a label of its own for every text"),
        ("retrieval", beir, "holds nothing to train on"),
    ]
    for task, data, says in cases:
        out = tmp_path / f"out-{task}"
        assert train_main(["train", "--task", task, "--data", str(data), "--out", str(out), "--no-panel"]) == 2
        err = capsys.readouterr().err
        assert says in err and "Fix: " in err and err.count("\n") == 1, err
        assert not out.exists()


def test_read_source_refuses_test_splits_and_missing_paths(tmp_path: Path):
    test_file = tmp_path / "EN_test.tsv"
    test_file.write_text("sentence\tlabel\nIt works.\t0\n")
    with pytest.raises(DataError, match="test split"):
        read_source(test_file)
    for name in ("sts-test.csv", "test.tsv"):
        with pytest.raises(DataError, match="test split"):
            read_source(test_file.rename(tmp_path / name))
        test_file = tmp_path / name
    latest = test_file.rename(tmp_path / "latest_tickets.tsv")  # "test" inside a word: a training file like any
    assert len(read_source(latest)) == 1
    test_file = latest
    with pytest.raises(DataError, match="does not exist"):
        read_source(tmp_path / "missing.tsv")
    with pytest.raises(DataError, match="unknown training data format"):
        read_source(test_file.rename(tmp_path / "data.xml"))


def test_read_source_parses_folds_and_sts_filters(tmp_path: Path):
    sts = tmp_path / "sts-train.csv"
    rows = ["main-news\tMSRpar\t2012\t1\t4.5\tA man.\tA man.", "main-news\theadlines\t2013\t2\t1.0\tUp.\tDown."]
    rows.append("main-captions\timages\t2014\t3\t0.5\tA cat.\tA car.")
    sts.write_text("\n".join(rows) + "\n")
    both = read_source(f"{sts}#genre=main-news#source=headlines,images")
    assert both.pairs == [("Up.", "Down.", 1.0)] and both.name.endswith("#genre=main-news#source=headlines,images")
    folds = [read_source(f"{sts}#{k}/2") for k in (0, 1)]
    assert sorted(p for f in folds for p in f.pairs) == sorted(read_source(sts).pairs)
    assert folds[0].name.endswith("sts-train.csv#0/2")
    tsv = tmp_path / "EN_train.tsv"
    tsv.write_text("sentence\tlabel\nIt works.\t0\n")
    with pytest.raises(DataError, match="only STS Benchmark files"):
        read_source(f"{tsv}#genre=main-news")


# ------------------------------------------------------------------------------------------------ training


def _toy_labels(folder: Path) -> Path:
    fruit = ["apple", "banana", "cherry", "grape", "melon", "peach", "pear", "plum"]
    vehicles = ["car", "truck", "bus", "train", "bicycle", "van", "tram", "ship"]
    rows = [{"text": f"the {w} is here", "label": "fruit"} for w in fruit]
    rows += [{"text": f"the {w} is here", "label": "vehicle"} for w in vehicles]
    rows += [{"text": f"look at that {w}", "label": "fruit"} for w in fruit]
    rows += [{"text": f"look at that {w}", "label": "vehicle"} for w in vehicles]
    path = folder / "toy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(model: Path, data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        task="classification",
        data=[str(data)],
        out=out,
        model=str(model),
        batch_size=16,
        max_steps=12,
        lr=5e-3,
        val_fraction=0.25,
        evals_per_epoch=1,
        patience=100,
        progress=False,
        seed=7,
        autocast="none",  # fp32: these tests compare the trainer's vectors with the encoder's to 1e-5
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def toy_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("train")
    data = _toy_labels(folder)
    return data, train(_config(tiny_model_dir, data, folder / "adapter"))


def test_training_reduces_loss(toy_run):
    _, result = toy_run
    assert result.steps == 12
    assert np.mean(result.losses[-3:]) < np.mean(result.losses[:3])


def test_training_is_reproducible(toy_run, tiny_model_dir: Path, tmp_path: Path):
    data, first = toy_run
    again = train(_config(tiny_model_dir, data, tmp_path / "again"))
    assert again.losses == pytest.approx(first.losses, abs=1e-6)
    from safetensors.torch import load_file

    a = load_file(str(first.out / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "again" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    other = train(_config(tiny_model_dir, data, tmp_path / "other", seed=8, max_steps=3))
    assert other.losses[:3] != pytest.approx(first.losses[:3], abs=1e-6)


def test_saved_adapter_loads_in_encoder_and_changes_vectors(toy_run, tiny_model_dir: Path, tmp_path: Path):
    from taskvec.engine import Encoder, TaskRegistry
    from taskvec.engine.profiles import profile_for

    _, result = toy_run
    out = result.out
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 16 and set(config["target_modules"]) == {"query", "key", "value", "attention.output.dense"}
    card = (out / "README.md").read_text()
    for needle in ("base model fingerprint", "toy.jsonl", "Validation", "Hyperparameters", "wall time"):
        assert needle in card
    toml = tmp_path / "tasks.toml"
    toml.write_text(f'[tasks.toy]\nkind = "classification"\nadapter = "{out}"\n')
    enc = Encoder(tiny_model_dir, device="cpu", dtype="fp32")
    registry = TaskRegistry.from_profile(profile_for(enc.model_name, enc.model_path)).with_file(toml)
    enc_with = Encoder(tiny_model_dir, device="cpu", dtype="fp32", tasks=registry)
    texts = ["the apple is here", "the bus is here"]
    plain = enc_with.encode(texts, task="classification").vectors
    adapted = enc_with.encode(texts, task="toy").vectors
    assert not np.allclose(plain, adapted, atol=1e-4)
    assert enc_with.space("toy").adapter_fingerprint is not None
    # The encoder's vectors are the trainer's validation vectors: same prompt, pooling and adapter.
    trainer = Trainer(_config(tiny_model_dir, _toy_labels(tmp_path), tmp_path / "unused"))
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(trainer.net.model, load_file(str(out / "adapter_model.safetensors")))
    np.testing.assert_allclose(trainer.net.embed(texts), adapted, atol=1e-5)


def test_cli_main_trains_records_command_and_ends_with_the_panel(tiny_model_dir: Path, tmp_path: Path, capsys):
    from panel_files import make_panel

    from taskvec.train.cli import main

    data = _toy_labels(tmp_path)
    out = tmp_path / "cli-adapter"
    panel = make_panel(tmp_path / "panel")
    argv = ["--task", "clustering", "--data", str(data), "--out", str(out), "--model", str(tiny_model_dir)]
    argv += ["--max-steps", "2", "--batch-size", "8", "--rank", "4", "--no-progress", "--anchor-weight", "1"]
    argv += ["--val-data", str(data)]  # a validation-only source: scored, never trained on
    argv += ["--panel-root", str(panel), "--panel-sample", "16"]
    assert main(argv) == 0
    info = json.loads((out / "taskvec_training.json").read_text())
    assert info["command"].startswith("taskvec train --task clustering")
    assert info["hyperparameters"]["rank"] == 4 and info["loss"] == "supcon"
    assert any(name.endswith("[held-out]") for name in info["validation"]["base"])
    assert len(info["data"]) == 1 and info["val_data"] == [str(data)]
    captured = capsys.readouterr()
    assert "saved" in captured.out
    # The ship rule ran at the end: the panel is in the facts and the card, provisional on a sample.
    assert set(info["panel"]["sets"]) == {"toy-clustering"} and info["panel"]["decision"]["provisional"]
    assert "ship rule:" in captured.err and "## Held-out panel and ship rule" in (out / "README.md").read_text()
    # With --no-progress a long run still says where it is: one line per validation, with its figures.
    lines = captured.err.splitlines()
    first = next(line for line in lines if line.startswith("step 0 of 2 (no adapter): "))
    final = next(line for line in lines if line.startswith("step 2 of 2: loss "))
    assert "toy.jsonl[val] " in first and "toy.jsonl[held-out] " in final and "best " in final


def test_cli_bad_data_exits_2_with_the_reason(tiny_model_dir: Path, tmp_path: Path, capsys):
    from taskvec.train.cli import main

    out = tmp_path / "never"
    argv = ["--task", "similarity", "--model", str(tiny_model_dir), "--out", str(out), "--no-progress", "--data"]
    assert main([*argv, str(tmp_path / "missing.tsv")]) == 2
    assert "missing.tsv' does not exist" in capsys.readouterr().err
    sts = tmp_path / "sts-train.csv"
    sts.write_text("main-news\tf\t2012\t1\t4.5\tA man.\tA man.\n")
    assert main([*argv, f"{sts}#genre=main-forums"]) == 2
    assert "its genres are main-news" in capsys.readouterr().err
    assert not out.exists()


def _merged_query_weight(model_dir: Path, adapter: Path | None) -> torch.Tensor:
    from peft import PeftModel
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir))
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model.encoder.layer[0].attention.self.query.weight.detach().clone()


def test_interpolate_scales_the_update_and_records_it(toy_run, tiny_model_dir: Path, tmp_path: Path, capsys):
    from panel_files import make_panel

    from taskvec.engine import Encoder, TaskRegistry
    from taskvec.engine.profiles import profile_for
    from taskvec.train.cli import main

    _, result = toy_run
    half, quarter = tmp_path / "half", tmp_path / "quarter"
    panel = make_panel(tmp_path / "panel")
    assert (
        main(["interpolate", str(result.out), "--weight", "0.5", "--out", str(half), "--panel-root", str(panel)]) == 0
    )
    assert main(["interpolate", str(half), "--weight", "0.5", "--out", str(quarter), "--no-panel"]) == 0
    captured = capsys.readouterr()
    assert "saved" in captured.out and "ship rule: skipped (--no-panel)" in captured.err
    halved = json.loads((half / "taskvec_training.json").read_text())
    assert set(halved["panel"]["sets"]) == {"toy-classification"} and halved["panel"]["sample"] is None
    assert halved["panel"]["adapter"] == str(half)  # the interpolated adapter, measured in full

    # W + w * delta, exactly: the merged weights move half (a quarter) of the way.
    base = _merged_query_weight(tiny_model_dir, None)
    full = _merged_query_weight(tiny_model_dir, result.out) - base
    assert full.abs().max() > 1e-4
    torch.testing.assert_close(_merged_query_weight(tiny_model_dir, half) - base, 0.5 * full, atol=1e-6, rtol=0)
    torch.testing.assert_close(_merged_query_weight(tiny_model_dir, quarter) - base, 0.25 * full, atol=1e-6, rtol=0)

    info = json.loads((quarter / "taskvec_training.json").read_text())
    assert info["interpolation"]["weight"] == 0.25 and len(info["interpolation"]["commands"]) == 2
    assert "test" not in info and "panel" not in info  # figures of other weights are dropped, not carried over
    card = (quarter / "README.md").read_text()
    assert "Not measured: this adapter has no panel record" in card
    assert "## Interpolation" in card and f"taskvec interpolate {half} --weight 0.5" in card

    # A new weight is a new embedding space: the guard tells the vectors apart.
    toml = tmp_path / "tasks.toml"
    toml.write_text(
        f'[tasks.full]\nkind = "classification"\nadapter = "{result.out}"\n'
        f'[tasks.half]\nkind = "classification"\nadapter = "{half}"\n'
    )
    enc = Encoder(tiny_model_dir, device="cpu")
    enc = Encoder(
        tiny_model_dir,
        device="cpu",
        tasks=TaskRegistry.from_profile(profile_for(enc.model_name, enc.model_path)).with_file(toml),
    )
    assert enc.space("full").adapter_fingerprint != enc.space("half").adapter_fingerprint
    texts = ["the apple is here", "the bus is here"]
    plain, v_full, v_half = (enc.encode(texts, task=t).vectors for t in ("classification", "full", "half"))
    assert 0 < np.abs(v_half - plain).max() < np.abs(v_full - plain).max()


@pytest.mark.parametrize(
    ("weight", "out", "needle"),
    [
        ("0", "new", "weight must be in (0, 1]"),
        ("1.5", "new", "weight must be in (0, 1]"),
        ("0.5", "same", "out must differ"),
    ],
)
def test_interpolate_refuses_bad_input_and_writes_nothing(toy_run, tmp_path: Path, capsys, weight, out, needle):
    from taskvec.train.cli import main

    _, result = toy_run
    before = {p.name: p.read_bytes() for p in result.out.iterdir()}
    target = result.out if out == "same" else tmp_path / "new"
    assert main(["interpolate", str(result.out), "--weight", weight, "--out", str(target)]) == 2
    assert needle in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in result.out.iterdir()} == before
    assert out == "same" or not target.exists()
    assert main(["interpolate", str(tmp_path), "--weight", "0.5", "--out", str(tmp_path / "x")]) == 2
    assert "no adapter_config.json" in capsys.readouterr().err


def test_interpolate_failing_part_way_leaves_the_old_folder(toy_run, tmp_path: Path, monkeypatch):
    import safetensors.torch

    from taskvec.train.interpolate import interpolate_adapter

    _, result = toy_run
    out = interpolate_adapter(result.out, 0.5, tmp_path / "shipped")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    with pytest.raises(OSError, match="No space"):
        interpolate_adapter(result.out, 0.25, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["shipped"]  # no staging folder left behind


def test_a_run_writes_only_a_new_folder_or_over_an_adapter_it_may_replace(toy_run, tmp_path: Path, monkeypatch):
    """--out: a file, or a folder of other files, is refused before any work (whatever --overwrite says); an adapter
    folder is replaced only with --overwrite. Nothing is touched by a refusal."""
    from taskvec.errors import InvalidInputError
    from taskvec.train.interpolate import interpolate_adapter
    from taskvec.train.output import check_out_folder

    _, result = toy_run
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.txt").write_text("important")
    (tmp_path / "afile").write_text("x")
    for out, says in ((notes, "holds files that are not an adapter (thesis.txt)"), (tmp_path / "afile", "is a file")):
        for overwrite in (False, True):
            with pytest.raises(InvalidInputError, match=re.escape(says)):
                interpolate_adapter(result.out, 0.5, out, overwrite=overwrite)
    assert (notes / "thesis.txt").read_text() == "important" and (tmp_path / "afile").read_text() == "x"
    assert not list(tmp_path.glob(".*staging*"))
    adapter = interpolate_adapter(result.out, 0.5, tmp_path / "new")  # new: written
    before = {p.name: p.read_bytes() for p in adapter.iterdir()}
    with pytest.raises(InvalidInputError, match="already holds an adapter; this run would replace it") as refused:
        interpolate_adapter(result.out, 0.25, adapter)
    assert "--overwrite" in (refused.value.fix or "")
    assert {p.name: p.read_bytes() for p in adapter.iterdir()} == before
    interpolate_adapter(result.out, 0.25, adapter, overwrite=True)
    assert {p.name: p.read_bytes() for p in adapter.iterdir()} != before
    shipped = Path(__file__).resolve().parents[1] / "adapters" / "all-MiniLM-L6-v2" / "similarity"
    with pytest.raises(InvalidInputError, match="shipped with taskvec"):
        check_out_folder(shipped, overwrite=False)
    check_out_folder(tmp_path / "empty-or-new", overwrite=False)


def test_anchor_is_zero_until_the_adapter_moves(tiny_model_dir: Path, tmp_path: Path):
    import random

    data = _toy_labels(tmp_path)
    trainer = Trainer(_config(tiny_model_dir, data, tmp_path / "unused", anchor_weight=1.0, anchor_data=[str(data)]))
    texts = trainer.anchor_texts[:8]
    # A fresh adapter (B = 0) is the base model: the anchor must not pull yet. With dropout in the student pass it
    # would (the teacher has none), which is why the anchor runs its student in eval mode.
    assert trainer.anchor_loss(texts, random.Random(0)).item() == pytest.approx(0.0, abs=1e-10)
    noisy = losses.similarity_anchor(trainer.net.embed_train(texts), trainer.net.teacher(texts))
    assert noisy.item() > 1e-6
    with torch.no_grad():
        for name, p in trainer.net.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    moved = trainer.anchor_loss(texts, random.Random(0))
    moved.backward()
    assert moved.item() > 1e-6
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.net.trainable_parameters())


def test_trainer_runs_the_engines_forward_pass(tiny_model_dir: Path, tmp_path: Path, monkeypatch):
    """One forward pass for serving and training: the trainer's vectors come from taskvec.engine.forward.embed,
    with gradients reaching the LoRA weights, also in the dropout-free anchor pass."""
    from taskvec.engine import Encoder, forward

    specs = []
    real_embed = forward.embed

    def spy(*args, **kwargs):
        specs.append(args[3])
        return real_embed(*args, **kwargs)

    monkeypatch.setattr(forward, "embed", spy)
    trainer = Trainer(_config(tiny_model_dir, _toy_labels(tmp_path), tmp_path / "unused"))
    specs.clear()
    for dropout in (True, False):
        trainer.net.model.zero_grad()
        trainer.net.embed_train(["the apple is here", "the bus"], dropout=dropout).sum().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.net.trainable_parameters())
    assert len(specs) == 2 and all(spec.normalize for spec in specs)
    Encoder(tiny_model_dir, device="cpu").encode(["the apple is here"], "similarity")
    assert len(specs) == 3


def test_bf16_autocast_is_chosen_per_device_and_recorded(tiny_model_dir: Path, tmp_path: Path):
    """--autocast: auto follows the device's native bf16; under bf16 the vectors stay fp32 for the losses and close
    to the fp32 ones, gradients reach the fp32 LoRA weights, and the card says which ran."""
    from taskvec.engine.hardware import cpu_has_bf16
    from taskvec.errors import InvalidInputError
    from taskvec.train.config import autocast_bf16

    cpu = torch.device("cpu")
    assert autocast_bf16("auto", cpu) == cpu_has_bf16()
    assert autocast_bf16("bf16", cpu) and not autocast_bf16("none", cpu)
    with pytest.raises(InvalidInputError) as err:
        autocast_bf16("fp8", cpu)
    assert err.value.field == "autocast" and "auto, bf16, none" in err.value.fix

    data = _toy_labels(tmp_path)
    texts = ["the apple is here", "look at that bus", "the tram is here"]
    fp32 = Trainer(_config(tiny_model_dir, data, tmp_path / "fp32")).net
    bf16 = Trainer(_config(tiny_model_dir, data, tmp_path / "bf16", autocast="bf16")).net
    assert bf16.autocast and not fp32.autocast
    vectors = bf16.embed_train(texts, dropout=False)
    assert vectors.dtype == torch.float32
    vectors.sum().backward()
    grads = [p.grad for p in bf16.trainable_parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 for g in grads) and any(g.abs().sum() > 0 for g in grads)
    exact, rounded = fp32.embed(texts), bf16.embed(texts)
    assert not np.array_equal(exact, rounded)  # bf16 products really ran
    assert (exact * rounded).sum(axis=1).min() > 0.99

    result = train(_config(tiny_model_dir, data, tmp_path / "run", autocast="bf16", max_steps=2))
    info = json.loads((result.out / "taskvec_training.json").read_text())
    assert info["bf16_autocast"] is True and info["hyperparameters"]["autocast"] == "bf16"
    assert "bf16 autocast" in (result.out / "README.md").read_text()


def test_training_code_needs_no_lancedb_or_mcp():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['lancedb'] = None; sys.modules['mcp'] = None\n"
        "import taskvec.train.cli, taskvec.train.trainer, taskvec.train.model_card"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _toy_beir(folder: Path) -> Path:
    """Queries about fruit and vehicles; each has one relevant document, and near-misses of the same kind exist."""
    words = ["apple", "banana", "cherry", "grape", "car", "truck", "bus", "tram"]
    beir = folder / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": f"d{i}", "title": "", "text": f"all about the {w}"}) + "\n" for i, w in enumerate(words)
        )
    )
    (beir / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": f"what is a {w}?"}) + "\n" for i, w in enumerate(words))
    )
    (beir / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(len(words)))
    )
    return beir


def test_mined_negatives_are_top_ranked_non_relevant_documents(tiny_model_dir: Path, tmp_path: Path):
    beir = _toy_beir(tmp_path)
    kw = dict(task="retrieval", val_fraction=0.0, max_steps=2, batch_size=4, lr=1e-3)
    trainer = Trainer(_config(tiny_model_dir, beir, tmp_path / "a", mine_negatives=2, mine_skip=1, **kw))
    data = trainer.train_sets[0]
    assert isinstance(data, PairSet) and sorted(data.negatives) == sorted(data.relevant)
    # Recompute the ranking the miner saw (adapter off, the task's prompts): skip 1, then the next 2 non-relevant.
    qids, doc_ids = sorted(data.relevant), sorted(data.corpus)
    qv = trainer.net.embed(trainer.q([data.queries[q] for q in qids]), adapter=False)
    dv = trainer.net.embed(trainer.d([data.corpus[d] for d in doc_ids]), adapter=False)
    for row, q in enumerate(qids):
        ranked = [
            doc_ids[j] for j in np.argsort(-(qv[row] @ dv.T), kind="stable") if doc_ids[j] not in data.relevant[q]
        ]
        assert data.negatives[q] == ranked[1:3]
        assert not set(data.negatives[q]) & set(data.relevant[q])
    result = trainer.run()  # the negatives join each batch's documents: the loss still trains
    assert result.steps == 2 and all(math.isfinite(x) for x in result.losses)


def _toy_beir_with_near_misses(folder: Path) -> Path:
    """`_toy_beir`, plus per query a document that shares its noun and is not relevant: a lexical near-miss."""
    beir = _toy_beir(folder)
    words = ["apple", "banana", "cherry", "grape", "car", "truck", "bus", "tram"]
    with (beir / "corpus.jsonl").open("a") as corpus:
        for i, w in enumerate(words):
            corpus.write(json.dumps({"_id": f"n{i}", "title": "", "text": f"{w} prices fell again this year"}) + "\n")
    return beir


def test_hybrid_mining_takes_negatives_from_the_stores_hybrid_search(tiny_model_dir: Path, tmp_path: Path):
    """`--mine-with hybrid`: each query's negatives are its best non-relevant hits in the store's own hybrid search
    of the base model's vectors, after the skipped ranks. BM25 is part of it: the document that shares the query's
    noun without being relevant becomes the negative for more queries than the random tiny model's cosine picks it."""
    from taskvec.store import Document, Store

    beir = _toy_beir_with_near_misses(tmp_path)
    kw = dict(task="retrieval", val_fraction=0.0, max_steps=2, batch_size=4, lr=1e-3, mine_negatives=1, mine_skip=0)
    hybrid = Trainer(_config(tiny_model_dir, beir, tmp_path / "h", mine_with="hybrid", **kw))
    model = Trainer(_config(tiny_model_dir, beir, tmp_path / "m", **kw))
    data = hybrid.train_sets[0]
    assert isinstance(data, PairSet) and sorted(data.negatives) == sorted(data.relevant)
    qids, qv, doc_ids, dv = hybrid.base_vectors(data)
    store, space = Store(tmp_path / "store"), hybrid.base_space()
    store.upsert("c", [Document(id=d, text=data.corpus[d]) for d in doc_ids], dv, space)
    hybrid_near = model_near = 0
    for row, q in enumerate(qids):
        hits = store.search("c", space, qv[row], limit=len(doc_ids), text=data.queries[q], mode="hybrid")
        ranked = [h.id for h in hits if h.id not in data.relevant[q]]
        assert data.negatives[q] == ranked[:1]
        hybrid_near += int(data.negatives[q] == [f"n{q[1:]}"])
        model_near += int(model.train_sets[0].negatives[q] == [f"n{q[1:]}"])
    assert hybrid_near > model_near, (hybrid_near, model_near)  # measured: 6 of 8 against 1
    result = hybrid.run()
    assert result.steps == 2 and all(math.isfinite(x) for x in result.losses)
    hybrid.save(result)
    card = (tmp_path / "h" / "README.md").read_text()
    assert "| hard negatives | 1 per query, mined by the base model's hybrid search (cosine and BM25)" in card
    assert json.loads((tmp_path / "h" / SAVED_INFO).read_text())["hyperparameters"]["mine_with"] == "hybrid"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mine_with": "hybrid"}, "--mine-negatives is 0"),
        ({"mine_with": "bm25", "mine_negatives": 1}, "Unknown --mine-with 'bm25'"),
    ],
)
def test_bad_mining_settings_fail_before_the_model_loads(tiny_model_dir: Path, tmp_path: Path, settings, message):
    beir = _toy_beir(tmp_path)
    with pytest.raises(InvalidInputError, match=message) as caught:
        Trainer(_config(tiny_model_dir, beir, tmp_path / "a", task="retrieval", **settings))
    assert caught.value.field == "mine_with"


def test_interpolate_averages_adapters_of_one_task_into_a_soup(toy_run, tiny_model_dir: Path, tmp_path: Path):
    """Several sources: the update is --weight times the mean of theirs, exactly, as one LoRA; the card lists every
    adapter, its data and its command."""
    from taskvec.train.cli import main

    data, first = toy_run
    second = train(_config(tiny_model_dir, data, tmp_path / "second", seed=8, rank=8))
    soup, half = tmp_path / "soup", tmp_path / "half-soup"
    assert (
        main(["interpolate", str(first.out), str(second.out), "--weight", "1", "--out", str(soup), "--no-panel"]) == 0
    )
    assert (
        main(["interpolate", str(first.out), str(second.out), "--weight", "0.5", "--out", str(half), "--no-panel"]) == 0
    )

    base = _merged_query_weight(tiny_model_dir, None)
    a = _merged_query_weight(tiny_model_dir, first.out) - base
    b = _merged_query_weight(tiny_model_dir, second.out) - base
    assert (a - b).abs().max() > 1e-4  # two different adapters, so the mean is neither
    torch.testing.assert_close(_merged_query_weight(tiny_model_dir, soup) - base, (a + b) / 2, atol=1e-6, rtol=0)
    torch.testing.assert_close(_merged_query_weight(tiny_model_dir, half) - base, (a + b) / 4, atol=1e-6, rtol=0)
    config = json.loads((soup / "adapter_config.json").read_text())
    assert config["r"] == 16 + 8 and config["lora_alpha"] == 24

    info = json.loads((soup / SAVED_INFO).read_text())
    assert [i["folder"] for i in info["soup"]] == [str(first.out), str(second.out)]
    assert info["interpolation"]["weight"] == 1 and "panel" not in info and "test" not in info
    card = (soup / "README.md").read_text()
    assert "## Soup" in card and "1 x the mean** of the updates of 2 adapters" in card
    reproduce = card.split("## Reproduce")[1].split("```")[1].strip().splitlines()
    assert len(reproduce) == 4 and reproduce[3].startswith(f"taskvec interpolate {first.out} {second.out}")


def test_a_soup_refuses_adapters_that_are_not_one_task(toy_run, tiny_model_dir: Path, tmp_path: Path, capsys):
    from taskvec.train.cli import main

    data, first = toy_run
    other_layers = train(_config(tiny_model_dir, data, tmp_path / "layers", target_modules=["query"]))
    other_task = tmp_path / "other-task"
    shutil.copytree(first.out, other_task)
    info = json.loads((other_task / SAVED_INFO).read_text())
    (other_task / SAVED_INFO).write_text(json.dumps({**info, "task": "clustering"}))
    # An adapter scaled on its own may join a soup: its scaling is listed under Reproduce. A soup may not.
    halved, soup = tmp_path / "halved", tmp_path / "made"
    assert main(["interpolate", str(first.out), "--weight", "0.5", "--out", str(halved), "--no-panel"]) == 0
    assert main(["interpolate", str(first.out), str(halved), "--weight", "1", "--out", str(soup), "--no-panel"]) == 0
    reproduce = (soup / "README.md").read_text().split("## Reproduce")[1]
    assert f"taskvec interpolate {first.out} --weight 0.5 --out {halved}" in reproduce
    for source, needle in [
        (other_layers.out, "differ in target_modules"),
        (other_task, "differ in task"),
        (first.out, "the same adapter is given twice"),
        (soup, "is a soup already"),
    ]:
        out = tmp_path / "refused"
        assert main(["interpolate", str(first.out), str(source), "--weight", "1", "--out", str(out)]) == 2
        assert needle in capsys.readouterr().err and not out.exists()


# ----------------------------------------------------------------------------------------- --blend-share


def test_blend_share_trains_and_validates_the_blended_vector_the_task_serves(tiny_model_dir: Path, tmp_path: Path):
    """--blend-share S: the loss sees [sqrt(1 - S) bare(text) ; sqrt(S) adapter(prompt + text)] with the bare half
    fixed, validation scores that vector, and it is the vector a task with ``blend = S`` serves."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from taskvec.engine import Encoder

    data = _toy_labels(tmp_path)
    cfg = _config(tiny_model_dir, data, tmp_path / "b", task="clustering", blend_share=0.25, max_steps=4)
    trainer = Trainer(cfg)
    texts = ["the apple is here", "the bus is here"]
    with torch.no_grad():
        for name, p in trainer.net.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)  # a moved adapter, so that its half differs from the bare one
    student = trainer.student(texts, trainer.d(texts))
    dim = trainer.net.dimension
    assert student.shape == (2, 2 * dim)
    np.testing.assert_allclose(
        student[:, :dim].detach().numpy(), math.sqrt(0.75) * trainer.net.embed(texts, adapter=False), atol=1e-5
    )
    student.sum().backward()  # the gradient reaches the adapter through its half
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.net.trainable_parameters())
    # The task loss is SupCon on those blended vectors (the same dropout draws on both sides).
    from taskvec.train.batches import Batch

    train_set = trainer.train_sets[0]
    batch = Batch(0, list(range(8)))
    torch.manual_seed(3)
    loss, _ = trainer.batch_loss(batch)
    torch.manual_seed(3)
    batch_texts = [train_set.texts[i] for i in batch.items]
    names = sorted(set(train_set.labels))
    labels = torch.tensor([names.index(train_set.labels[i]) for i in batch.items])
    vectors = trainer.student(batch_texts, trainer.d(batch_texts))
    expected = losses.supervised_contrastive(vectors, labels, temperature=cfg.temperature)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)

    result = train(cfg)
    info = json.loads((result.out / SAVED_INFO).read_text())
    assert info["hyperparameters"]["blend_share"] == 0.25
    (name,) = result.validation["adapter"]
    assert name in result.validation["blend_start"]  # the figure a step had to beat: the untrained blend
    assert "Trained for a blend (`--blend-share 0.25`)" in (result.out / "README.md").read_text()
    # Validation scores the vectors the task serves: a task with ``blend = 0.25`` and this adapter.
    toml = tmp_path / "tasks.toml"
    toml.write_text(f'[tasks.grouping]\nkind = "clustering"\nadapter = "{result.out}"\nblend = 0.25\n')
    served = Encoder(tiny_model_dir, tasks_file=toml, device="cpu", dtype="fp32")
    fresh = Trainer(cfg)
    set_peft_model_state_dict(fresh.net.model, load_file(str(result.out / "adapter_model.safetensors")))
    val_texts = list(fresh.val_sets[0].texts)
    expected = served.encode(val_texts, task="grouping").vectors
    np.testing.assert_allclose(
        fresh.val_vectors(val_texts, fresh.task.document_prompt, adapter=True), expected, atol=1e-5
    )
    assert fresh.val_vectors(val_texts, "", adapter=False).shape[1] == dim  # the base figure stays the bare model


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"blend_share": 0.25, "matryoshka_dims": [16]}, "do not combine"),
        ({"blend_share": 1.0}, "is not an adapter share"),
    ],
)
def test_bad_blend_share_settings_fail_before_the_model_loads(tiny_model_dir: Path, tmp_path: Path, settings, message):
    with pytest.raises(InvalidInputError, match=message) as caught:
        Trainer(_config(tiny_model_dir, _toy_labels(tmp_path), tmp_path / "a", task="clustering", **settings))
    assert caught.value.field == "--blend-share"


def test_cli_blend_share_ends_with_the_panel_read_in_its_blend(tiny_model_dir: Path, tmp_path: Path, capsys):
    from panel_files import make_panel

    from taskvec.train.cli import main

    data = _toy_labels(tmp_path)
    out = tmp_path / "blended-adapter"
    argv = ["--task", "clustering", "--data", str(data), "--out", str(out), "--model", str(tiny_model_dir)]
    argv += ["--max-steps", "2", "--batch-size", "8", "--rank", "4", "--no-progress", "--blend-share", "0.25"]
    argv += ["--panel-root", str(make_panel(tmp_path / "panel")), "--panel-sample", "16"]
    assert main(argv) == 0
    info = json.loads((out / SAVED_INFO).read_text())
    assert info["panel"]["blend"] == 0.25 and info["panel"]["command"].endswith("--blend 0.25 --sample 16")
    err = capsys.readouterr().err
    assert "step 0 of 2 (no adapter, blended with the bare model at share 0.25): " in err
    # Refused before any work: a share outside (0, 1), and a reranker (it makes no vectors to blend).
    with pytest.raises(SystemExit) as refused:
        main([*argv[:-6], "--blend-share", "1.5"])
    assert refused.value.code == 2
    assert "is not a number strictly between 0 and 1" in capsys.readouterr().err
    rerank = ["--task", "rerank", "--data", str(data), "--out", str(tmp_path / "r"), "--blend-share", "0.25"]
    assert main(rerank) == 2
    assert "--blend-share trains an embedding adapter" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
