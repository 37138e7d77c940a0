"""Compression for large stores, measured on real vectors: SciFact nDCG@10 against the bytes a vector costs.

Two ways to make a space smaller, each against the full fp32 vectors searched exactly in the same run:

* **Matryoshka truncation**: the first N dimensions, renormalised (``TASKVEC_TRUNCATE_DIM``; the dimension is part
  of the space id). Compare ``--adapter`` runs of an adapter trained with and without a Matryoshka loss
  (``taskvec train --matryoshka-dims``) to see what the loss buys.
* **LanceDB's quantised indexes** (``TASKVEC_VECTOR_INDEX``): IVF_HNSW_SQ (8 bits a dimension, the default),
  IVF_PQ (product codes) and IVF_RQ (RaBitQ, 1 bit a dimension), each searched through the store with the refine
  pass off and on (the refine pass re-scores ``limit x factor`` candidates on the full vectors read from disk).

Every row gives nDCG@10 over SciFact's 300 test queries, recall@10 against the exact search of the same vectors,
and the index's bytes per million rows (the ``_indices`` folder over the row count). Encoding the 5,183 documents
takes minutes on 2 cores; the vectors are cached on disk per embedding space.

    python benchmarks/compression.py                       # the bare model (no adapter)
    python benchmarks/compression.py --adapter DIR --label "retrieval adapter, Matryoshka 256/128/64"
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import DATA, bench_main, load_average
from taskvec import metrics
from taskvec.data.beir import read_beir
from taskvec.spaces import EmbeddingSpace
from taskvec.store import Document, IndexPolicy, Store
from taskvec.store.indexes import VECTOR_INDEX_KINDS

CACHE = Path(os.environ.get("TASKVEC_BENCH_CACHE", "/tmp/taskvec_bench_cache"))


def scifact_vectors(adapter: Path | None, dtype: str) -> tuple[Any, np.ndarray, np.ndarray, str]:
    """SciFact test data and its document and query vectors under the retrieval task (``adapter`` in place of the
    task's own, if given), cached by embedding space."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from taskvec.engine import Encoder

    data = read_beir(DATA / "scifact")
    encoder = Encoder(device="cpu", dtype=dtype)
    task = encoder.tasks["retrieval"]
    task = replace(task, adapter=Path(adapter)) if adapter else task.without_adapter()
    space = encoder.space(task)
    key = hashlib.sha256(f"{space.id}:{dtype}:{len(data.docs)}:{len(data.queries)}".encode()).hexdigest()[:16]
    cache = CACHE / f"scifact-compression-{key}.npz"
    if cache.is_file():
        saved = np.load(cache)
        return data, saved["docs"], saved["queries"], space.id
    docs = encoder.encode(data.docs, task, "document", show_progress=sys.stderr.isatty()).vectors
    queries = encoder.encode(list(data.queries.values()), task, "query").vectors
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, docs=docs, queries=queries)
    return data, docs, queries, space.id


def ndcg(rankings: list[list[str]], data: Any) -> float:
    return float(
        np.mean([metrics.ndcg_at_k(r, data.qrels[q], 10) for r, q in zip(rankings, data.queries, strict=True)])
    )


def recall(found: list[list[str]], truth: list[list[str]]) -> float:
    return float(np.mean([len(set(f[:10]) & set(t[:10])) / 10 for f, t in zip(found, truth, strict=True)]))


def truncated(vectors: np.ndarray, dim: int) -> np.ndarray:
    return metrics.normalize_rows(vectors[:, :dim].astype(np.float32))


def index_rows(data: Any, docs: np.ndarray, queries: np.ndarray, root: Path, refine: list[int]) -> list[dict]:
    """Each LanceDB index kind built over the documents, searched through the store (LanceDB answers: the memory
    budget is 0)."""
    space = EmbeddingSpace("scifact", "bench", "retrieval", "", "", None, None, "mean", True, 256, docs.shape[1])
    documents = [Document(doc_id, "") for doc_id in data.doc_ids]
    exact = metrics.exact_search(queries, docs, data.doc_ids, depth=10)
    rows = []
    for kind in VECTOR_INDEX_KINDS:
        policy = IndexPolicy(vector_index=kind, vector_min_rows=256, scalar_min_rows=256)
        store = Store(root / kind, memory_budget=0, indexes=policy)
        store.upsert("c", documents, docs, space)
        store.optimize("c")
        index_bytes = sum(f.stat().st_size for f in (root / kind / "c.lance" / "_indices").rglob("*") if f.is_file())
        for factor in refine:
            store.indexes = replace(policy, refine_factor=factor or None)
            found = [[h.id for h in store.search("c", space, q, limit=10)] for q in queries]
            rows.append(
                {
                    "variant": f"{kind}, refine {factor or 'off'}",
                    "dimensions": docs.shape[1],
                    "index_mib_per_million_rows": round(index_bytes / len(documents) * 1e6 / 2**20, 1),
                    "ndcg_at_10": round(ndcg(found, data), 4),
                    "recall_at_10": round(recall(found, exact), 4),
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    data, docs, queries, space_id = scifact_vectors(args.adapter, args.dtype)
    out: dict[str, Any] = {
        "label": args.label or (f"adapter {args.adapter}" if args.adapter else "bare model (no adapter)"),
        "space": space_id,
        "dtype": args.dtype,
        "documents": len(data.docs),
        "queries": len(data.queries),
        "load_at_start": load_average(),
    }
    full = metrics.exact_search(queries, docs, data.doc_ids, depth=10)
    rows = [
        {
            "variant": "exact, full vectors (reference)",
            "dimensions": docs.shape[1],
            "memory_mib_per_million_rows": round(docs.shape[1] * 4 * 1e6 / 2**20, 1),
            "ndcg_at_10": round(ndcg(full, data), 4),
            "recall_at_10": 1.0,
        }
    ]
    for dim in args.dims:
        found = metrics.exact_search(truncated(queries, dim), truncated(docs, dim), data.doc_ids, depth=10)
        rows.append(
            {
                "variant": f"Matryoshka truncation to {dim}, exact",
                "dimensions": dim,
                "memory_mib_per_million_rows": round(dim * 4 * 1e6 / 2**20, 1),
                "ndcg_at_10": round(ndcg(found, data), 4),
                "recall_at_10": round(recall(found, full), 4),
            }
        )
    if not args.no_indexes:
        with tempfile.TemporaryDirectory(prefix="taskvec-compression-") as tmp:
            rows += index_rows(data, docs, queries, Path(tmp), args.refine)
    out["rows"] = rows
    out["load_at_end"] = load_average()
    return out


def markdown(r: dict[str, Any]) -> str:
    reference = r["rows"][0]["ndcg_at_10"]
    lines = [
        f"SciFact ({r['documents']:,} documents, {r['queries']} test queries), retrieval task, {r['label']}, "
        f"{r['dtype']} vectors (space {r['space']}).",
        "",
        "| variant | dimensions | MiB per 1M rows | nDCG@10 | change | recall@10 vs exact |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        size = row.get("memory_mib_per_million_rows", row.get("index_mib_per_million_rows"))
        kind = "index" if "index_mib_per_million_rows" in row else "vectors"
        lines.append(
            f"| {row['variant']} | {row['dimensions']} | {size:,.0f} ({kind}) | {row['ndcg_at_10']:.4f} "
            f"| {row['ndcg_at_10'] - reference:+.4f} | {row['recall_at_10']:.3f} |"
        )
    lines += ["", f"1-minute load {r['load_at_start']} at the start, {r['load_at_end']} at the end."]
    return "\n".join(lines)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", type=Path, help="a retrieval adapter folder (default: the bare model)")
    parser.add_argument("--label", help="what the run measures, for the report")
    parser.add_argument("--dtype", default="auto", help="the encoder's dtype (default: auto, as served)")
    parser.add_argument("--dims", type=int, nargs="+", default=[256, 128, 64], help="Matryoshka truncations")
    parser.add_argument("--refine", type=int, nargs="+", default=[0, 5], help="refine factors (0: off)")
    parser.add_argument("--no-indexes", action="store_true", help="truncation rows only")


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
