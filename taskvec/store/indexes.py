"""LanceDB's own indexes on a collection: an ANN index on the vector column and scalar indexes for prefiltering.

Why both this and the in-memory path (``fast_path``): the in-memory copy is the fastest answer for a space that fits
the server's memory budget, but each replica holds its own and it never helps a filtered search. LanceDB's indexes
live with the data (on disk or object storage), are shared by every replica, and answer what memory does not:
spaces over the budget and every filtered search. They are built once a collection is large enough for them to pay
off and kept fresh by ``optimize`` (which folds newly written rows into them), after large writes and on demand.

The vector index is IVF_HNSW_SQ (per IVF partition an HNSW graph over 8-bit scalar-quantised vectors), searched
with ``ef`` 200 and the top ``limit x 5`` candidates re-scored on the full vectors: on clustered 384-dimension
vectors that is recall@10 >= 0.95 where IVF_PQ, 6x smaller, stays far below even with a refine pass
(``benchmarks/lance_index.py``; figures in docs/scaling.md). The index spans every space of the collection; the
``space_id`` predicate keeps each search inside its own space, as a postfilter where the space holds a large share
of the rows and as a prefilter, answered by the bitmap index, where it does not (``queries.vector_search``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

VECTOR_INDEX = "vector_idx"
# IVF_HNSW_SQ: 8 bits a dimension, the default. IVF_PQ: product codes (a byte per 4 dimensions at 384), IVF_RQ:
# RaBitQ binary codes (a bit per dimension); both much smaller, both lean on the refine pass for their recall
# (figures on SciFact in docs/results/compression.md).
VectorIndexKind = Literal["IVF_HNSW_SQ", "IVF_PQ", "IVF_RQ"]
VECTOR_INDEX_KINDS: tuple[str, ...] = VectorIndexKind.__args__
SCALAR_INDEXES = {"space_id": "BITMAP", "id": "BTREE"}  # prefilter by space; merge-by-id for upserts and gets


@dataclass(frozen=True)
class IndexPolicy:
    """When LanceDB's indexes are built and how a search through them trades recall for time."""

    vector_index: VectorIndexKind = "IVF_HNSW_SQ"
    vector_min_rows: int = 100_000  # rows in a collection before the ANN index is built (below: exact scans)
    scalar_min_rows: int = 10_000  # rows before the space and id columns are indexed
    nprobes: int = 32  # IVF partitions searched per query (LanceDB makes one partition per ~100K rows or more)
    ef: int = 200  # HNSW candidate list per partition (>= limit); at 1M rows as fast as 100, recall 0.996 vs 0.964
    refine_factor: int | None = 5  # re-score limit x this many candidates on the full vectors; None: off

    def __post_init__(self) -> None:
        if self.vector_min_rows < 256:  # IVF needs rows to train its partitions on
            raise ValueError("vector_min_rows must be at least 256")


DEFAULT_POLICY = IndexPolicy()


def index_names(table: Any) -> dict[str, str]:
    """Index name -> index type of the table's indexes."""
    return {idx.name: str(idx.index_type) for idx in table.list_indices()}


def has_vector_index(table: Any) -> bool:
    return VECTOR_INDEX in index_names(table)


def missing_indexes(table: Any, policy: IndexPolicy) -> list[str]:
    """The indexes a table of this size should have and does not (cheap: row count and manifest only)."""
    rows = table.count_rows()
    present = index_names(table)
    wanted = [f"{column}_idx" for column in SCALAR_INDEXES] if rows >= policy.scalar_min_rows else []
    if rows >= policy.vector_min_rows:
        wanted.append(VECTOR_INDEX)
    # A vector index of another kind than the policy's (TASKVEC_VECTOR_INDEX changed) is rebuilt as one.
    kind = policy.vector_index.replace("_", "").lower()
    stale = {VECTOR_INDEX} if present.get(VECTOR_INDEX, kind).lower() != kind else set()
    return [name for name in wanted if name not in present or name in stale]


def ensure_indexes(table: Any, policy: IndexPolicy) -> list[str]:
    """Build the indexes ``missing_indexes`` names; returns them. Rows written later join the indexes at the next
    ``table.optimize()``; until then LanceDB scans them exactly, so no row is ever missed."""
    from lancedb.index import IvfHnswSq, IvfPq, IvfRq

    configs = {"IVF_HNSW_SQ": IvfHnswSq, "IVF_PQ": IvfPq, "IVF_RQ": IvfRq}

    built = missing_indexes(table, policy)
    for name in built:
        if name == VECTOR_INDEX:
            # With a typed config, create_index's first argument is the column (its old name, metric, is kept).
            config = configs[policy.vector_index](distance_type="cosine")
            table.create_index("vector", config=config, name=name, replace=True)
        else:
            column = name.removesuffix("_idx")
            table.create_scalar_index(column, index_type=SCALAR_INDEXES[column], name=name, replace=True)
    if built:
        log.info("indexed %r (%d rows): %s", table.name, table.count_rows(), ", ".join(built))
    return built


def nearest(vector: Any, policy: IndexPolicy, limit: int) -> dict[str, Any]:
    """A Lance ``nearest`` query with the policy's recall settings; Lance ignores them where the table has no vector
    index (an exact scan answers then)."""
    candidates = limit * (policy.refine_factor or 1)  # HNSW must find at least as many as the refine pass reads
    query = {"column": "vector", "q": vector, "k": limit, "metric": "cosine", "nprobes": policy.nprobes}
    query["ef"] = max(policy.ef, candidates)
    if policy.refine_factor is not None:
        query["refine_factor"] = policy.refine_factor
    return query
