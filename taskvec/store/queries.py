"""Queries LanceDB answers: vector search with a filter, full-text search, and the fusion of the two.

Unfiltered vector searches are answered from memory (``taskvec.store.fast_path``); everything with a filter or
keywords comes here. Every query carries the space predicate first, so a filter can never reach another space.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from taskvec.errors import InvalidInputError
from taskvec.options import KEYWORD_WEIGHT
from taskvec.results import SearchHit
from taskvec.spaces import EmbeddingSpace
from taskvec.store.filters import METADATA_COLUMN
from taskvec.store.indexes import DEFAULT_POLICY, VECTOR_INDEX, IndexPolicy, nearest
from taskvec.store.writer import space_clause

# Each ranking of a hybrid search reads at least this deep, and its score spread is measured over this many of its
# best hits whatever the depth: enough hits to place the top ones, and one mapping for every ``limit``.
SPREAD_HITS = 50


def hybrid_depth(limit: int) -> int:
    """How deep each ranking of a hybrid search reads before fusion."""
    return max(limit * 4, SPREAD_HITS)


MAX_LIMIT = 1000  # hits one search may return
# A search for documents (``per_document``) of a chunked collection reads deeper until it has ``limit`` distinct
# documents: each try reads DOCUMENT_DEEPENING times the rows of the last, up to DOCUMENT_READ_ROWS rows.
DOCUMENT_DEEPENING = 4
DOCUMENT_READ_ROWS = 8 * MAX_LIMIT
RESULT_COLUMNS = ["id", "text", METADATA_COLUMN, "parent_id"]  # what a hit holds; each column read costs
# Postfilter first (see ``vector_search``) where the condition admits at least this share of the rows, asking for
# OVERFETCH x limit / share nearest rows so that `limit` of them pass with near certainty. Far below it the
# postfilter reads more rows than the prefilter costs (docs/scaling.md, "A million rows": 2%, 11% and 44%).
POSTFILTER_MIN_SHARE = 0.05
OVERFETCH = 2
# A metadata filter's share is unknown without a scan, and that scan is its prefilter: it is postfiltered first as if
# it admitted this share of the space's rows (``vector_search``).
ASSUMED_FILTER_SHARE = 0.1
QueryVector = np.ndarray | Callable[[], np.ndarray]  # a callable is asked for only once the guard has passed


def where(space: EmbeddingSpace, predicate: str | None) -> str:
    return space_clause(space.id) + (f" AND ({predicate})" if predicate else "")


def vector_condition(space: EmbeddingSpace, predicate: str | None, *, only_space: bool) -> str | None:
    """A vector search's prefilter. The space predicate is left out where the searched version of the collection
    holds rows of no other space: it would admit every row, and prefiltering costs a mask over all of them (half
    of a search's time at a million rows, docs/scaling.md)."""
    if only_space:
        return predicate
    return where(space, predicate)


def hit(row: dict[str, Any], score: float) -> SearchHit:
    meta = row.get(METADATA_COLUMN)
    if isinstance(meta, bytes | str):
        meta = json.loads(meta) if meta else {}
    return SearchHit.model_construct(
        id=row["id"], text=row["text"], score=score, metadata=meta or {}, parent_id=row.get("parent_id")
    )


def vector_search(
    dataset: Any,
    vector: np.ndarray,
    condition: str | None,
    limit: int,
    policy: IndexPolicy = DEFAULT_POLICY,
    *,
    share: float | None = None,
    min_share: float = POSTFILTER_MIN_SHARE,
    metadata_filter: bool = False,
) -> list[SearchHit]:
    """Nearest rows by cosine among those ``condition`` admits; through the vector index where the collection has
    one.

    ``share``, where known, is the fraction of the rows the space predicate admits (the store knows each space's
    row count). From ``min_share`` up the search is first postfiltered: the nearest ``OVERFETCH x limit / share``
    rows of the whole table, then the condition. If ``limit`` of them pass, they are the answer (any admitted row
    left out is farther than all of them); if not, the search runs again prefiltered. Why: Lance's graph search
    under a prefilter costs several times the unfiltered one (at a million rows 20-24 against 6-8 ms for a space of
    44% of the rows, docs/scaling.md), while the postfilter costs a search of a few more neighbours and reading
    them. Below the share, where it is not given, where that depth would pass ``MAX_LIMIT``, or where the table
    has no vector index yet (an exact scan prefiltered reads only the admitted rows, postfiltered every row) the
    prefilter runs first.

    ``metadata_filter``: ``condition`` also holds a metadata filter, whose share is unknown and whose prefilter
    evaluates it on every row of the space (0.33-0.75 s at a million rows, docs/scaling.md). It is postfiltered
    first as if it admitted ``ASSUMED_FILTER_SHARE`` of the space's rows, whatever the space's share, and if too
    few pass, once more from ``MAX_LIMIT`` rows (enough for a filter of a fiftieth of the rows) before the
    prefilter.

    ``dataset`` is the table's Lance dataset, kept open by the store: Lance's own scanner answers faster than
    LanceDB's query builder (10-25% less time at a million rows, docs/scaling.md), and an open dataset keeps its
    index pages cached.
    """
    query = np.asarray(vector, dtype=np.float32)
    if metadata_filter and share is not None:
        share, min_share = share * ASSUMED_FILTER_SHARE, 0.0
    if condition and share is not None and share >= min_share and _has_vector_index(dataset):
        first = math.ceil(OVERFETCH * limit / share)
        depths = [first] if first <= MAX_LIMIT else []
        if metadata_filter and first < MAX_LIMIT:
            depths.append(MAX_LIMIT)  # the assumed share may be too high: one wider try before the scan
        # The refine pass re-scores exactly the rows fetched (factor 1), about OVERFETCH x limit of them admitted
        # (recall@10 0.992-0.995 at a million rows, docs/scaling.md). A larger factor would read limit x factor /
        # share vectors, most of them rows the filter then drops.
        postfilter = replace(policy, refine_factor=1 if policy.refine_factor else None)
        for depth in depths:
            found = _nearest_rows(dataset, query, condition, depth, postfilter, False, keep=limit)
            if len(found) >= limit:
                return found[:limit]
    return _nearest_rows(dataset, query, condition, limit, policy, True if condition else None)


def _has_vector_index(dataset: Any) -> bool:
    return any(index["name"] == VECTOR_INDEX for index in dataset.list_indices())  # the manifest's, in memory


def _nearest_rows(
    dataset: Any,
    query: np.ndarray,
    condition: str | None,
    limit: int,
    policy: IndexPolicy,
    prefilter: bool | None,
    *,
    keep: int | None = None,
) -> list[SearchHit]:
    """The ``limit`` nearest rows, filtered before or after (``prefilter``); ``keep``: read only the first that many
    of those the condition admits (a postfilter then reads no row it would drop)."""
    rows = dataset.to_table(
        nearest=nearest(query, policy, limit),
        filter=condition,
        prefilter=prefilter,
        limit=keep,
        columns=[*RESULT_COLUMNS, "_distance"],
        disable_scoring_autoprojection=True,
    ).to_pylist()
    return [hit(r, 1.0 - float(r["_distance"])) for r in rows]


def text_search(table: Any, text: str, condition: str, limit: int) -> list[SearchHit]:
    """BM25 over the text column. The text is read as plain words (a ``MatchQuery``), never as query syntax: agents
    send questions and error messages, and a leading quote parsed as a phrase query would need word positions the
    index does not keep (so it failed), while ``AND`` or ``title:`` would change what is matched."""
    from lancedb.query import MatchQuery

    if not any(idx.index_type == "FTS" for idx in table.list_indices()):  # a search writes nothing, not even this
        raise InvalidInputError(
            f"Collection {table.name!r} has no full-text index yet (it was written by an older taskvec).",
            field="mode",
            fix=f"Run `taskvec optimize {table.name}` once (it builds the index), or search with mode='vector'.",
        )
    rows = (
        table.search(MatchQuery(text, "text"), query_type="fts")
        .where(condition, prefilter=True)
        .select([*RESULT_COLUMNS, "_score"])
        .limit(limit)
        .to_list()
    )
    return [hit(r, float(r["_score"])) for r in rows]


def document_key(found: SearchHit) -> str:
    """The document a hit stands for: a chunk's parent, or the hit itself."""
    return found.parent_id or found.id


def best_per_document(hits: list[SearchHit]) -> list[SearchHit]:
    """Each document once, as its first (best) hit in ``hits``; the order is kept."""
    seen: set[str] = set()
    kept = []
    for found in hits:
        key = document_key(found)
        if key not in seen:
            seen.add(key)
            kept.append(found)
    return kept


def read_documents(read: Callable[[int], list[SearchHit]], needed: int, depth: int) -> list[SearchHit]:
    """At least ``needed`` documents where the collection has them, each as its best chunk: ``read(rows)`` returns
    the best ``rows`` rows, and is called deeper while the chunks of fewer documents fill them."""
    while True:
        rows = read(depth)
        documents = best_per_document(rows)
        if len(documents) >= needed or len(rows) < depth or depth >= DOCUMENT_READ_ROWS:
            return documents
        depth = min(DOCUMENT_READ_ROWS, depth * DOCUMENT_DEEPENING)


def fuse(
    vector_hits: list[SearchHit],
    text_hits: list[SearchHit],
    limit: int,
    keyword_weight: float = KEYWORD_WEIGHT,
    key: Callable[[SearchHit], str] = lambda found: found.id,
) -> list[SearchHit]:
    """Distribution-based score fusion (Qdrant's DBSF) of a vector ranking and a BM25 ranking.

    Each list's scores are placed on the range its own mean +- 3 standard deviations spans, so a hit that stands out
    from its list counts for more than one of a flat list: BM25 speaks up when a rare word singles a document out and
    keeps quiet when every candidate shares the query's words (an everyday question), which is where reciprocal-rank
    fusion fell below vector search. The fused score is ``(1 - keyword_weight) * vector + keyword_weight * BM25``; a
    document missing from one list gets nothing from it. ``key`` says which hits are the same result (by document:
    :func:`document_key`, where each list holds a document once, its best chunk, and the two may differ); the hit
    shown is the vector list's where it has one.
    """
    scores: dict[str, float] = {}
    first: dict[str, SearchHit] = {}
    for ranking, weight in ((vector_hits, 1.0 - keyword_weight), (text_hits, keyword_weight)):
        for found, value in zip(ranking, spread_scores([h.score for h in ranking]), strict=True):
            scores[key(found)] = scores.get(key(found), 0.0) + weight * value
            first.setdefault(key(found), found)
    order = sorted(scores, key=lambda i: -scores[i])[:limit]
    return [first[i].model_copy(update={"score": scores[i]}) for i in order]


def spread_scores(scores: list[float]) -> list[float]:
    """Scores placed on [mean - 3 sd, mean + 3 sd] of the list's first ``SPREAD_HITS`` (0.5 each where those do not
    vary), so that a score maps to the same value whatever ``limit`` the search asked for."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return []
    best = values[:SPREAD_HITS]
    spread = 6.0 * float(best.std())
    if spread == 0.0:
        return [0.5] * values.size
    return ((values - (best.mean() - spread / 2)) / spread).tolist()
