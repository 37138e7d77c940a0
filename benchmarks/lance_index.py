"""LanceDB's own indexes, as the store uses them for spaces over its memory budget and for filtered searches.

At each size, on clustered synthetic vectors (384 dimensions, as all-MiniLM-L6-v2's; see ``benchmarks/search.py``):
build time and on-disk size of each vector index kind the store offers (IVF_HNSW_SQ, IVF_PQ), then ``Store.search``
p50/p99 and recall@10 against exact search with the refine pass off and at several factors (the default is 5), on
a collection of one space (searched without a space prefilter); the same searches prefiltered by space, as on a
collection of several spaces, with and without the bitmap index on the space column, and through LanceDB's query
builder (the store's path before it kept a Lance dataset open); searches of a space that holds part of the rows
(44%, 11%, 2%), prefiltered and by the store's plan, in turns; searches with a metadata filter admitting 50%, 10%
and 2% of the rows (every row has ``{"group": i % 50}``), prefiltered and by the store's plan, in turns; and, as
the references of the same run, LanceDB's exact scan and the store's in-memory path with the bytes it holds per
million rows. Last, the resident memory of a fresh process that holds the store and answers the same searches
through each path (no model loaded: the model's own memory is in docs/results/performance.md).

    python benchmarks/lance_index.py --rows 100000 1000000
    python benchmarks/lance_index.py --rows 1000000 --root /tmp/lance-1m   # keep the data; a rerun reuses it
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import bench_main, load_average, ratio
from benchmarks.search import SPACE, clustered, exact_ids, fill, latency, recall, timed_queries
from taskvec.results import SearchHit
from taskvec.store import IndexPolicy, Store
from taskvec.store.filters import compile_filter
from taskvec.store.queries import POSTFILTER_MIN_SHARE, RESULT_COLUMNS, vector_search, where

KINDS = ("IVF_HNSW_SQ", "IVF_PQ")


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _rss_child(uri: str, budget: int | None, queries: np.ndarray, out: Any) -> None:
    """In a fresh process: open the store, answer ``queries``, report resident memory (current and peak, MiB)."""
    store = Store(uri, memory_budget=budget)
    for q in queries:
        store.search("c", SPACE, q, limit=10)
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    out.put(
        {
            key: round(int(status[field].split()[0]) / 1024)
            for key, field in (("rss_mib", "VmRSS"), ("peak_mib", "VmHWM"))
        }
    )


def process_rss(uri: str, budget: int | None, queries: np.ndarray) -> dict[str, int]:
    """Resident memory of a process serving searches from the store at ``uri`` (``budget``: its memory budget;
    None for the machine's default, 0 to answer every search from LanceDB's index)."""
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of this process's arrays
    out = spawn.Queue()
    child = spawn.Process(target=_rss_child, args=(uri, budget, queries, out))
    child.start()
    result = out.get()
    child.join()
    return result


def builder_queries(table: Any, queries: np.ndarray, policy: IndexPolicy, k: int = 10) -> list[float]:
    """The same indexed searches through LanceDB's query builder, as the store asked them before it kept a Lance
    dataset open (the reference for that change): seconds per query."""
    condition, seconds = where(SPACE, None), []
    for q in queries:
        start = time.perf_counter()
        query = table.search(q, vector_column_name="vector").distance_type("cosine").nprobes(policy.nprobes)
        query = query.ef(max(policy.ef, k * policy.refine_factor)).refine_factor(policy.refine_factor)
        query.where(condition, prefilter=True).select([*RESULT_COLUMNS, "_distance"]).limit(k).to_list()
        seconds.append(time.perf_counter() - start)
    return seconds


def exact_scan_queries(folder: Path, queries: np.ndarray, k: int = 10) -> tuple[list[float], list[list[str]]]:
    """LanceDB's exact scan (no index used, even where the kept collection of --root has one): seconds and ids."""
    import lance

    dataset, seconds, found = lance.dataset(str(folder / "c.lance")), [], []
    for q in queries:
        start = time.perf_counter()
        nearest = {"column": "vector", "q": q, "k": k, "metric": "cosine", "use_index": False}
        table = dataset.to_table(nearest=nearest, columns=["id"], disable_scoring_autoprojection=True)
        found.append(table["id"].to_pylist())
        seconds.append(time.perf_counter() - start)
    return seconds, found


def prefiltered_queries(
    store: Store,
    queries: np.ndarray,
    truth: list[set[str]],
    k: int = 10,
    *,
    condition: str | None = None,
    share: float | None = None,
) -> dict[str, Any]:
    """Indexed searches under a condition (default: the space predicate, prefiltered, as on a collection of several
    spaces whose share of the rows is not given), as the store runs them: latency and recall. ``share``: the
    fraction of rows the condition admits, which lets the search postfilter first (``vector_search``)."""
    dataset, condition = store.db.open_table("c").to_lance(), condition or where(SPACE, None)
    vector_search(dataset, queries[0], condition, k, store.indexes, share=share)  # warm the index cache
    seconds, found = [], []
    for q in queries:
        start = time.perf_counter()
        found.append([h.id for h in vector_search(dataset, q, condition, k, store.indexes, share=share)])
        seconds.append(time.perf_counter() - start)
    return {**latency(seconds), "recall_at_10": round(recall(found, truth), 4)}


Plan = Callable[[np.ndarray], list[SearchHit]]


def in_turns(plans: dict[str, Plan], queries: np.ndarray, truth: list[set[str]]) -> dict[str, dict[str, Any]]:
    """Each plan's searches, in turns query by query (the first query warms the caches and is not counted): latency
    and recall@10 against ``truth`` per plan."""
    seconds: dict[str, list[float]] = {name: [] for name in plans}
    found: dict[str, list[list[str]]] = {name: [] for name in plans}
    for q in [queries[0], *queries]:
        for name, search in plans.items():
            start = time.perf_counter()
            hits = search(q)
            seconds[name].append(time.perf_counter() - start)
            found[name].append([h.id for h in hits])
    return {
        name: {**latency(seconds[name][1:]), "recall_at_10": round(recall(found[name][1:], truth), 4)} for name in plans
    }


# A collection of several spaces, emulated on the one-space collection: the searched space is the rows whose id sorts
# below a bound ('5': 44% of the rows, '2': 11%, '12': 2%), a condition both of whose parts LanceDB answers from an
# index (the space's bitmap, the id's B-tree), as it answers the space predicate of a real second space.
PART_SPACES = ("5", "2", "12")


def part_space_queries(store: Store, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> list[dict[str, Any]]:
    """Searches of a space that holds part of the collection's rows, per share: prefiltered (the store's plan before
    it knew each space's share), postfiltered first at any share, and by the store's plan now (postfiltered first
    from ``POSTFILTER_MIN_SHARE``), in turns query by query; latency and recall against the exact answer within the
    space."""
    dataset = store.db.open_table("c").to_lance()
    ids = np.array([str(i) for i in range(len(vectors))])
    out = []
    for bound in PART_SPACES:
        positions = np.flatnonzero(ids < bound)
        within = exact_ids(vectors[positions], queries, k)  # positions among the space's rows
        truth = [{str(positions[int(i)]) for i in found} for found in within]
        condition, share = f"{where(SPACE, None)} AND id < '{bound}'", len(positions) / len(vectors)

        def plan(known: float | None, least: float, c: str = condition) -> Plan:  # share given, least to postfilter
            return lambda q: vector_search(dataset, q, c, k, store.indexes, share=known, min_share=least)

        plans = {  # the store's plan, and each plan forced
            "prefiltered": plan(None, POSTFILTER_MIN_SHARE),
            "postfiltered_first": plan(share, 0.0),
            "store_plan": plan(share, POSTFILTER_MIN_SHARE),
        }
        out.append({"share": round(share, 4), **in_turns(plans, queries, truth)})
    return out


# Metadata filters on the collection's {"group": i % GROUPS}: a filter admitting 50%, 10% and 2% of the rows.
GROUPS = 50
METADATA_FILTERS = ({"group": {"$lt": 25}}, {"group": {"$lt": 5}}, {"group": 0})


def metadata_filter_queries(
    store: Store, vectors: np.ndarray, queries: np.ndarray, k: int = 10
) -> list[dict[str, Any]]:
    """Searches with a metadata filter, per share of the rows it admits: prefiltered (the store's plan before it
    postfiltered metadata filters first) and ``Store.search`` (the store's plan now), in turns query by query;
    latency and recall against the exact answer among the admitted rows."""
    dataset = store.db.open_table("c").to_lance()
    group = np.arange(len(vectors)) % GROUPS
    out = []
    for metadata_filter in METADATA_FILTERS:
        bound = metadata_filter["group"]
        positions = np.flatnonzero(group < bound["$lt"] if isinstance(bound, dict) else group == bound)
        within = exact_ids(vectors[positions], queries, k)
        truth = [{str(positions[int(i)]) for i in found} for found in within]
        condition = compile_filter(metadata_filter)  # as the store asks it of a collection of one space
        plans: dict[str, Plan] = {
            "prefiltered": lambda q, c=condition: vector_search(dataset, q, c, k, store.indexes),
            "store_plan": lambda q, f=metadata_filter: store.search("c", SPACE, q, limit=k, filter=f),
        }
        share = round(len(positions) / len(vectors), 4)
        out.append({"filter": metadata_filter, "share": share, **in_turns(plans, queries, truth)})
    return out


def bench_rows(
    n: int, root: Path, *, queries: int, exact_queries: int, refine: list[int], kinds: list[str], efs: list[int]
) -> dict[str, Any]:
    topics = max(10, n // 2000)
    vectors, qs = clustered(n, 1, topics), clustered(queries, 2, topics)
    truth = exact_ids(vectors, qs)
    out: dict[str, Any] = {"rows": n, "load_at_start": load_average(), "kinds": {}}
    for kind in kinds:
        folder = root / f"{kind}-{n}"
        built_before = folder / "build.json"  # a kept root (--root) holds the collection and its build's record
        never = IndexPolicy(vector_index=kind, vector_min_rows=n + 1, scalar_min_rows=n + 1)
        store = Store(folder, memory_budget=0, indexes=never)
        if not built_before.is_file():
            fill(store, "c", vectors, groups=GROUPS)
        if kind == kinds[0]:  # the references, once: LanceDB's exact scan and the in-memory path
            seconds, found = exact_scan_queries(folder, qs[:exact_queries])
            out["lancedb_exact"] = {**latency(seconds), "recall_at_10": round(recall(found, truth[:exact_queries]), 4)}
            memory = Store(store.uri)
            memory.search("c", SPACE, qs[0])
            seconds, found = timed_queries(memory, "c", qs)
            held = memory._snapshots.resident
            out["in_memory"] = {**latency(seconds), "bytes_per_million_rows": round(held / n * 1e6)}
        store.indexes = replace(never, vector_min_rows=256, scalar_min_rows=256)
        if built_before.is_file():
            row: dict[str, Any] = {**json.loads(built_before.read_text()), "reused": True}
            store.optimize("c")  # the space index the last run dropped
        else:
            start = time.perf_counter()
            report = store.optimize("c")
            row = {"build_seconds": round(time.perf_counter() - start, 1), "built": report["indexes_built"]}
            row["index_bytes_per_million_rows"] = round(folder_bytes(folder / "c.lance" / "_indices") / n * 1e6)
            built_before.write_text(json.dumps(row))  # sizes after the build: a rerun's rebuilt space index adds files
        row["by_refine"] = {}
        for factor in refine:
            store.indexes = replace(store.indexes, refine_factor=factor or None)
            store.search("c", SPACE, qs[0])  # warm the index cache
            seconds, found = timed_queries(store, "c", qs)
            row["by_refine"][factor] = {**latency(seconds), "recall_at_10": round(recall(found, truth), 4)}
        store.indexes = replace(store.indexes, refine_factor=IndexPolicy().refine_factor)
        row["by_ef"] = {}
        for ef in efs:  # HNSW's candidate list, at the default refine factor
            store.indexes = replace(store.indexes, ef=ef)
            seconds, found = timed_queries(store, "c", qs)
            row["by_ef"][ef] = {**latency(seconds), "recall_at_10": round(recall(found, truth), 4)}
        store.indexes = replace(store.indexes, ef=IndexPolicy().ef)
        row["prefiltered"] = prefiltered_queries(store, qs, truth)
        row["spaces_of_part"] = part_space_queries(store, vectors, qs)
        row["metadata_filters"] = metadata_filter_queries(store, vectors, qs)
        table = store.db.open_table("c")
        row["lancedb_query_builder"] = latency(builder_queries(table, qs, store.indexes))
        table.drop_index("space_id_idx")  # the same prefiltered searches, the space predicate now a scan
        row["without_space_index"] = prefiltered_queries(store, qs, truth)
        if kind == kinds[0]:
            row["process_rss"] = {
                "in_memory": process_rss(store.uri, None, qs),
                "lancedb_index": process_rss(store.uri, 0, qs),
            }
        out["kinds"][kind] = row
    out["load_at_end"] = load_average()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"sizes": []}
    with tempfile.TemporaryDirectory(prefix="taskvec-lance-index-") as tmp:
        root = args.root or Path(tmp)
        for n in args.rows:
            print(f"lance_index: {n} rows in {root}", file=sys.stderr, flush=True)
            results["sizes"].append(
                bench_rows(
                    n,
                    root,
                    queries=args.queries,
                    exact_queries=args.exact_queries,
                    refine=args.refine,
                    kinds=args.kinds,
                    efs=args.ef,
                )
            )
    return results


def markdown(r: dict[str, Any]) -> str:
    default = IndexPolicy().refine_factor
    lines = [
        "| rows | path | build | index size per 1M rows | p50 / p99 | recall@10 | p50 vs LanceDB exact |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for s in r["sizes"]:
        exact, memory = s["lancedb_exact"], s["in_memory"]
        lines.append(
            f"| {s['rows']:,} | LanceDB exact scan (reference) | | | {exact['p50_ms']:.2f} / {exact['p99_ms']:.2f} ms "
            f"| {exact['recall_at_10']:.3f} | 1 |"
        )
        lines.append(
            f"| {s['rows']:,} | in memory (within the budget) | | {memory['bytes_per_million_rows'] / 2**20:,.0f} MiB "
            f"held | {memory['p50_ms']:.2f} / {memory['p99_ms']:.2f} ms | 1.000 "
            f"| {ratio(memory['p50_ms'], exact['p50_ms'])} |"
        )
        for kind, k in s["kinds"].items():
            for factor, q in k["by_refine"].items():
                mark = " (default)" if int(factor) == default else ""
                lines.append(
                    f"| {s['rows']:,} | {kind}, refine {int(factor) or 'off'}{mark}, one space | {k['build_seconds']} s "
                    f"| {k['index_bytes_per_million_rows'] / 2**20:,.0f} MiB | {q['p50_ms']:.2f} / {q['p99_ms']:.2f} ms "
                    f"| {q['recall_at_10']:.3f} | {ratio(q['p50_ms'], exact['p50_ms'])} |"
                )

            for ef, q in k.get("by_ef", {}).items():
                lines.append(
                    f"| {s['rows']:,} | {kind}, refine {default}, one space, ef {ef} | | | {q['p50_ms']:.2f} / "
                    f"{q['p99_ms']:.2f} ms | {q['recall_at_10']:.3f} | {ratio(q['p50_ms'], exact['p50_ms'])} |"
                )
            variants = [
                (
                    "prefiltered by the space predicate (the store's plan for several spaces before it knew their"
                    " shares)",
                    k.get("prefiltered"),
                )
            ]
            variants.append(
                (
                    "prefiltered, through LanceDB's query builder (the store's path before it kept a Lance dataset open)",
                    k.get("lancedb_query_builder"),
                )
            )
            variants.append(("prefiltered by space without its bitmap index", k.get("without_space_index")))
            for part in k.get("spaces_of_part", []):
                share = f"a space of {part['share']:.1%} of the rows"
                plan = "postfiltered first" if part["share"] >= POSTFILTER_MIN_SHARE else "prefiltered"
                variants.append((f"{share}, prefiltered", part["prefiltered"]))
                variants.append((f"{share}, postfiltered first", part.get("postfiltered_first")))
                variants.append((f"{share}, the store's plan ({plan})", part["store_plan"]))
            for part in k.get("metadata_filters", []):
                share = f"a metadata filter admitting {part['share']:.0%} of the rows"
                variants.append((f"{share}, prefiltered", part["prefiltered"]))
                variants.append((f"{share}, the store's plan", part["store_plan"]))
            for label, q in variants:
                if q is None:
                    continue
                cell = f"{q['recall_at_10']:.3f}" if "recall_at_10" in q else ""
                lines.append(
                    f"| {s['rows']:,} | {kind}, refine {default}, {label} | | | {q['p50_ms']:.2f} / {q['p99_ms']:.2f} "
                    f"ms | {cell} | {ratio(q['p50_ms'], exact['p50_ms'])} |"
                )
        for kind, k in s["kinds"].items():
            for path, m in k.get("process_rss", {}).items():
                where = "in memory (within the budget)" if path == "in_memory" else f"{kind} (budget 0)"
                lines.append(
                    f"| {s['rows']:,} | resident memory of a process serving the searches {where} | | | "
                    f"{m['rss_mib']:,} MiB (peak {m['peak_mib']:,}) | | |"
                )
        lines.append("")
        lines.append(
            f"1-minute load {s['load_at_start']} at the start, {s['load_at_end']} at the end of {s['rows']:,} rows."
        )
    return "\n".join(lines)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=100, help="queries per indexed measurement")
    parser.add_argument("--exact-queries", type=int, default=10, help="queries for LanceDB's exact scan")
    parser.add_argument("--refine", type=int, nargs="+", default=[0, 5, 20], help="refine factors (0: off)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="vector index kinds to build")
    parser.add_argument(
        "--ef", type=int, nargs="*", default=[], help="HNSW candidate lists to compare (refine default)"
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="keep the collections here (default: a temporary folder); a later run with the same --root and sizes "
        "reuses them and their recorded build time instead of filling and indexing again",
    )


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
