"""Matryoshka training (`taskvec train --matryoshka-dims`): the loss over prefixes, the flag's checks, the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from taskvec.train import losses
from taskvec.train.config import TrainConfig
from taskvec.train.trainer import train


def test_matryoshka_averages_the_loss_over_the_full_vectors_and_each_prefix():
    torch.manual_seed(0)
    q, d = F.normalize(torch.randn(6, 8), dim=-1), F.normalize(torch.randn(6, 8), dim=-1)
    target = torch.arange(6)

    def loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return losses.in_batch_contrastive(a, b, target)

    assert losses.matryoshka(loss, [], q, d) == pytest.approx(float(loss(q, d)))
    prefixes = [loss(F.normalize(q[:, :n], dim=-1), F.normalize(d[:, :n], dim=-1)) for n in (4, 2)]
    expected = (loss(q, d) + sum(prefixes)) / 3
    assert float(losses.matryoshka(loss, [4, 2], q, d)) == pytest.approx(float(expected), rel=1e-6)


def test_the_prefix_term_sees_what_the_full_loss_cannot():
    """Queries that match their documents only in the last dimensions: the full vectors rank perfectly, their
    first half does not, so the Matryoshka loss is higher and pushes the match into the prefix."""
    eye = torch.eye(4)
    noise = torch.full((4, 4), 0.5)
    q = F.normalize(torch.cat([noise, eye], dim=1), dim=-1)
    d = F.normalize(torch.cat([noise, eye], dim=1), dim=-1)
    target = torch.arange(4)

    def loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return losses.in_batch_contrastive(a, b, target)

    assert float(losses.matryoshka(loss, [4], q, d)) > float(loss(q, d)) + 0.3


def _pairs(folder: Path) -> Path:
    rows = [
        {"query": f"what is a {w}", "positive": f"A {w} is a kind of {kind}."}
        for w, kind in [("pear", "fruit"), ("bus", "vehicle"), ("oak", "tree"), ("trout", "fish")] * 4
    ]
    path = folder / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(model: Path, data: Path, out: Path, dims: list[int]) -> TrainConfig:
    return TrainConfig(
        task="retrieval",
        data=[str(data)],
        out=out,
        model=str(model),
        batch_size=8,
        max_steps=3,
        val_fraction=0.25,
        evals_per_epoch=1,
        progress=False,
        matryoshka_dims=dims,
    )


def test_training_with_matryoshka_dims_records_them(tiny_model_dir: Path, tmp_path: Path):
    result = train(_config(tiny_model_dir, _pairs(tmp_path), tmp_path / "adapter", [16, 8]))
    info = json.loads((result.out / "taskvec_training.json").read_text())
    assert info["hyperparameters"]["matryoshka_dims"] == [16, 8]
    assert "Matryoshka loss over the first 16, 8 dimensions" in (result.out / "README.md").read_text()


def test_matryoshka_dims_beyond_the_model_are_refused_before_training(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    from taskvec.train.cli import main

    data = _pairs(tmp_path)
    out = tmp_path / "never"
    argv = ["--task", "retrieval", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out)]
    assert main([*argv, "--no-progress", "--matryoshka-dims", "4096"]) == 2
    err = capsys.readouterr().err
    assert "--matryoshka-dims" in err and "Fix:" in err
    assert not out.exists()
