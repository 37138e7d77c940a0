"""benchmarks/run_all.py's rule for figures to keep: what other processes did to the CPU during a benchmark, not the
load average (which a benchmark's own threads raise)."""

from __future__ import annotations

import time

from helpers import load_benchmark

run_all = load_benchmark("run_all")
common = load_benchmark("common")


def test_the_machine_counter_sees_cpu_time_spent_here() -> None:
    start, wall = common.machine_cpu_seconds(), time.process_time()
    deadline = time.perf_counter() + 0.5
    while time.perf_counter() < deadline:  # half a second of one core, spent by this process
        pass
    spent = time.process_time() - wall
    assert start is not None
    assert common.machine_cpu_seconds() - start >= 0.8 * spent  # other processes can only add to it


def test_a_benchmark_is_marked_by_other_processes_cpu_and_not_by_its_own_load() -> None:
    own_load_only = {"load_at_start": 0.4, "load_at_end": 2.1, "others_cores": 0.05}
    shared = {"load_at_start": 0.4, "load_at_end": 0.9, "others_cores": 0.6}
    older_run = {"load_at_start": 0.4, "load_at_end": 2.1}  # measured before others_cores existed
    assert not run_all._loaded(own_load_only, run_all.MAX_LOAD)
    assert run_all._loaded(shared, run_all.MAX_LOAD)
    assert run_all._loaded(older_run, run_all.MAX_LOAD)
    assert "other processes using 0.6 cores" in run_all._sharing(shared)
    assert "other processes used 0.05 cores" in run_all._load(own_load_only)


def test_a_partial_run_says_which_sections_its_date_covers() -> None:
    full = {"encode": {"x": 1}, "search": {"y": 2}}
    partial = {"encode": {"x": 1}, "search": {"kept_from": "2026-12-01 10:00 UTC", "y": 2}}
    assert run_all._kept_sections(full) == ""
    header = run_all._kept_sections(partial)
    assert "cover encode;" in header
    assert "search kept from the run of 2026-12-01 10:00 UTC" in header
