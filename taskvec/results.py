"""Typed results shared by the command line (printed as JSON) and the MCP tools (their ``outputSchema``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from taskvec.spaces import EmbeddingSpace


class SpaceInfo(BaseModel):
    id: str = Field(description="Short stable id of the embedding space")
    task: str
    description: str = Field(description="Model, adapter, prompts, pooling and dimension of the space")
    model: str
    adapter: str | None = None

    @classmethod
    def of(cls, space: EmbeddingSpace) -> SpaceInfo:
        return cls(id=space.id, task=space.task, description=space.describe(), model=space.model, adapter=space.adapter)


class IndexResult(BaseModel):
    collection: str
    task: str
    space: SpaceInfo
    documents: int = Field(description="Documents received")
    ids: list[str] = Field(
        description="Their ids, in the order sent: the id given, or the one derived from the text where none was"
    )
    rows_written: int = Field(description="Rows written (documents, or their chunks)")
    inserted: int
    updated: int
    removed: int = Field(
        default=0,
        description="Older rows of these documents dropped in the same write (leftover chunks, stale vectors)",
    )
    chunked_documents: int = Field(description="Documents longer than the model's limit, split into chunks")
    chunks: int = Field(description="Chunks made from those documents")
    truncated: int = Field(description="Inputs cut at the model's token limit (chunking off, or an over-long prompt)")
    seconds: float


class SearchHit(BaseModel):
    id: str
    text: str
    score: float = Field(
        description="Cosine similarity (vector mode) or fused score (hybrid: each list's scores placed on its own "
        "spread, then weighted)"
    )
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = Field(default=None, description="The document this chunk belongs to, for chunks")
    rerank_score: float | None = Field(
        default=None, description="The reranker's score (reranked searches only; hits are ordered by it)"
    )
    first_stage_rank: int | None = Field(
        default=None, description="Reranked searches: the hit's rank (1 = best) before reranking"
    )


class RerankerInfo(BaseModel):
    """What made rerank scores, as ``SpaceInfo`` says what made vectors."""

    id: str = Field(description="Short stable id of the reranker: model, weights and adapter fingerprints")
    task: str
    kind: str = Field(description="'adapter' (taskvec's backbone + rerank adapter) or 'cross-encoder' (a folder)")
    description: str
    model: str
    model_fingerprint: str
    adapter: str | None = None
    adapter_fingerprint: str | None = None

    @classmethod
    def of(cls, identity: Any) -> RerankerInfo:
        return cls(
            id=identity.id,
            task=identity.task,
            kind=identity.kind,
            description=identity.describe(),
            model=identity.model,
            model_fingerprint=identity.model_fingerprint,
            adapter=identity.adapter,
            adapter_fingerprint=identity.adapter_fingerprint,
        )


class SearchResult(BaseModel):
    collection: str
    query: str
    task: str
    mode: str
    keyword_weight: float | None = Field(default=None, description="Hybrid searches: BM25's share of the fused score")
    per_document: bool = Field(
        default=True, description="Each document at most once, as its best-matching chunk (false: every chunk a hit)"
    )
    space: SpaceInfo
    hits: list[SearchHit]
    reranker: RerankerInfo | None = Field(default=None, description="Reranked searches: the second stage")
    candidates: int | None = Field(default=None, description="Reranked searches: first-stage hits reranked")


class RankedText(BaseModel):
    index: int = Field(description="Position of the text in the request")
    text: str
    score: float = Field(description="The reranker's score: higher is more relevant to the query")


class RerankResult(BaseModel):
    query: str
    reranker: RerankerInfo
    results: list[RankedText] = Field(description="The texts by descending score (the best `limit` of them)")
    truncated: int = Field(description="Pairs cut at the reranker's token limit (the document's end is lost)")


class LabelScore(BaseModel):
    label: str
    score: float


class TextClassification(BaseModel):
    index: int = Field(description="Position of the text in the request")
    text: str
    label: str = Field(description="The best label")
    score: float
    scores: list[LabelScore] = Field(description="Labels by descending score (top_k of them)")


class ClassifyResult(BaseModel):
    task: str
    method: str = Field(description="zero-shot, centroid or knn")
    space: SpaceInfo
    labels: list[str]
    results: list[TextClassification]


class ClusterMember(BaseModel):
    id: str
    text: str


class Cluster(BaseModel):
    cluster: int
    size: int
    representative: ClusterMember = Field(description="The member closest to the cluster's centre")
    members: list[ClusterMember]


class ClusterResult(BaseModel):
    task: str
    k: int
    k_chosen_by: str = Field(description="'given' or 'silhouette'")
    space: SpaceInfo
    clusters: list[Cluster]


class SpaceCountInfo(BaseModel):
    space: SpaceInfo
    rows: int


class CollectionDescription(BaseModel):
    name: str
    rows: int
    dimension: int
    spaces: list[SpaceCountInfo]


class CollectionList(BaseModel):
    store: str
    collections: list[CollectionDescription]


class DeleteResult(BaseModel):
    collection: str
    deleted: int


class DropResult(BaseModel):
    collection: str
    dropped_rows: int = Field(description="Rows the collection held (one per document, or chunk, per task)")


class StoredDocument(BaseModel):
    id: str
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = Field(default=None, description="The document this chunk belongs to, for chunks")
    tasks: list[str] = Field(description="Tasks this document has vectors in (search it with one of these)")


class DocumentsResult(BaseModel):
    collection: str
    documents: list[StoredDocument]
    missing: list[str] = Field(
        default_factory=list, description="Requested ids that match no document (nor chunk) in the collection"
    )
    next_offset: int | None = Field(
        default=None, description="Pass as offset to read the next page; null when there is none"
    )


class TaskInfo(BaseModel):
    name: str
    kind: str
    description: str
    symmetric: bool
    query_prompt: str
    document_prompt: str
    adapter: str | None = Field(
        description="The LoRA adapter: '<model>/<task> (shipped)', or its folder relative to the tasks file"
    )
    status: str = Field(
        description="What the task runs with by default: adapter, prompt or bare (the ship rule on the held-out "
        "panel, docs/panel.md); unchecked (no panel verdict); custom (a tasks file)"
    )
    why: str = Field(description="Why it runs that way: the panel figures that decided it")
    blend: float | None = Field(
        default=None,
        description="Set where the adapter is blended with the bare model: the adapter's share (vectors of twice "
        "the model's width; README, taskvec/engine/blend.py)",
    )
    space_id: str


class TaskList(BaseModel):
    model: str
    prompt_source: str
    tasks: list[TaskInfo]
