"""The ``search`` and ``similar`` tools: nearest documents in the query's embedding space."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from taskvec.control import CallControl
from taskvec.options import DEFAULT_CANDIDATES, KEYWORD_WEIGHT, MAX_CANDIDATES
from taskvec.results import SearchResult
from taskvec.store.queries import MAX_LIMIT
from taskvec.tools.common import CollectionField, FilterField, task_field
from taskvec.tools.spec import ToolInput, ToolSpec, read_only

if TYPE_CHECKING:
    from taskvec.service import TaskvecService


class SearchInput(ToolInput):
    query: str = Field(description="The question or text to search for")
    collection: CollectionField
    task: str = task_field("retrieval")
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT, description="How many hits to return")
    filter: FilterField
    mode: Literal["vector", "hybrid"] = Field(
        default="vector",
        description="'vector': cosine similarity; 'hybrid': vector + BM25 keywords, score-fused (hit scores are then "
        "fusion scores, not cosines). Hybrid helps where exact terms, names or numbers carry the match; on some "
        "natural-language question sets it measured below 'vector' (docs/hybrid.md)",
    )
    keyword_weight: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=f"mode='hybrid' only: BM25's share of the fused score, 0..1 (default {KEYWORD_WEIGHT}); raise it "
        "where exact words decide (codes, names, jargon), lower it for questions in everyday words",
    )
    rerank: bool | str = Field(
        default=False,
        description="Rescore the first stage's top candidates with a cross-encoder (slower, reads query and document "
        "together): true for the default rerank task, or a rerank task's name (see taskvec://tasks). A rerank adapter "
        "scores by the vectors' cosine plus its head, so over mode='hybrid' it drops the keyword evidence; rerank a "
        "hybrid search with a CrossEncoder task",
    )
    candidates: int = Field(
        default=DEFAULT_CANDIDATES, ge=1, le=MAX_CANDIDATES, description="With rerank: first-stage hits to rescore"
    )
    per_document: bool = Field(
        default=True,
        description="A long document indexed as chunks comes back once, as its best-matching chunk (its id "
        "'<doc>#<n>', parent_id the document), so `limit` hits are `limit` documents; false returns every matching "
        "chunk as a hit of its own",
    )


def _search(service: TaskvecService, params: SearchInput, control: CallControl) -> SearchResult:
    return service.search(
        params.query,
        params.collection,
        params.task,
        limit=params.limit,
        filter=params.filter,
        mode=params.mode,
        keyword_weight=params.keyword_weight,
        rerank=params.rerank or None,
        candidates=params.candidates,
        per_document=params.per_document,
        control=control,
    )


SEARCH = ToolSpec(
    name="search",
    title="Search a collection",
    description=(
        "Find the documents of a collection nearest to a query, embedded with the query prompt and adapter of "
        "the task. Use the same task the collection was indexed with: a search in another embedding space is "
        "refused with an error that lists the tasks the collection holds (see describe_collection). Filter on "
        "metadata with a JSON filter; mode='hybrid' adds keyword matching; rerank=true rescores the top candidates "
        "with a cross-encoder (hits then carry rerank_score beside the first-stage score). Returns hits with id, "
        "text, score and metadata, one per document: a long document indexed as chunks comes back as its best chunk "
        "(per_document=false: every chunk)."
    ),
    input_model=SearchInput,
    output_model=SearchResult,
    annotations=read_only("Search a collection"),
    handler=_search,
)


class SimilarInput(ToolInput):
    text: str = Field(description="The text to find near-duplicates or paraphrases of")
    collection: CollectionField
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT, description="How many hits to return at most")
    threshold: float | None = Field(
        default=None, ge=-1, le=1, description="Keep only hits with cosine similarity at least this (e.g. 0.9)"
    )
    filter: FilterField
    task: str = task_field("similarity")


def _similar(service: TaskvecService, params: SimilarInput, control: CallControl) -> SearchResult:
    return service.similar(
        params.text,
        params.collection,
        limit=params.limit,
        threshold=params.threshold,
        task=params.task,
        filter=params.filter,
    )


SIMILAR = ToolSpec(
    name="similar",
    title="Find similar texts",
    description=(
        "Find near-duplicates and paraphrases of a text in a collection under the symmetric 'similarity' task. "
        "The collection must have been indexed with task='similarity' (index it again with that task if the "
        "error says so). Optionally keep only hits above a cosine threshold."
    ),
    input_model=SimilarInput,
    output_model=SearchResult,
    annotations=read_only("Find similar texts"),
    handler=_similar,
)
