"""Indexing end to end: SciFact documents through ``TaskvecService.index`` (validation, chunking, the encode
queue, LanceDB upserts) into a fresh store, with the store's share of the time; encoding the same documents
through the same queue, without chunking or the store, in the same run is the reference.

    python benchmarks/index.py --docs 256
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import bench_main, load_average, median, ratio, scifact_texts
from taskvec.config import Settings
from taskvec.service import build_service


def run(args: argparse.Namespace) -> dict[str, Any]:
    texts = scifact_texts(args.docs, seed=1)
    documents = [{"id": str(i), "text": t, "metadata": {"n": i}} for i, t in enumerate(texts)]
    out: dict[str, Any] = {"docs": len(texts), "load_at_start": load_average()}
    with tempfile.TemporaryDirectory(prefix="taskvec-index-") as tmp:
        service = build_service(Settings(store=str(Path(tmp) / "store"), device="cpu"))
        store_seconds: list[float] = []
        real_upsert = service.store.upsert

        def timed_upsert(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return real_upsert(*a, **k)
            finally:
                store_seconds.append(time.perf_counter() - start)

        service.store.upsert = timed_upsert  # type: ignore[method-assign]
        service.index("warm-up", documents[:8], "retrieval")
        totals, stores, encodes, rows = [], [], [], 0
        for r in range(args.repeats):
            store_seconds.clear()
            start = time.perf_counter()
            result = service.index(f"scifact-{r}", documents, "retrieval")
            totals.append(time.perf_counter() - start)
            stores.append(sum(store_seconds))
            rows = result.rows_written
            start = time.perf_counter()
            service.encode(texts, service.task("retrieval"), "document")  # the same encode queue, no store
            encodes.append(time.perf_counter() - start)
    total, store, encode = median(totals), median(stores), median(encodes)
    out.update(
        rows_written=rows,
        index_docs_per_second=round(len(texts) / total, 2),
        encode_only_docs_per_second=round(len(texts) / encode, 2),
        store_seconds=round(store, 2),
        total_seconds=round(total, 2),
        store_share=round(store / total, 4),
        ratio_to_encode_only=ratio(len(texts) / total, len(texts) / encode),
        load_at_end=load_average(),
    )
    return out


def markdown(r: dict[str, Any]) -> str:
    return (
        f"{r['docs']} SciFact documents ({r['rows_written']} rows after chunking) indexed under the retrieval task: "
        f"**{r['index_docs_per_second']:.1f} docs/s** end to end, of which the store (LanceDB upserts) took "
        f"{r['store_seconds']:.2f} s of {r['total_seconds']:.2f} s (**{100 * r['store_share']:.1f}%**). Encoding the "
        f"same documents through the same queue, without chunking or the store: "
        f"{r['encode_only_docs_per_second']:.1f} docs/s (index / encode-only: {r['ratio_to_encode_only']:.2f}x; the "
        f"chunks of long documents are extra rows to encode)."
    )


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
