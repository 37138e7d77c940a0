"""``taskvec train --task retrieval --teacher DIR``: a reranker's scores of each training query's candidates, cached
once, drive a listwise KL loss. Tiny random models: a CrossEncoder folder and a rerank adapter as teachers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_rerank import save_rerank_adapter, save_tiny_cross_encoder
from test_train import _toy_beir

from taskvec.errors import InvalidInputError
from taskvec.train import losses
from taskvec.train.cli import main as train_main
from taskvec.train.config import SAVED_INFO, TrainConfig
from taskvec.train.data import PairSet
from taskvec.train.distill import CACHE_SUFFIX
from taskvec.train.trainer import Trainer


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_cross_encoder(tmp_path_factory.mktemp("teacher") / "tiny-cross-encoder", seed=3)


def _config(model: Path, beir: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        task="retrieval", data=[str(beir)], out=out, model=str(model), batch_size=4, max_steps=2, lr=1e-2,
        mine_negatives=3, mine_skip=0, val_fraction=0.0, evals_per_epoch=2, patience=100, progress=False, seed=7,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_listwise_distillation_is_zero_at_the_teachers_order_and_spacing() -> None:
    teacher = torch.tensor([0.9, 0.5, 0.1])
    assert float(losses.listwise_distillation(teacher, teacher, scale=20, temperature=0.05)) == pytest.approx(
        0, abs=1e-6
    )
    # The teacher's range does not matter, only its spacing relative to the temperature: x10 scores, x10 temperature.
    same = losses.listwise_distillation(teacher, teacher * 10, scale=20, temperature=0.5)
    assert float(same) == pytest.approx(0, abs=1e-6)
    assert float(losses.listwise_distillation(teacher.flip(0), teacher, scale=20, temperature=0.05)) > 1


@pytest.mark.parametrize("kind", ["cross-encoder", "rerank-adapter"])
def test_train_with_a_teacher_end_to_end(
    kind: str, teacher_dir: Path, tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:
    teacher = teacher_dir if kind == "cross-encoder" else save_rerank_adapter(tiny_model_dir, tmp_path / "rr", seed=5)
    beir, out = _toy_beir(tmp_path), tmp_path / "student"
    argv = [
        "train", "--task", "retrieval", "--data", str(beir), "--out", str(out), "--model", str(tiny_model_dir),
        "--teacher", str(teacher), "--distill-weight", "0.5", "--mine-negatives", "2", "--mine-skip", "0",
        "--max-steps", "2", "--batch-size", "4", "--val-fraction", "0.25", "--no-panel", "--no-progress",
    ]  # fmt: skip
    assert train_main(argv) == 0
    info = json.loads((out / SAVED_INFO).read_text())
    about = info["teacher"]
    assert about["folder"] == str(teacher) and about["kind"] == (
        "cross-encoder" if kind == "cross-encoder" else "adapter"
    )
    assert len(about["fingerprint"]) == 16 and about["pairs_scored"] > 0 and about["identity_id"]
    assert info["hyperparameters"]["teacher"] == str(teacher) and info["hyperparameters"]["distill_weight"] == 0.5
    assert "listwise KL" in info["loss"] and "0.5 x contrastive" in info["loss"]
    card = (out / "README.md").read_text()
    assert "| teacher |" in card and about["fingerprint"] in card
    cache = out.with_name(out.name + CACHE_SUFFIX)
    saved = json.loads(cache.read_text())
    assert all(np.isfinite(v) for rows in saved["scores"].values() for r in rows.values() for v in r.values())
    assert not any(p.name.endswith(CACHE_SUFFIX) for p in out.iterdir())  # the scores are not part of the adapter
    capsys.readouterr()
    # A rerun with the same teacher and candidates reads the cache: no teacher is loaded.
    assert train_main(argv) == 2 and "--overwrite" in capsys.readouterr().err  # not over the adapter unasked
    assert train_main([*argv, "--overwrite"]) == 0
    assert "read from" in capsys.readouterr().err


def _margins(trainer: Trainer, lists: dict[str, list[str]]) -> float:
    """Mean over training queries of (mean cosine of the negatives) - (cosine of the positive), adapter on."""
    data = trainer.train_sets[0]
    assert isinstance(data, PairSet)
    out = []
    for q, docs in lists.items():
        qv = trainer.net.embed(trainer.q([data.queries[q]]))[0]
        dv = trainer.net.embed(trainer.d([data.corpus[d] for d in docs]))
        cos = dv @ qv
        out.append(cos[1:].mean() - cos[0])
    return float(np.mean(out))


def test_the_loss_follows_the_teachers_scores_not_the_labels(
    teacher_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A teacher that ranks every positive below its negatives pulls the student's ranking of the training
    candidates away from the labels; contrastive training on the same data pushes it towards them."""
    beir = _toy_beir(tmp_path)
    out = tmp_path / "student"
    kw = dict(max_steps=12, lr=1e-2)
    Trainer(_config(tiny_model_dir, beir, out, teacher=str(teacher_dir), **kw))  # scores and caches the candidates
    cache = out.with_name(out.name + CACHE_SUFFIX)
    saved = json.loads(cache.read_text())
    lists: dict[str, list[str]] = {}
    for q, row in saved["scores"]["beir"].items():
        positive = f"d{q[1:]}"  # the toy set: query qi's relevant document is di
        negatives = [d for d in row if d != positive]
        lists[q] = [positive, *negatives]
        # The reverse of the labels: the positive last, the negatives above it in a fixed order.
        saved["scores"]["beir"][q] = {positive: 0.0, **{d: 1.0 - 0.1 * i for i, d in enumerate(negatives)}}
    cache.write_text(json.dumps(saved))

    reversed_teacher = Trainer(_config(tiny_model_dir, beir, out, teacher=str(teacher_dir), **kw))
    assert reversed_teacher.teacher is not None and reversed_teacher.teacher.from_cache
    before = _margins(reversed_teacher, lists)
    reversed_teacher.run()
    after_teacher = _margins(reversed_teacher, lists)

    contrastive = Trainer(_config(tiny_model_dir, beir, tmp_path / "contrastive", **kw))
    assert _margins(contrastive, lists) == pytest.approx(before, abs=1e-5)  # the same start: the base model
    contrastive.run()
    after_labels = _margins(contrastive, lists)
    # Measured: before -0.005; after 12 steps with the reversed teacher +0.037, contrastive -0.028.
    assert after_teacher > before + 0.02, (before, after_teacher)  # negatives above the positive: the teacher's order
    assert after_labels < before - 0.01, (before, after_labels)  # the labels' order


def test_bad_teacher_is_a_clear_error_naming_teacher(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    beir = _toy_beir(tmp_path)
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "nowhere", tmp_path / "empty"):
        with pytest.raises(InvalidInputError) as err:
            Trainer(_config(tiny_model_dir, beir, tmp_path / "s", teacher=str(bad)))
        assert err.value.field == "teacher" and "--teacher" in err.value.message and "rerank" in (err.value.fix or "")
    argv = [
        "train", "--task", "retrieval", "--data", str(beir), "--out", str(tmp_path / "s"), "--model",
        str(tiny_model_dir), "--teacher", str(tmp_path / "nowhere"), "--mine-negatives", "2", "--no-progress",
    ]  # fmt: skip
    assert train_main(argv) == 2
    err_text = capsys.readouterr().err
    assert "--teacher" in err_text and "nowhere" in err_text and "Traceback" not in err_text
    rerank = ["train", "--task", "rerank", *argv[3:]]  # distillation trains retrieval adapters only
    assert train_main(rerank) == 2 and "--teacher" in capsys.readouterr().err
    with pytest.raises(InvalidInputError, match="mine-negatives"):  # a teacher needs candidates to rank
        Trainer(_config(tiny_model_dir, beir, tmp_path / "s", teacher=str(tmp_path / "empty"), mine_negatives=0))


def test_a_hybrid_teacher_ranks_candidates_as_the_stores_hybrid_search_does(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """`--teacher hybrid`: each candidate's score is its fused score in the store's own hybrid search of the base
    model's vectors. BM25 is part of it: a toy query's positive is the one document sharing its noun, and the
    teacher puts it first for more queries than the random tiny model's cosine alone does."""
    from taskvec.store import Document, Store

    beir = _toy_beir(tmp_path)
    trainer = Trainer(_config(tiny_model_dir, beir, tmp_path / "student", teacher="hybrid"))
    assert trainer.teacher is not None and trainer.teacher.teacher["kind"] == "hybrid"
    data = trainer.train_sets[0]
    assert isinstance(data, PairSet)
    qids, qv, doc_ids, dv = trainer.base_vectors(data)
    store, space = Store(tmp_path / "store"), trainer.base_space()
    store.upsert("c", [Document(id=d, text=data.corpus[d]) for d in doc_ids], dv, space)
    teacher_first = cosine_first = 0
    for row, q in enumerate(qids):
        scores = trainer.teacher.scores["beir"][q]
        positive = f"d{q[1:]}"
        assert set(scores) == {positive, *data.negatives[q]}
        hits = store.search("c", space, qv[row], limit=100, text=data.queries[q], mode="hybrid")
        fused = {h.id: h.score for h in hits}
        assert scores == pytest.approx({d: fused[d] for d in scores})
        teacher_first += int(max(scores, key=scores.__getitem__) == positive)
        cosine_first += int(doc_ids[int(np.argmax(dv @ qv[row]))] == positive)
    assert teacher_first > cosine_first, (teacher_first, cosine_first)  # measured: 7 of 8 against 4


def test_train_with_the_hybrid_teacher_end_to_end(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    beir, out = _toy_beir(tmp_path), tmp_path / "student"
    argv = [
        "train", "--task", "retrieval", "--data", str(beir), "--out", str(out), "--model", str(tiny_model_dir),
        "--teacher", "hybrid", "--mine-negatives", "2", "--mine-skip", "0", "--max-steps", "2", "--batch-size", "4",
        "--val-fraction", "0.25", "--no-panel", "--no-progress",
    ]  # fmt: skip
    assert train_main(argv) == 0
    info = json.loads((out / SAVED_INFO).read_text())
    about = info["teacher"]
    assert about["kind"] == "hybrid" and about["folder"] is None and about["keyword_weight"] == 0.3
    assert about["pairs_scored"] > 0 and info["hyperparameters"]["teacher"] == "hybrid"
    card = (out / "README.md").read_text()
    assert "| teacher | hybrid search" in card and "BM25" in card
    capsys.readouterr()
    assert train_main([*argv, "--overwrite"]) == 0  # the rerun reads the cached scores
    assert "read from" in capsys.readouterr().err
