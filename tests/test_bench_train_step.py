"""benchmarks/train_step.py, which the ``--autocast`` default rests on (taskvec.train.config.autocast_bf16): a
small run on the tiny model times both precisions in turns and reports their ratio. No timing assertions."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from helpers import load_benchmark

train_step = load_benchmark("train_step")


def test_a_small_run_times_both_precisions_on_the_same_weights(tiny_model_dir: Path) -> None:
    args = argparse.Namespace(batch_size=4, max_seq_length=32, repeats=2, threads=None, model=str(tiny_model_dir))
    result = train_step.run(args)
    seconds = result["seconds_per_step"]
    assert set(seconds) == set(train_step.PRECISIONS) and min(seconds.values()) > 0
    assert result["documents"] == 8
    assert result["bf16_to_fp32_time"] == pytest.approx(seconds["bf16"] / seconds["fp32"], rel=0.05)  # rounding
    assert 0.9 < result["lowest_cosine_bf16_to_fp32"] <= 1.0  # bf16 vectors stay close to fp32
    table = train_step.markdown(result)
    assert "| bf16 autocast |" in table and "lowest cosine" in table
