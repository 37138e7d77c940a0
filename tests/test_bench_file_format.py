"""benchmarks/file_format.py, which docs/results/file_format.md and the store's choice of file format
(``taskvec.store.writer.FILE_FORMAT``) rest on: a small run makes every figure it reports, for each format. No
timing assertions."""

from __future__ import annotations

import argparse

from helpers import load_benchmark

from taskvec.store.writer import FILE_FORMAT

file_format = load_benchmark("file_format")


def test_a_small_run_times_every_column_in_each_format_and_reports_them() -> None:
    result = file_format.run(argparse.Namespace(rows=2000, repeats=2))
    assert FILE_FORMAT in file_format.FORMATS
    for metadata in ("empty", "varied"):
        figures = result["metadata"][metadata]
        columns = set(figures["ms"])
        assert {"metadata", "task", "space_id", "hit columns", "scan of the vector column"} <= columns
        assert all(set(ms) == set(file_format.FORMATS) and min(ms.values()) > 0 for ms in figures["ms"].values())
        assert all(size > 2000 * 384 * 4 for size in figures["bytes"].values())  # the vectors alone take that
    table = file_format.markdown(result)
    assert f"new collections in {FILE_FORMAT}" in table and "| varied | hit columns |" in table
