"""``taskvec train --task rerank`` on a toy BEIR folder and the tiny model: the loop runs, step 0 is the first
stage, the saved folder serves as a rerank task, and the ship rule reads the held-out figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from test_train import _toy_beir

from taskvec.engine import Encoder
from taskvec.engine.rerank import HEAD_FILE, RERANK_CONFIG, AdapterReranker, build_reranker
from taskvec.engine.tasks import Task
from taskvec.train.rerank import RerankConfig, train_reranker
from taskvec.train.rerank_card import add_rerank_figures, ship_decision


def test_train_rerank_saves_an_adapter_the_engine_serves(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TASKVEC_CHECKS_CACHE", str(tmp_path / "cache"))
    beir = _toy_beir(tmp_path)
    out = tmp_path / "rerank"
    cfg = RerankConfig(
        data=[str(beir)], out=out, model=str(tiny_model_dir), max_steps=3, batch_size=2, group=3, candidates=6,
        mine_skip=0, lr=1e-2, val_fraction=0.25, val_candidates=6, evals_per_epoch=4, patience=5, progress=False,
        command="taskvec train --task rerank ...",
    )  # fmt: skip
    info = train_reranker(cfg)
    assert {p.name for p in out.iterdir()} >= {"adapter_config.json", HEAD_FILE, RERANK_CONFIG, "README.md"}
    history = info["history"]
    assert history[0]["step"] == 0 and len(history) >= 2 and all(math.isfinite(h["mean"]) for h in history)
    # Step 0 is the first stage: the zero head adds nothing.
    name = next(iter(info["validation"]["first_stage"]))
    assert history[0][name] == pytest.approx(info["validation"]["first_stage"][name])
    assert json.loads((out / RERANK_CONFIG).read_text())["residual_task"] == "retrieval"
    # The folder loads as a rerank task on the encoder's own backbone and scores finite numbers.
    encoder = Encoder(tiny_model_dir, device="cpu")
    reranker = build_reranker(encoder, Task("r", "rerank", "", adapter=out))
    assert isinstance(reranker, AdapterReranker)
    scores, _ = reranker.score("what is a tram?", ["all about the tram", "all about the apple"])
    assert np.isfinite(scores).all()
    card = (out / "README.md").read_text()
    assert "first stage" in card and str(beir) in card


def test_ship_rule_needs_every_held_out_set_at_or_above_one_stage(tmp_path: Path) -> None:
    level = {"first_stage": 0.5, "reranked": 0.5}
    assert ship_decision({"A (held-out)": level, "B (home)": {"first_stage": 0.6, "reranked": 0.5}})[0]
    assert not ship_decision({"A (held-out)": level, "C (held-out)": {"first_stage": 0.5, "reranked": 0.49}})[0]
    assert not ship_decision({"B (home)": {"first_stage": 0.5, "reranked": 0.7}})[0]  # nothing held out measured
    info = {
        "hyperparameters": {"rank": 4, "alpha": 8, "dropout": 0.1, "scale": 20, "candidates": 6, "mine_skip": 0,
                            "val_candidates": 6},
        "validation": {"first_stage": {"v": 0.5}, "reranked": {"v": 0.6}, "queries": {"v": 2}},
        "data": [], "base_model": "m", "base_model_fingerprint": "f", "first_stage": "retrieval", "loss": "l",
        "trainable_parameters": 1, "max_seq_length": 64, "wall_seconds": 1, "cpu_seconds": 1, "machine": "x",
        "steps": 1, "best_step": 1, "command": "c", "test": {},
    }  # fmt: skip
    (tmp_path / "taskvec_training.json").write_text(json.dumps(info))
    worse = {"X (held-out)": {"first_stage": 0.7, "reranked": 0.6, "candidates": 50, "change_std": 0.01}}
    assert not add_rerank_figures(tmp_path, worse, note="n")
    assert "**not** a default" in (tmp_path / "README.md").read_text()
