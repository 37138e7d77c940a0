"""The service: what taskvec does, joining one Encoder and one Store. The CLI and the MCP tools both call this.

Every method validates its whole input before it encodes or writes anything, so bad input costs nothing and loses
nothing; writes go through ``Store.transaction`` so a failure half-way leaves the collection as it was.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from taskvec.analysis.classify import FEW_SHOT_METHODS, centroid_scores, check_labels, knn_scores, zero_shot_scores
from taskvec.analysis.cluster import cluster_vectors
from taskvec.engine import Encoder, EncodeResult
from taskvec.engine.queue import EncodeQueue
from taskvec.engine.tasks import Role, Task
from taskvec.errors import InvalidInputError
from taskvec.ingest.chunking import ChunkingOptions, chunk_documents
from taskvec.results import (
    ClassifyResult,
    Cluster,
    ClusterMember,
    ClusterResult,
    CollectionDescription,
    CollectionList,
    DeleteResult,
    IndexResult,
    LabelScore,
    SearchHit,
    SearchResult,
    SpaceCountInfo,
    SpaceInfo,
    TaskInfo,
    TaskList,
    TextClassification,
)
from taskvec.store import Document, Store, check_collection_name, validate_documents

Progress = Callable[[int, int], None]  # (done, total)
WRITE_BLOCK = 512  # documents encoded and written per step of a large index call


class TaskvecService:
    def __init__(
        self,
        encoder: Encoder,
        store: Store,
        *,
        max_documents: int = 2048,
        query_cache_size: int = 1024,
        queue: EncodeQueue | None = None,
    ):
        self.encoder = encoder
        self.store = store
        self.queue = queue  # when set, every encode goes through it, so concurrent calls share forward passes
        self.max_documents = max_documents
        self._query_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._query_cache_size = query_cache_size
        self._query_cache_lock = threading.Lock()  # tool calls run on several threads at once

    def encode(self, texts: Sequence[str], task: Task, role: Role) -> EncodeResult:
        """Encode through the server's queue when there is one, else directly."""
        if self.queue is not None:
            return self.queue.encode(texts, task, role)
        return self.encoder.encode(texts, task, role)

    # ---------------------------------------------------------------------------------------------- tasks
    def task(self, name: str) -> Task:
        if not isinstance(name, str):
            raise InvalidInputError("task must be a string.", field="task", fix="Pass a task name, e.g. 'retrieval'.")
        return self.encoder.tasks[name]

    def tasks(self) -> TaskList:
        infos = []
        for name in self.encoder.tasks:
            t = self.encoder.tasks[name]
            infos.append(TaskInfo(**{k: v for k, v in t.to_dict().items()}, space_id=self.encoder.space(t).id))
        return TaskList(model=self.encoder.model_name, prompt_source=self.encoder.profile.source, tasks=infos)

    # ---------------------------------------------------------------------------------------------- index
    def index(
        self,
        collection: str,
        documents: Sequence[dict[str, Any] | Document],
        task: str = "retrieval",
        *,
        chunking: ChunkingOptions | None = None,
        progress: Progress | None = None,
        max_documents: int | None = None,
    ) -> IndexResult:
        """Embed ``documents`` with the task's document role and upsert them by id. All or nothing."""
        start = time.perf_counter()
        check_collection_name(collection)
        t = self.task(task)
        docs = validate_documents(documents, max_batch=max_documents or self.max_documents)
        chunking = chunking or ChunkingOptions()
        rows, chunked, chunks = docs, 0, 0
        if chunking.enabled:
            rows, chunked, chunks = chunk_documents(
                docs, self.encoder.tokenizer, self._chunk_tokens(t, chunking), chunking.overlap
            )
        space = self.encoder.space(t)
        inserted = updated = truncated = 0
        with self.store.transaction(collection):
            for begin in range(0, len(rows), WRITE_BLOCK):
                block = rows[begin : begin + WRITE_BLOCK]
                encoded = self.encode([d.text for d in block], t, "document")
                truncated += encoded.truncated
                written = self.store.upsert(collection, block, encoded.vectors, space)
                inserted, updated = inserted + written.inserted, updated + written.updated
                if progress:
                    progress(min(begin + len(block), len(rows)), len(rows))
        return IndexResult(
            collection=collection,
            task=t.name,
            space=SpaceInfo.of(space),
            documents=len(docs),
            rows_written=len(rows),
            inserted=inserted,
            updated=updated,
            chunked_documents=chunked,
            chunks=chunks,
            truncated=truncated,
            seconds=round(time.perf_counter() - start, 3),
        )

    def _chunk_tokens(self, task: Task, chunking: ChunkingOptions) -> int:
        """Room left for text once the prompt and the special tokens are in."""
        prompt_tokens = len(self.encoder.tokenizer(task.document_prompt, add_special_tokens=True)["input_ids"])
        room = self.encoder.max_seq_length - prompt_tokens
        return max(16, min(chunking.max_tokens or room, room))

    # --------------------------------------------------------------------------------------------- search
    def search(
        self,
        query: str,
        collection: str,
        task: str = "retrieval",
        *,
        limit: int = 10,
        filter: str | dict | None = None,
        mode: str = "vector",
    ) -> SearchResult:
        t = self.task(task)
        _check_query(query)
        space = self.encoder.space(t)
        self.store.guard(collection, space)  # refuse before spending an encode on a query that cannot be answered
        vector = self.embed_query(query, t)
        hits = self.store.search(collection, space, vector, limit=limit, filter=filter, text=query, mode=mode)
        return SearchResult(
            collection=collection,
            query=query,
            task=t.name,
            mode=mode,
            space=SpaceInfo.of(space),
            hits=[
                SearchHit(id=h.id, text=h.text, score=h.score, metadata=h.metadata, parent_id=h.parent_id) for h in hits
            ],
        )

    def embed_query(self, query: str, task: Task) -> np.ndarray:
        """The query's vector, from a small LRU cache keyed by (space, text): agents repeat queries."""
        key = (self.encoder.space(task).id, query)
        with self._query_cache_lock:
            cached = self._query_cache.get(key)
            if cached is not None:
                self._query_cache.move_to_end(key)
                return cached
        vector = self.encode([query], task, "query").vectors[0]
        if self._query_cache_size:
            with self._query_cache_lock:
                self._query_cache[key] = vector
                if len(self._query_cache) > self._query_cache_size:
                    self._query_cache.popitem(last=False)
        return vector

    def similar(
        self,
        text: str,
        collection: str,
        *,
        limit: int = 10,
        threshold: float | None = None,
        task: str = "similarity",
        filter: str | dict | None = None,
    ) -> SearchResult:
        """Near-duplicates of ``text`` under the (symmetric) similarity task, optionally above a cosine threshold."""
        result = self.search(text, collection, task, limit=limit, filter=filter)
        if threshold is not None:
            result.hits = [h for h in result.hits if h.score >= threshold]
        return result

    # ------------------------------------------------------------------------------------------- classify
    def classify(
        self,
        texts: Sequence[str],
        *,
        labels: list[str] | dict[str, str] | None = None,
        collection: str | None = None,
        task: str = "classification",
        top_k: int | None = None,
        method: str = "centroid",
        label_field: str = "label",
        k_neighbours: int = 10,
    ) -> ClassifyResult:
        """Zero-shot against ``labels``, or few-shot from the labelled examples in ``collection``."""
        t = self.task(task)
        texts = self._check_texts(texts)
        if (labels is None) == (collection is None):
            raise InvalidInputError(
                "Give either labels (zero-shot) or collection (few-shot), not both or neither.",
                field="labels",
                fix="Pass labels=[...] or collection='name-of-labelled-set'.",
            )
        space = self.encoder.space(t)
        if labels is not None:
            names, label_texts = check_labels(labels)
            vectors = self.encode([*texts, *label_texts], t, "query").vectors
            scores, used = zero_shot_scores(vectors[: len(texts)], vectors[len(texts) :]), "zero-shot"
        else:
            if method not in FEW_SHOT_METHODS:
                raise InvalidInputError(
                    f"Unknown method {method!r}.", field="method", fix=f"Use one of {', '.join(FEW_SHOT_METHODS)}."
                )
            hits, examples = self.store.fetch(collection, space)
            keep = [i for i, h in enumerate(hits) if h.metadata.get(label_field) not in (None, "")]
            if not keep:
                raise InvalidInputError(
                    f"No document in collection {collection!r} has a {label_field!r} metadata value.",
                    field="label_field",
                    fix=f"Index labelled examples with metadata {{{label_field!r}: ...}} under task {t.name!r}, "
                    "or name the metadata key that holds the label with label_field.",
                )
            example_labels = [str(hits[i].metadata[label_field]) for i in keep]
            names = sorted(set(example_labels))
            queries = self.encode(texts, t, "query").vectors
            if method == "centroid":
                scores = centroid_scores(queries, examples[keep], example_labels, names)
            else:
                scores = knn_scores(queries, examples[keep], example_labels, names, k_neighbours)
            used = method
        k = len(names) if top_k is None else max(1, min(int(top_k), len(names)))
        results = []
        for i, row in enumerate(scores):
            order = np.argsort(-row)[:k]
            ranked = [LabelScore(label=names[j], score=float(row[j])) for j in order]
            results.append(
                TextClassification(index=i, text=texts[i], label=ranked[0].label, score=ranked[0].score, scores=ranked)
            )
        return ClassifyResult(task=t.name, method=used, space=SpaceInfo.of(space), labels=names, results=results)

    # -------------------------------------------------------------------------------------------- cluster
    def cluster(
        self,
        *,
        collection: str | None = None,
        texts: Sequence[str] | None = None,
        k: int | None = None,
        task: str = "clustering",
        filter: str | dict | None = None,
        max_members: int = 20,
    ) -> ClusterResult:
        t = self.task(task)
        if (collection is None) == (texts is None):
            raise InvalidInputError(
                "Give either collection or texts to cluster, not both or neither.",
                field="collection",
                fix="Pass collection='name' or texts=[...].",
            )
        space = self.encoder.space(t)
        if texts is not None:
            items = self._check_texts(texts)
            members = [ClusterMember(id=str(i), text=x) for i, x in enumerate(items)]
            vectors = self.encode(items, t, "document").vectors
        else:
            hits, vectors = self.store.fetch(collection, space, filter=filter)
            members = [ClusterMember(id=h.id, text=h.text) for h in hits]
        result = cluster_vectors(vectors, k)
        clusters = []
        for c in range(result.k):
            idx = np.flatnonzero(result.labels == c)
            clusters.append(
                Cluster(
                    cluster=c,
                    size=len(idx),
                    representative=members[result.representatives[c]],
                    members=[members[i] for i in idx[:max_members]],
                )
            )
        clusters.sort(key=lambda c: -c.size)
        return ClusterResult(
            task=t.name, k=result.k, k_chosen_by=result.chosen_by, space=SpaceInfo.of(space), clusters=clusters
        )

    # ---------------------------------------------------------------------------------------- collections
    def describe_collection(self, collection: str) -> CollectionDescription:
        info = self.store.describe(collection)
        return CollectionDescription(
            name=info.name,
            rows=info.rows,
            dimension=info.dimension,
            spaces=[SpaceCountInfo(space=SpaceInfo.of(s.space), rows=s.rows) for s in info.spaces],
        )

    def list_collections(self) -> CollectionList:
        return CollectionList(
            store=self.store.uri, collections=[self.describe_collection(n) for n in self.store.collection_names()]
        )

    def delete(
        self, collection: str, *, ids: list[str] | None = None, filter: str | dict | None = None
    ) -> DeleteResult:
        return DeleteResult(collection=collection, deleted=self.store.delete(collection, ids=ids, filter=filter))

    # -------------------------------------------------------------------------------------------- helpers
    def _check_texts(self, texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
            raise InvalidInputError(
                "texts must be a non-empty list of strings.", field="texts", fix='Send ["first text", "second text"].'
            )
        if len(texts) > self.max_documents:
            raise InvalidInputError(
                f"{len(texts)} texts is more than the limit of {self.max_documents} per call.",
                field="texts",
                fix=f"Split them into calls of at most {self.max_documents}.",
            )
        for i, x in enumerate(texts):
            if not isinstance(x, str) or not x.strip():
                raise InvalidInputError(
                    f"texts[{i}] is empty or not a string.", field=f"texts[{i}]", fix="Remove empty texts."
                )
        return list(texts)


def _check_query(query: Any) -> None:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("The query is empty.", field="query", fix="Send the question or text to search for.")


def build_service(settings: Any = None) -> TaskvecService:
    """Engine + store from Settings (flags, TASKVEC_* environment, TOML file)."""
    from taskvec.config import Settings

    settings = settings or Settings()
    encoder = settings.build_encoder()
    # One queue per service (so per server): concurrent tool calls share forward passes, a lone call waits at
    # most batch_wait_ms for company.
    queue = EncodeQueue(encoder, settings.max_batch_tokens, settings.batch_wait_ms)
    return TaskvecService(
        encoder,
        Store(settings.store, ann_threshold=settings.ann_threshold),
        max_documents=settings.max_documents,
        query_cache_size=settings.query_cache_size,
        queue=queue,
    )
