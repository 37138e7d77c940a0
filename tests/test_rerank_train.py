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
from taskvec.train.rerank_card import add_rerank_figures, add_rerank_panel, ship_decision


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


INFO = {
    "hyperparameters": {"rank": 4, "alpha": 8, "dropout": 0.1, "scale": 20, "candidates": 6, "mine_skip": 0,
                        "val_candidates": 6},
    "validation": {"first_stage": {"v": 0.5}, "reranked": {"v": 0.6}, "queries": {"v": 2}},
    "data": [], "base_model": "m", "base_model_fingerprint": "f", "first_stage": "retrieval", "loss": "l",
    "trainable_parameters": 1, "max_seq_length": 64, "wall_seconds": 1, "cpu_seconds": 1, "machine": "x",
    "steps": 1, "best_step": 1, "command": "c", "test": {},
}  # fmt: skip


def _panel(*verdicts: str, sample: int | None = None) -> dict:
    sets = {
        f"set{i}": {"domain": "d", "metric": "nDCG@10", "units": 9, "first_stage": 0.5, "reranked": 0.5,
                    "change": {"up": 0.05, "level": 0.0, "down": -0.05}[v], "noise": 0.01, "verdict": v}
        for i, v in enumerate(verdicts)
    }  # fmt: skip
    return {"command": "taskvec eval panel ...", "first_stage_task": "retrieval", "candidates": 6, "rounds": 40,
            "sample": sample, "left_out": [], "sets": sets}  # fmt: skip


def test_ship_rule_needs_the_held_out_checks_and_the_whole_panel_none_below_beyond_noise() -> None:
    level = {"first_stage": 0.5, "reranked": 0.5, "change_std": 0.0}
    noisy_dip = {"first_stage": 0.5, "reranked": 0.49, "change_std": 0.01}  # -0.01 inside 1.96 sd: level
    clear_drop = {"first_stage": 0.5, "reranked": 0.45, "change_std": 0.01}
    home_drop = {"first_stage": 0.6, "reranked": 0.5, "change_std": 0.0}
    checks = {"A (held-out)": level, "B (home)": home_drop, "C (held-out)": noisy_dip}
    assert ship_decision(checks, _panel("up", "level"))[0]
    assert not ship_decision({**checks, "D (held-out)": clear_drop}, _panel("up"))[0]
    ships, why = ship_decision(checks, _panel("level", "down"))
    assert not ships and "set1 (-0.0500 ± 0.0100)" in why
    assert not ship_decision(checks, None)[0]  # no panel measured
    assert "whole held-out panel" in ship_decision(checks, _panel("up", sample=8))[1]  # a sample decides nothing
    assert not ship_decision({"B (home)": level}, _panel("up"))[0]  # no held-out check measured


def test_card_records_checks_and_panel_and_the_decision(tmp_path: Path) -> None:
    (tmp_path / "taskvec_training.json").write_text(json.dumps(INFO))
    worse = {"X (held-out)": {"first_stage": 0.7, "reranked": 0.6, "candidates": 50, "change_std": 0.01}}
    assert not add_rerank_figures(tmp_path, worse, note="n")
    assert "**not** a default" in (tmp_path / "README.md").read_text()
    fine = {"X (held-out)": {"first_stage": 0.6, "reranked": 0.62, "candidates": 50, "change_std": 0.01}}
    assert not add_rerank_figures(tmp_path, fine, note="n")  # the panel is still missing
    assert add_rerank_panel(tmp_path, _panel("up", "level", "level"))
    card = (tmp_path / "README.md").read_text()
    assert "## Held-out panel" in card and "+0.0500 ± 0.0100 up" in card and "may ship as the default" in card
    assert json.loads((tmp_path / "taskvec_training.json").read_text())["ships"] is True


def test_the_builtin_rerank_task_runs_only_a_reranker_that_passed(tmp_path: Path, tiny_model_dir: Path, monkeypatch):
    from test_rerank import save_rerank_adapter

    from taskvec.engine import TaskRegistry, profiles

    folder = save_rerank_adapter(tiny_model_dir, tmp_path / "adapters" / "toy" / "rerank", seed=1)
    monkeypatch.setattr(profiles, "SHIPPED_ADAPTERS", tmp_path / "adapters")
    profile = profiles.ModelProfile(name="toy", match=("toy",), prompts={}, source="test", adapters_slug="toy")
    assert "rerank" not in TaskRegistry.from_profile(profile)  # no record: never a default
    for ships in (False, True):
        (folder / "taskvec_training.json").write_text(json.dumps({**INFO, "ships": ships}))
        registry = TaskRegistry.from_profile(profile)
        assert ("rerank" in registry) is ships
    assert registry["rerank"].adapter == folder


# ------------------------------------------------------------------------------- taskvec eval panel --rerank
def test_rerank_panel_compares_two_stages_with_the_served_first_stage(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from panel_files import make_panel
    from test_rerank import save_rerank_adapter

    from taskvec.eval import cli

    monkeypatch.setenv("TASKVEC_CHECKS_CACHE", str(tmp_path / "cache"))
    root = make_panel(tmp_path / "panel")
    zero = save_rerank_adapter(tiny_model_dir, tmp_path / "zero", seed=3, head_scale=0.0)
    moved = save_rerank_adapter(tiny_model_dir, tmp_path / "moved", seed=4)
    (moved / "taskvec_training.json").write_text(json.dumps(INFO))
    common = ["--panel-root", str(root), "--model", str(tiny_model_dir), "--rounds", "40", "--json"]
    assert cli.main(["panel", "--task", "retrieval", "--adapter", "none", *common]) == 0
    one_stage = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sets"]["toy-retrieval"]["base"]

    assert cli.main(["panel", "--task", "retrieval", "--rerank", str(zero), "--candidates", "5", *common]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sets"]["toy-retrieval"]
    # The first stage is the served task's exact search; an untrained head changes no ranking.
    assert row["first_stage"] == pytest.approx(one_stage, abs=1e-5) and row["reranked"] == row["first_stage"]
    assert (row["change"], row["noise"], row["verdict"]) == (0, 0, "level")

    argv = ["panel", "--task", "retrieval", "--rerank", str(moved), "--candidates", "5", "--sample", "2", "--card"]
    assert cli.main([*argv, *common]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    row = result["sets"]["toy-retrieval"]
    assert row["change"] == pytest.approx(row["reranked"] - row["first_stage"], abs=2e-5) and row["units"] == 2
    assert "two stages" in out and "SAMPLE of 2" in out and "ship rule fails" in out
    card = (moved / "README.md").read_text()
    assert "## Held-out panel" in card and "whole held-out panel" in card and "--sample 2" in card


@pytest.mark.parametrize(("extra", "field"), [(["--adapter", "x"], "--adapter"), (["--task", "similarity"], "--task")])
def test_rerank_panel_refuses_what_it_cannot_measure(extra, field, tiny_model_dir, tmp_path, capsys):
    from panel_files import make_panel
    from test_rerank import save_rerank_adapter

    from taskvec.eval import cli

    zero = save_rerank_adapter(tiny_model_dir, tmp_path / "zero", seed=3, head_scale=0.0)
    argv = ["panel", "--task", "retrieval", "--rerank", str(zero), "--panel-root", str(make_panel(tmp_path / "p"))]
    assert cli.main([*argv, "--model", str(tiny_model_dir), *extra]) == 2
    assert f"(field: {field})" in capsys.readouterr().err
