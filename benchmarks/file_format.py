"""Reading a few rows of a collection in each Lance file format: why new collections are written in 2.1.

A search through LanceDB's index ends by reading its hits' columns (and, for the refine pass, a few dozen vectors)
at random positions. This writes the same rows in the store's schema once per file format, as one collection of
one space writes them (``task`` and ``space_id`` hold one value throughout; ``metadata`` is empty, as for a corpus
indexed without metadata, or varied), then times reading 10 random rows of each column, the formats in turns, and
a scan of the whole vector column (what loading a space into memory reads).

    python benchmarks/file_format.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import bench_main, interleaved, load_average, median
from taskvec.store.filters import METADATA_COLUMN
from taskvec.store.writer import FILE_FORMAT, table_schema

FORMATS = ("2.1", "2.2")
DIM = 384


def rows(n: int, metadata: str) -> pa.Table:
    """``n`` rows in the store's schema; ``metadata`` 'empty' ({} throughout) or 'varied' (a few keys a row)."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    if metadata == "empty":
        meta = ["{}"] * n
    else:
        meta = [json.dumps({"source": f"s{i % 50}", "year": 1990 + i % 30, "n": i}) for i in range(n)]
    written_at = np.repeat(np.arange(-(-n // 64), dtype="int64"), 64)[:n] * 1_000_000  # one timestamp per write
    columns = {
        "key": [f"space:{i}" for i in range(n)],
        "id": [str(i) for i in range(n)],
        "text": [f"document {i} " + "lorem ipsum " * (i % 7) for i in range(n)],
        METADATA_COLUMN: pa.array(meta, type=pa.json_()),
        "parent_id": pa.nulls(n, pa.string()),
        "task": ["retrieval"] * n,
        "space_id": ["21dfd4269393a713"] * n,
        "written_at": pa.array(written_at, type=pa.timestamp("us", tz="UTC")),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
    }
    return pa.table(columns, schema=table_schema(DIM))


def reader(dataset: Any, picks: list[list[int]], columns: list[str]) -> Callable[[], Any]:
    """A call that reads the next set of rows of ``picks`` from ``dataset``."""
    turn = iter(picks)
    return lambda: dataset.take(next(turn), columns=columns)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import lance

    results: dict[str, Any] = {"rows": args.rows, "load_at_start": load_average(), "metadata": {}}
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="taskvec-file-format-") as tmp:
        for metadata in ("empty", "varied"):
            table = rows(args.rows, metadata)
            datasets = {}
            for version in FORMATS:
                path = Path(tmp) / f"{metadata}-{version}"
                datasets[version] = lance.write_dataset(table, str(path), data_storage_version=version)
            del table
            by_column: dict[str, dict[str, float]] = {}
            for column in [*datasets[FORMATS[0]].schema.names, "hit columns"]:
                wanted = ["id", "text", METADATA_COLUMN, "parent_id"] if column == "hit columns" else [column]
                picks = [sorted(rng.integers(0, args.rows, 10).tolist()) for _ in range(args.repeats + 1)]
                # each format reads the same rows in the same order (the first read is the warm-up)
                calls = {v: reader(ds, picks, wanted) for v, ds in datasets.items()}
                seconds = interleaved(calls, args.repeats)
                by_column[column] = {v: round(median(s) * 1000, 3) for v, s in seconds.items()}
            scans = interleaved(
                {
                    v: (lambda ds=ds: sum(b.num_rows for b in ds.to_batches(columns=["vector"])))
                    for v, ds in datasets.items()
                },
                2,
            )
            by_column["scan of the vector column"] = {v: round(median(s) * 1000, 1) for v, s in scans.items()}
            sizes = {
                v: sum(f.stat().st_size for f in (Path(tmp) / f"{metadata}-{v}").rglob("*") if f.is_file())
                for v in FORMATS
            }
            results["metadata"][metadata] = {"ms": by_column, "bytes": sizes}
            for path in Path(tmp).iterdir():
                shutil.rmtree(path)
    results["load_at_end"] = load_average()
    return results


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"Reading 10 random rows of {r['rows']:,} (median ms; the store writes new collections in {FILE_FORMAT}):",
        "",
        "| metadata | column | " + " | ".join(f"format {v}" for v in FORMATS) + f" | {FORMATS[1]} / {FORMATS[0]} |",
        "|---|---|" + "---:|" * (len(FORMATS) + 1),
    ]
    for metadata, m in r["metadata"].items():
        for column, ms in m["ms"].items():
            cells = " | ".join(f"{ms[v]:.2f}" for v in FORMATS)
            lines.append(f"| {metadata} | {column} | {cells} | {ms[FORMATS[1]] / ms[FORMATS[0]]:.2f} |")
        size = " | ".join(f"{m['bytes'][v] / 2**20:,.0f} MiB" for v in FORMATS)
        lines.append(f"| {metadata} | size on disk | {size} | |")
    lines += ["", f"1-minute load {r['load_at_start']} at the start, {r['load_at_end']} at the end."]
    return "\n".join(lines)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30, help="reads of each column in each format")


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
