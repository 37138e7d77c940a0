"""The service: what taskvec does, joining one Encoder and one Store. The CLI and the MCP tools both call this.

Every method validates its whole input before it encodes or writes anything, so bad input costs nothing and loses
nothing. A write encodes everything first, reporting progress and honouring cancellation between steps, then commits
once: a call that fails, is cancelled or is killed before that commit leaves the collection as it was.

Why this module is past ~400 lines: it holds one method per tool that needs the model (index, search with its
rerank stage, rerank, similar, classify, cluster, tasks; the store-only verbs are in ``taskvec.store_service``),
each a short composition of the engine, the store and ``taskvec.analysis``, so that a tool call reaches the engine
in two hops; splitting it would scatter the shared validation and space checks each method starts with.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from taskvec.analysis.classify import FEW_SHOT_METHODS, centroid_scores, check_labels, knn_scores, zero_shot_scores
from taskvec.analysis.cluster import cluster_vectors
from taskvec.control import HEARTBEAT_S, NO_CONTROL, CallControl
from taskvec.engine import Encoder, EncodeResult
from taskvec.engine.queue import EncodeQueue
from taskvec.engine.tasks import RERANK_KIND, Role, Task
from taskvec.errors import InvalidInputError
from taskvec.ingest.chunking import check_chunk_ids, chunk_documents
from taskvec.options import (
    DEFAULT_CANDIDATES,
    DEFAULT_CHUNKING,
    MAX_CANDIDATES,
    ChunkingOptions,
    keyword_weight_for,
)
from taskvec.results import (
    ClassifyResult,
    Cluster,
    ClusterMember,
    ClusterResult,
    IndexResult,
    LabelScore,
    RankedText,
    RerankerInfo,
    RerankResult,
    SearchResult,
    SpaceInfo,
    TaskList,
    TextClassification,
)
from taskvec.spaces import EmbeddingSpace
from taskvec.store import (
    DEFAULT_LIMITS,
    Document,
    DocumentLimits,
    Store,
    check_collection_name,
    validate_documents,
    validate_texts,
)
from taskvec.store_service import StoreService
from taskvec.task_list import task_list

ENCODE_STEP = 32  # rows encoded per step of an index call: how often it reports progress and checks for cancellation


class RowEncoder(Protocol):
    """Encodes an index call's chunked rows (document role) in ``space`` somewhere other than this process:
    (vectors in row order, rows truncated). ``documents`` is the call's document count, for progress reports."""

    def __call__(
        self, rows: list[Document], space: EmbeddingSpace, control: CallControl, documents: int
    ) -> tuple[np.ndarray, int]: ...


@dataclass
class _Staged:
    """What an index call has encoded and not yet written."""

    rows: list[Document] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    chunked: int = 0
    chunks: int = 0
    truncated: int = 0


class TaskvecService(StoreService):
    """Engine + store: everything taskvec does. The verbs that need no model come from ``StoreService``."""

    def __init__(
        self,
        encoder: Encoder,
        store: Store,
        *,
        limits: DocumentLimits = DEFAULT_LIMITS,
        chunking: ChunkingOptions = DEFAULT_CHUNKING,
        query_cache_size: int = 1024,
        queue: EncodeQueue | None = None,
        tasks_file: Path | None = None,
    ):
        super().__init__(store)
        self.encoder = encoder
        self.tasks_file = tasks_file  # where user adapters are named from (taskvec.task_list)
        self.queue = queue  # when set, every encode goes through it, so concurrent calls share forward passes
        self.limits = limits
        self.chunking = chunking  # how a call that says nothing about chunking is cut
        self._query_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._query_cache_size = query_cache_size
        self._query_cache_lock = threading.Lock()  # tool calls run on several threads at once
        self._rerankers: dict[str, Any] = {}  # rerank task name -> Reranker, built on first use
        self._rerankers_lock = threading.Lock()

    def encode(self, texts: Sequence[str], task: Task, role: Role) -> EncodeResult:
        """Encode through the server's queue when there is one, else directly."""
        if self.queue is not None:
            return self.queue.encode(texts, task, role)
        return self.encoder.encode(texts, task, role)

    # ---------------------------------------------------------------------------------------------- tasks
    def task(self, name: str) -> Task:
        if not isinstance(name, str):
            raise InvalidInputError("task must be a string.", field="task", fix="Pass a task name, e.g. 'retrieval'.")
        task = self.encoder.tasks[name]
        if task.kind == RERANK_KIND:
            raise InvalidInputError(
                f"Task {name!r} is a rerank task: it scores (query, document) pairs and makes no vectors.",
                field="task",
                fix=f"Use an embedding task here (e.g. 'retrieval'), and {name!r} as search's rerank= or in the "
                "rerank tool.",
            )
        return task

    def tasks(self) -> TaskList:
        return task_list(self.encoder.spaces, self.tasks_file)

    # ---------------------------------------------------------------------------------------------- index
    def index(
        self,
        collection: str,
        documents: Sequence[dict[str, Any] | Document],
        task: str = "retrieval",
        *,
        chunking: ChunkingOptions | None = None,
        control: CallControl = NO_CONTROL,
        limits: DocumentLimits | None = None,
        encode_rows: RowEncoder | None = None,
    ) -> IndexResult:
        """Embed ``documents`` with the task's document role and upsert them by id, in one commit: all or nothing.

        Documents are chunked and encoded a few rows at a time (memory stays near the size of the call), then every
        row is written at once. Cancelled or failed before that write, the call leaves the collection untouched.
        ``encode_rows`` encodes the chunked rows elsewhere (``taskvec.ingest.ray_index``: on Ray workers); the
        reading, chunking, space and write stay these, so both paths store the same rows.
        """
        start = time.perf_counter()
        check_collection_name(collection)
        t = self.task(task)
        docs = validate_documents(documents, limits or self.limits)
        space = self.encoder.space(t)
        staged = self._encode_documents(docs, t, space, chunking or self.chunking, control, encode_rows)
        check_chunk_ids(docs, staged.rows)
        control.check()  # the last moment to give up: from here the write lands whole
        # The commit is the call's last stretch of progress: reported as it begins, then at least once a second
        # until it returns (a large merge_insert takes seconds), and as done once it has.
        rows = f"{len(staged.rows)} rows"
        with control.step(0, len(docs), len(docs), f"writing {rows} into {collection!r}", HEARTBEAT_S, announce=True):
            written = self.store.upsert(collection, staged.rows, staged.vectors, space)
        control.report(len(docs), len(docs), f"wrote {rows} into {collection!r}")
        return IndexResult(
            collection=collection,
            task=t.name,
            space=SpaceInfo.of(space),
            documents=len(docs),
            ids=[d.id for d in docs],
            rows_written=len(staged.rows),
            inserted=written.inserted,
            updated=written.updated,
            removed=written.removed,
            chunked_documents=staged.chunked,
            chunks=staged.chunks,
            truncated=staged.truncated,
            seconds=round(time.perf_counter() - start, 3),
        )

    def _encode_documents(
        self,
        docs: list[Document],
        task: Task,
        space: EmbeddingSpace,
        chunking: ChunkingOptions,
        control: CallControl,
        encode_rows: RowEncoder | None = None,
    ) -> _Staged:
        """Chunk and encode ``docs`` a few rows at a time, reporting progress and checking for cancellation; with
        ``encode_rows``, chunk them all here and hand every row to it at once."""
        staged, vectors = _Staged(), []
        if encode_rows is not None:
            for _, _, block, chunked, chunks in self._chunked(docs, task, chunking, control):
                staged.rows.extend(block)
                staged.chunked, staged.chunks = staged.chunked + chunked, staged.chunks + chunks
            staged.vectors, staged.truncated = encode_rows(staged.rows, space, control, len(docs))
            return staged
        reported, step_s = 0.0, HEARTBEAT_S  # progress so far; how long the last step took (a first guess)
        control.report(0, len(docs), f"encoding {len(docs)} documents")
        for begin, block_docs, block, chunked, chunks in self._chunked(docs, task, chunking, control):
            staged.chunked, staged.chunks = staged.chunked + chunked, staged.chunks + chunks
            for step in range(0, len(block), ENCODE_STEP):
                control.check()
                part = block[step : step + ENCODE_STEP]
                done = begin + block_docs * (step + len(part)) / len(block)  # a fraction while a block's chunks run
                rows = f"rows {len(staged.rows) + 1}-{len(staged.rows) + len(part)}"
                began = time.perf_counter()
                # A slow step (a large model, a busy machine) still reports at least once a second.
                with control.step(reported, done, len(docs), f"encoding {rows} of {len(docs)} documents", step_s):
                    encoded = self.encode([d.text for d in part], task, "document")
                step_s, reported = time.perf_counter() - began, done
                staged.rows.extend(part)
                vectors.append(encoded.vectors)
                staged.truncated += encoded.truncated
                if done < len(docs):  # the last step's report is the write's (index): it ends the call's progress
                    control.report(
                        done, len(docs), f"encoded {len(staged.rows)} rows of {done:.0f}/{len(docs)} documents"
                    )
        staged.vectors = np.concatenate(vectors)
        return staged

    def _chunked(
        self, docs: list[Document], task: Task, chunking: ChunkingOptions, control: CallControl
    ) -> Iterator[tuple[int, int, list[Document], int, int]]:
        """``docs`` in blocks of ENCODE_STEP, chunked: (first document, documents, rows, documents chunked, chunks
        made). Tokenized a block at a time: the offsets of a whole large call cost GBs."""
        chunk_tokens = self._chunk_tokens(task, chunking) if chunking.enabled else 0
        for begin in range(0, len(docs), ENCODE_STEP):
            control.check()
            block = docs[begin : begin + ENCODE_STEP]
            if not chunking.enabled:
                yield begin, len(block), block, 0, 0
                continue
            rows, chunked, chunks = chunk_documents(
                block, self.encoder.tokenizer, chunk_tokens, chunking.overlap, first=begin
            )
            yield begin, len(block), rows, chunked, chunks

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
        keyword_weight: float | None = None,
        rerank: bool | str | None = None,
        candidates: int = DEFAULT_CANDIDATES,
        per_document: bool = True,
        control: CallControl = NO_CONTROL,
    ) -> SearchResult:
        """Nearest documents in the task's space (``mode="hybrid"``: fused with BM25, which gets ``keyword_weight``
        of the score, default ``KEYWORD_WEIGHT``); with ``rerank`` (True: the default rerank task, or a rerank
        task's name) the first stage's top ``candidates`` are rescored by the reranker and the best ``limit``
        returned, each hit keeping its first-stage ``score`` beside its ``rerank_score``. ``per_document``: a
        chunked document is one hit, its best chunk (False: each chunk is a hit, and a candidate)."""
        t = self.task(task)
        _check_query(query)
        keyword_weight = keyword_weight_for(mode, keyword_weight)  # the result says which weight it used
        reranker = self.reranker(rerank) if rerank not in (None, False) else None
        if reranker is not None:
            _check_candidates(candidates, limit)
        space = self.encoder.space(t)
        depth = max(limit, candidates) if reranker is not None else limit
        # The store guards first and asks for the query's vector only then: a refused search costs no encoding.
        hits = self.store.search(
            collection,
            space,
            lambda: self.embed_query(query, t),
            limit=depth,
            filter=filter,
            text=query,
            mode=mode,
            keyword_weight=keyword_weight,
            per_document=per_document,
        )
        result = SearchResult(
            collection=collection,
            query=query,
            task=t.name,
            mode=mode,
            keyword_weight=keyword_weight,
            per_document=per_document,
            space=SpaceInfo.of(space),
            hits=hits,
        )
        if reranker is None or not hits:
            return result
        control.check()
        # A vector search in the reranker's residual space already holds the cosines its score starts from.
        reuse = mode == "vector" and getattr(reranker.identity, "residual_space", None) == space.id
        scores, _ = reranker.score(
            query, [h.text for h in hits], first_stage=[h.score for h in hits] if reuse else None, queue=self.queue
        )
        for rank, (hit, value) in enumerate(zip(hits, scores, strict=True), start=1):
            hit.rerank_score, hit.first_stage_rank = float(value), rank
        order = np.argsort(-scores, kind="stable")[:limit]
        result.hits = [hits[i] for i in order]
        result.reranker, result.candidates = RerankerInfo.of(reranker.identity), len(hits)
        return result

    # --------------------------------------------------------------------------------------------- rerank
    def reranker(self, name: bool | str, field: str = "rerank") -> Any:
        """The reranker of rerank task ``name`` (True: the task named 'rerank'), built once and kept. ``field``:
        the argument that named it, for errors (search's ``rerank``, the rerank tool's ``task``)."""
        if name is True:
            name = RERANK_KIND
        default = "leave it out for the default" if field == "task" else "pass rerank=true for the default"
        if not isinstance(name, str):
            raise InvalidInputError(
                f"{field} must be true or a rerank task's name, got {name!r}.",
                field=field,
                fix=f"Name one, or {default}.",
            )
        rerank_tasks = sorted(n for n, t in self.encoder.tasks.items() if t.kind == RERANK_KIND)
        if not rerank_tasks:
            raise InvalidInputError(
                "No rerank task is configured: no reranker that passed its ship rule ships for this model "
                "(docs/rerank.md), and the tasks file adds none.",
                field=field,
                fix='Add [tasks.rerank] kind = "rerank" with model = "/path/to/a/CrossEncoder" (or adapter = a '
                "`taskvec train --task rerank` folder) to the tasks TOML file"
                + (", or search without rerank." if field == "rerank" else "."),
            )
        if name not in rerank_tasks:
            known = self.encoder.tasks.get(name)
            what = f"is a {known.kind} task, not a rerank task" if known else "names no task"
            raise InvalidInputError(
                f"{field}={name!r} {what}. Rerank tasks: {', '.join(rerank_tasks)}.",
                field=field,
                fix=f"Name one of them (see taskvec://tasks), or {default}.",
            )
        task = self.encoder.tasks[name]
        with self._rerankers_lock:
            if name not in self._rerankers:
                from taskvec.engine.rerank import build_reranker

                self._rerankers[name] = build_reranker(self.encoder, task)
            return self._rerankers[name]

    def rerank(
        self,
        query: str,
        texts: Sequence[str],
        task: str | bool = True,
        *,
        limit: int | None = None,
        control: CallControl = NO_CONTROL,
    ) -> RerankResult:
        """``texts`` ordered by the reranker's score for ``query`` (the best ``limit``; all by default)."""
        _check_query(query)
        texts = self._check_texts(texts)
        reranker = self.reranker(task, field="task")
        control.check()
        scores, truncated = reranker.score(query, texts, queue=self.queue)
        order = np.argsort(-scores, kind="stable")[: limit or len(texts)]
        return RerankResult(
            query=query,
            reranker=RerankerInfo.of(reranker.identity),
            results=[RankedText(index=int(i), text=texts[i], score=float(scores[i])) for i in order],
            truncated=truncated,
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
        _check_query(text, "text")
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
            example_labels = [_label_name(hits[i].metadata[label_field], hits[i].id, label_field) for i in keep]
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
        if texts is not None and filter is not None:
            raise InvalidInputError(
                "filter selects documents of a collection; it does not apply to texts.",
                field="filter",
                fix="Leave filter out when you send texts, or pass collection='name' with the filter instead.",
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

    # -------------------------------------------------------------------------------------------- helpers
    def _check_texts(self, texts: Sequence[str]) -> list[str]:
        return validate_texts(texts, self.limits)


def _check_candidates(candidates: Any, limit: int) -> None:
    if not isinstance(candidates, int) or isinstance(candidates, bool) or not 1 <= candidates <= MAX_CANDIDATES:
        raise InvalidInputError(
            f"candidates must be a whole number in 1..{MAX_CANDIDATES}, got {candidates!r}.",
            field="candidates",
            fix=f"Ask the first stage for {DEFAULT_CANDIDATES} candidates (the usual), at least limit ({limit}).",
        )


def _label_name(value: Any, doc_id: str, label_field: str) -> str:
    """An example's label as a class name: a string as it is, a number or boolean as JSON writes it (3, true); a
    list or object is no one class (multi-label examples are not supported)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | bool):
        return json.dumps(value)
    raise InvalidInputError(
        f"Document {doc_id!r} has the {type(value).__name__} {json.dumps(value)[:80]} as its {label_field!r}; a "
        "labelled example has one label.",
        field="label_field",
        fix=f"Index that example with one label per document ({{{label_field!r}: 'name'}}; for several labels, a copy per "
        "label, each under its own id), or name another metadata key with label_field.",
    )


def _check_query(query: Any, field: str = "query") -> None:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError(f"The {field} is empty.", field=field, fix="Send the question or text to search for.")


def quiet_libraries() -> None:
    """Keep library chatter (weight-loading bars, hub notices) off the terminal: stdout carries only results, and
    MCP messages over stdio. Called by the command line and the server before they load a model."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def build_service(settings: Any = None, store: Store | None = None) -> TaskvecService:
    """Engine + store from Settings (flags, TASKVEC_* environment, TOML file); ``store`` when one is open already."""
    from taskvec.config import Settings

    settings = settings or Settings()
    encoder = settings.build_encoder()
    # One queue per service (so per server): concurrent tool calls share forward passes, a lone call waits at
    # most batch_wait_ms for company.
    queue = EncodeQueue(encoder, settings.max_batch_tokens, settings.batch_wait_ms)
    return TaskvecService(
        encoder,
        store or settings.build_store(),
        limits=settings.document_limits(),
        chunking=settings.chunking(),
        query_cache_size=settings.query_cache_size,
        queue=queue,
        tasks_file=settings.effective_tasks_file(),
    )
