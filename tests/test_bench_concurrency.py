"""benchmarks/concurrency.py: how a sequential call's latency is split (the figure docs/results/performance.md gives
for the per-call overhead target), and, slow, one real run against a served model, so the timed window, the
warm sessions and the server's clocks are exercised end to end. No timing assertions: only that the figures are
made and add up."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def test_overhead_splits_each_call_at_the_server_request() -> None:
    bench = load_benchmark("concurrency")
    # Three sequential calls of 40, 50 and 60 ms; each has one service record and one HTTP request in its window.
    sequential = [(100.0, 0.040), (200.0, 0.050), (300.0, 0.060)]
    timings = {
        "calls": [
            {"start": 100.007, "service": 0.020, "encode_wait": 0.015, "end": 100.027},
            {"start": 200.007, "service": 0.025, "encode_wait": 0.020, "end": 200.032},
            {"start": 300.007, "service": 0.030, "encode_wait": 0.025, "end": 300.037},
            {"start": 400.0, "service": 0.5, "encode_wait": 0.5, "end": 400.5},  # outside every window: a warm-up call
        ],
        "requests": [
            {"start": 100.005, "seconds": 0.030},
            {"start": 200.005, "seconds": 0.035},
            {"start": 300.005, "seconds": 0.040},
            {"start": 399.9, "seconds": 0.6},
        ],
    }
    o = bench.overhead(sequential, timings)
    assert o["calls_matched"] == 3
    assert o["call_p50_ms"] == pytest.approx(50.0)
    assert o["service_p50_ms"] == pytest.approx(25.0)
    assert o["p50_ms"] == pytest.approx(25.0)  # latency - service: 20, 25 and 30 ms
    assert o["server_p50_ms"] == pytest.approx(10.0)  # request - service: 10 ms each
    assert o["client_p50_ms"] == pytest.approx(15.0)  # latency - request: 10, 15 and 20 ms
    # the server's 10 ms either side of the service: 2 ms from the request to the service, 8 ms after it
    assert o["server_before_service_p50_ms"] == pytest.approx(2.0)
    assert o["server_after_service_p50_ms"] == pytest.approx(8.0)
    lines = "\n".join(bench._overhead_lines(o))
    assert "of which the server's ASGI app around the service 10.0 ms" in lines
    assert "2.0 ms before it" in lines and "8.0 ms after it" in lines


def test_a_call_without_exactly_one_request_is_left_out() -> None:
    bench = load_benchmark("concurrency")
    sequential = [(100.0, 0.040)]
    timings = {
        "calls": [{"start": 100.010, "service": 0.020, "encode_wait": 0.015, "end": 100.030}],
        "requests": [{"start": 100.005, "seconds": 0.030}, {"start": 100.006, "seconds": 0.001}],
    }
    assert bench.overhead(sequential, timings) == {}


def test_pass_stats_count_the_passes_of_a_phase_and_their_padding() -> None:
    bench = load_benchmark("concurrency")
    passes = [
        {"start": 10.0, "rows": 4, "tokens": 40, "width": 10},  # no padding
        {"start": 11.0, "rows": 2, "tokens": 10, "width": 10},  # half padding
        {"start": 50.0, "rows": 9, "tokens": 9, "width": 9},  # another phase
    ]
    stats = bench.pass_stats([bench.window([(9.5, 1.0), (10.5, 1.0)])], passes)
    assert stats == {"forward_passes": 2, "rows_per_pass": 3.0, "padding_share": 0.167}
    assert bench.pass_stats([(0.0, 1.0)], passes) == {}


@pytest.mark.slow
@pytest.mark.real_model
def test_a_small_run_measures_both_phases_and_the_overhead() -> None:
    scifact = ROOT.parent / "shared" / "data" / "scifact"  # as benchmarks/common.py reads it
    if not (scifact / "queries.jsonl").is_file():
        # CI always has ../shared beside the clone, so there a missing set is a failure, never a silent skip.
        if os.environ.get("CI"):
            pytest.fail(f"{scifact} is absent: CI must run with ../shared/data beside the clone")
        pytest.skip(f"{scifact} is absent (the data sets are read from ../shared/data beside the clone)")
    bench = load_benchmark("concurrency")
    args = argparse.Namespace(calls=6, clients=3, docs=4, repeats=1, wait_ms=2.0)
    out = bench.run(args)
    for phase in ("sequential", "concurrent"):
        assert out[phase]["calls_per_second"] > 0
        assert out[phase]["passes"]["forward_passes"] >= 1
    o = out["overhead"]
    assert o["calls_matched"] == args.calls  # every timed call matched: warm-up calls fall outside the windows
    assert o["server_p50_ms"] > 0 and o["client_p50_ms"] > 0
    assert out["throughput_ratio"] > 0
