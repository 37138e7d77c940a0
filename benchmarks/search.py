"""Search latency and recall@10 at 10K, 100K and 1M rows: LanceDB's exact search (the reference), the store's
in-memory exact search, and its IVF index; plus recall on real SciFact queries.

The query's encoding is excluded: every figure is ``Store.search`` (version check, guard, search, result rows)
from a given vector. Synthetic vectors (384 dimensions, like all-MiniLM-L6-v2) are clustered around many topic
directions, as a corpus's embeddings are; uniformly random vectors have no neighbourhoods for any index to find.

    python benchmarks/search.py --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import bench_main, load_average, percentile, ratio, scifact_queries, scifact_texts
from taskvec.spaces import EmbeddingSpace
from taskvec.store import Document, Store
from taskvec.store.writer import METADATA_COLUMN, table_schema

DIM = 384
SPACE = EmbeddingSpace("bench", "fp", "retrieval", "q: ", "d: ", None, None, "mean", True, 256, DIM)
BLOCK = 100_000


def clustered(n: int, seed: int, topics: int) -> np.ndarray:
    """Unit vectors around ``topics`` random directions (cosine about 0.7 to their topic). Few, large topics: the
    IVF lists cut every topic into many cells, so a query's neighbours straddle lists as in real embeddings."""
    directions = np.random.default_rng(12345).normal(size=(topics, DIM)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for a in range(0, n, BLOCK):
        b = min(n, a + BLOCK)
        block = directions[rng.integers(0, topics, b - a)] + rng.normal(scale=1 / np.sqrt(DIM), size=(b - a, DIM))
        out[a:b] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def fill(store: Store, name: str, vectors: np.ndarray, groups: int = 0) -> float:
    """Write ``vectors`` as a collection of one space; bulk-appended after the first row (the store's upsert
    merges by key, which is what an index call needs but not what filling a million-row table needs). ``groups``:
    give row i the metadata ``{"group": i % groups}`` (for metadata filters of known shares); 0: none."""
    start = time.perf_counter()

    def metadata(i: int) -> dict[str, int]:
        return {"group": i % groups} if groups else {}

    store.upsert(name, [Document("0", "document 0", metadata(0))], vectors[:1], SPACE)
    table = store.db.open_table(name)
    n = len(vectors)
    for a in range(1, n, BLOCK):
        b = min(n, a + BLOCK)
        ids = [str(i) for i in range(a, b)]
        columns = {
            "key": [f"{SPACE.id}:{i}" for i in ids],
            "id": ids,
            "text": [f"document {i}" for i in ids],
            METADATA_COLUMN: pa.array([json.dumps(metadata(i)) for i in range(a, b)], type=pa.json_()),
            "parent_id": pa.nulls(b - a, pa.string()),
            "task": ["retrieval"] * (b - a),
            "space_id": [SPACE.id] * (b - a),
            "written_at": pa.nulls(b - a, pa.timestamp("us", tz="UTC")),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors[a:b].ravel()), DIM),
        }
        table.add(pa.table(columns, schema=table_schema(DIM)))
    return time.perf_counter() - start


def timed_queries(store: Store, name: str, queries: np.ndarray, k: int = 10) -> tuple[list[float], list[list[str]]]:
    seconds, results = [], []
    for q in queries:
        start = time.perf_counter()
        hits = store.search(name, SPACE, q, limit=k)
        seconds.append(time.perf_counter() - start)
        results.append([h.id for h in hits])
    return seconds, results


def exact_ids(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> list[set[str]]:
    out = []
    for q in queries:
        scores = vectors @ q
        top = np.argpartition(-scores, k)[:k]
        out.append({str(i) for i in top})
    return out


def recall(found: list[list[str]], truth: list[set[str]]) -> float:
    return float(np.mean([len(set(f) & t) / len(t) for f, t in zip(found, truth, strict=True)]))


def latency(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"p50_ms": round(percentile(ms, 50), 3), "p99_ms": round(percentile(ms, 99), 3), "queries": len(ms)}


def bench_size(n: int, root: Path, *, lance_queries: int, queries: int) -> dict[str, Any]:
    topics = max(10, n // 2000)
    vectors = clustered(n, 1, topics)
    qs = clustered(queries, 2, topics)
    store = Store(root / f"n{n}", ann_threshold=n + 1)  # exact in memory first
    fill_seconds = fill(store, "c", vectors)
    truth = exact_ids(vectors, qs)
    out: dict[str, Any] = {"rows": n, "topics": topics, "fill_seconds": round(fill_seconds, 1), "load": load_average()}

    lance = Store(store.uri, fast_path=False)
    lance.search("c", SPACE, qs[0])  # warm-up
    seconds, found = timed_queries(lance, "c", qs[:lance_queries])
    out["lancedb_exact"] = {**latency(seconds), "recall_at_10": round(recall(found, truth[:lance_queries]), 4)}

    start = time.perf_counter()
    store.search("c", SPACE, qs[0])  # reads the space into memory
    load_seconds = time.perf_counter() - start
    seconds, found = timed_queries(store, "c", qs)
    out["memory_exact"] = {
        **latency(seconds),
        "recall_at_10": round(recall(found, truth), 4),
        "first_query_seconds": round(load_seconds, 2),
    }

    store._snapshots.clear()  # the same data, now past the threshold
    store.ann_threshold = min(n, 10_000)
    start = time.perf_counter()
    store.search("c", SPACE, qs[0])  # reads and indexes
    build_seconds = time.perf_counter() - start
    seconds, found = timed_queries(store, "c", qs)
    info = store.search_index("c", SPACE)
    out["memory_ivf"] = {
        **latency(seconds),
        "recall_at_10": round(recall(found, truth), 4),
        "first_query_seconds": round(build_seconds, 2),
        **{k: info[k] for k in ("nlist", "nprobe", "calibration_recall_at_10")},
    }
    out["speedup_p50_exact_vs_lancedb"] = ratio(out["lancedb_exact"]["p50_ms"], out["memory_exact"]["p50_ms"])
    out["speedup_p50_ivf_vs_lancedb"] = ratio(out["lancedb_exact"]["p50_ms"], out["memory_ivf"]["p50_ms"])
    return out


def bench_real(vectors: np.ndarray, query_vectors: np.ndarray, root: Path) -> dict[str, Any]:
    """IVF on real embeddings (SciFact documents) queried with real query embeddings, threshold lowered."""
    store = Store(root / "real", ann_threshold=min(1000, len(vectors)))
    fill(store, "c", vectors)
    seconds, found = timed_queries(store, "c", query_vectors)
    info = store.search_index("c", SPACE)
    return {
        "rows": len(vectors),
        "queries": len(query_vectors),
        **latency(seconds),
        "recall_at_10": round(recall(found, exact_ids(vectors, query_vectors)), 4),
        **{k: info.get(k) for k in ("kind", "nlist", "nprobe", "calibration_recall_at_10")},
    }


def real_embeddings(docs: int) -> tuple[np.ndarray, np.ndarray]:
    """SciFact documents and test queries through the engine (retrieval task, its prompts and adapter if any),
    cached on disk: encoding thousands of documents on 2 cores takes minutes, and the vectors never change for
    the same model, task and sample."""
    import hashlib
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from taskvec.engine import Encoder

    encoder = Encoder(device="cpu")
    texts, queries = scifact_texts(docs, seed=2), scifact_queries()
    key = hashlib.sha256(f"{encoder.space('retrieval').id}:{docs}:{len(queries)}".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("TASKVEC_BENCH_CACHE", "/tmp/taskvec_bench_cache")) / f"scifact-{key}.npz"
    if cache.is_file():
        data = np.load(cache)
        return data["docs"], data["queries"]
    doc_vectors = encoder.encode(texts, "retrieval", "document").vectors
    query_vectors = encoder.encode(queries, "retrieval", "query").vectors
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, docs=doc_vectors, queries=query_vectors)
    return doc_vectors, query_vectors


def run(args: argparse.Namespace) -> dict[str, Any]:
    real = real_embeddings(args.real_docs) if args.real_docs else None
    results: dict[str, Any] = {"sizes": [], "load_at_start": load_average()}
    with tempfile.TemporaryDirectory(prefix="taskvec-search-") as tmp:
        root = Path(tmp)
        for n in args.sizes:
            lance_queries = args.lance_queries if n < 1_000_000 else 3  # seconds each at a million rows
            print(f"search: {n} rows", file=sys.stderr, flush=True)
            results["sizes"].append(bench_size(n, root, lance_queries=lance_queries, queries=args.queries))
            print(json.dumps(results["sizes"][-1]), file=sys.stderr, flush=True)
        if real is not None:
            results["real"] = bench_real(*real, root)
    results["load_at_end"] = load_average()
    return results


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "| rows | LanceDB exact p50 / p99 (reference) | in-memory exact p50 / p99 | IVF p50 / p99 | IVF recall@10 "
        "| IVF nlist / nprobe | p50 speed-up, IVF vs LanceDB | first query: read / read + index |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in r["sizes"]:
        le, me, iv = s["lancedb_exact"], s["memory_exact"], s["memory_ivf"]
        lines.append(
            f"| {s['rows']:,} | {le['p50_ms']:.2f} / {le['p99_ms']:.2f} ms ({le['queries']} q) "
            f"| {me['p50_ms']:.2f} / {me['p99_ms']:.2f} ms | {iv['p50_ms']:.2f} / {iv['p99_ms']:.2f} ms "
            f"| {iv['recall_at_10']:.3f} | {iv['nlist']} / {iv['nprobe']} | {s['speedup_p50_ivf_vs_lancedb']}x "
            f"| {me['first_query_seconds']} s / {iv['first_query_seconds']} s |"
        )
    if "real" in r and r["real"].get("nlist"):
        re = r["real"]
        lines += [
            "",
            f"Real embeddings: {re['rows']:,} SciFact documents searched with all {re['queries']} SciFact queries "
            f"through the IVF index (threshold lowered to at most 1,000 rows; nlist {re['nlist']}, nprobe {re['nprobe']}): "
            f"recall@10 {re['recall_at_10']:.3f} against exact search, p50 {re['p50_ms']:.2f} ms.",
        ]
    return "\n".join(lines)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200, help="queries per in-memory measurement")
    parser.add_argument("--lance-queries", type=int, default=20, help="queries per LanceDB exact measurement")
    parser.add_argument("--real-docs", type=int, default=0, help="also measure IVF recall on N SciFact documents")


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
