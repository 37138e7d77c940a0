"""Collections in LanceDB, each vector tagged with the embedding space it was made in.

One LanceDB table per collection. A row is one document in one space: the same document indexed for retrieval and
for clustering is two rows (key ``<space_id>:<id>``). The spaces a collection holds are described in the table's
schema, as metadata of its vector column (``taskvec.spaces``), so the store can say what each space is without the
engine, and restoring an earlier table version restores the descriptions with the rows.

Every write call is one commit under the collection's write lock (``taskvec.store.writer``, ``taskvec.store.locks``):
a crash or a failure before the commit leaves the collection as it was, and concurrent writers lose nothing.

Unfiltered vector searches of a space that fits the memory budget are answered from memory
(``taskvec.store.fast_path``): each space's vectors are read once per table version, searched exactly below
``ann_threshold`` rows and through an in-memory IVF index above it. Everything else (spaces over the budget,
filtered and hybrid searches) goes to LanceDB, through its own indexes once the collection is large enough
(``taskvec.store.indexes``, built in the background after the write that crosses the size). Before
every query the store checks that the table has not moved on: a write through this store bumps a counter, and for
local stores a write by another process changes the ``_versions`` folder, whose timestamp costs a ``stat`` to
read; a change (or a timestamp too recent to trust) means asking LanceDB for the version. Filtered searches go to
LanceDB.

Why this module is past ~400 lines: it is the store's one public class, and each method is the short composition of
the concern modules beside it (catalog, lookup, writer, queries, fast_path, indexes, locks, guard) under the
collection's lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from taskvec.errors import InvalidInputError, StoreUnavailableError, TaskvecError, UnknownCollectionError
from taskvec.options import SEARCH_MODES, keyword_weight_for
from taskvec.results import SearchHit
from taskvec.spaces import EmbeddingSpace
from taskvec.store.catalog import CollectionInfo, SpaceCount, check_collection_name
from taskvec.store.changes import change_token, folder_id
from taskvec.store.documents import Document
from taskvec.store.fast_path import SnapshotCache, SpaceSnapshot, default_memory_budget, release_freed_memory
from taskvec.store.filters import METADATA_COLUMN, compile_filter
from taskvec.store.guard import check_space
from taskvec.store.indexes import DEFAULT_POLICY, IndexPolicy, ensure_indexes, index_names, missing_indexes
from taskvec.store.locks import CollectionLocks
from taskvec.store.lookup import Page, check_page, ids_clause, read_page
from taskvec.store.queries import (
    MAX_LIMIT,
    RESULT_COLUMNS,
    QueryVector,
    document_key,
    fuse,
    hit,
    hybrid_depth,
    read_documents,
    text_search,
    vector_condition,
    vector_search,
    where,
)
from taskvec.store.writer import (
    WriteResult,
    create_with,
    delete_where,
    described_spaces,
    dimension_of,
    needs_optimize,
    optimize,
    retry_conflicts,
    rows_table,
    space_clause,
    table_id,
    upsert_into,
)

log = logging.getLogger(__name__)

_SNAPSHOT_COLUMNS = ["id", "text", METADATA_COLUMN, "parent_id", "vector"]
_MIN_INDEXED_ROWS = 256  # below this an IVF index cannot beat one matrix-vector product


@dataclass
class _CollectionState:
    """What the guard needs about a collection at one table version, and the change token it was checked at."""

    identity: tuple[str | int | None, int]  # (the table's key, ``Store._table_key``; its version)
    token: tuple[int, ...] | None
    spaces: dict[str, tuple[EmbeddingSpace, int]]


class Store:
    """LanceDB-backed collections. ``uri`` is a local folder (embedded) or any LanceDB URI (s3://, db://, ...).

    ``ann_threshold``: rows a space needs before its searches go through an IVF index instead of exact search.
    ``fast_path``: answer unfiltered vector searches from memory (see the module docstring); off = LanceDB only.
    ``memory_budget``: bytes of space snapshots one process holds (default: a quarter of physical memory).
    ``indexes``: when LanceDB's own indexes are built and how they are searched.
    """

    def __init__(
        self,
        uri: str | Path,
        *,
        ann_threshold: int = 100_000,
        fast_path: bool = True,
        read_only: bool = False,
        memory_budget: int | None = None,
        indexes: IndexPolicy = DEFAULT_POLICY,
        **connect_options: Any,
    ) -> None:
        self.uri = str(uri)
        self._local = "://" not in self.uri
        if self._local and Path(self.uri).exists() and not Path(self.uri).is_dir():
            raise InvalidInputError(
                f"The store {self.uri!r} is a file, not a folder.",
                field="store",
                fix="Point TASKVEC_STORE (or --store) at a folder, new or existing (it is created by the first "
                "write), or at a LanceDB URI such as s3://bucket/path.",
            )
        self.read_only = read_only  # every write is refused (the MCP server's TASKVEC_READ_ONLY)
        self._connect_options = connect_options
        self._db: Any = None
        self._connecting = threading.Lock()
        self.ann_threshold = ann_threshold
        self.fast_path = fast_path
        self._locks = CollectionLocks(Path(self.uri) if self._local else None)
        self._locks_guard = threading.Lock()
        self._generations: dict[str, int] = {}  # bumped by every write through this store
        self._states: dict[str, _CollectionState] = {}
        # Lance datasets kept open at the version a state was checked at: an open dataset keeps its index pages in
        # the session's cache, where reopening one per search would read the index again (~100 ms at 100K rows)
        self._datasets: dict[str, tuple[tuple[str | int | None, int], Any]] = {}
        self._lance_session: Any = None
        self._snapshots = SnapshotCache(default_memory_budget() if memory_budget is None else memory_budget)
        self.indexes = indexes
        self._indexing: dict[str, threading.Thread] = {}  # background index builds, one per collection
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    @property
    def db(self) -> Any:
        """The LanceDB connection, opened on first use: importing lancedb takes seconds, and connecting creates the
        local folder, which only a write may do (a read of a store that does not exist yet finds it empty)."""
        if self._db is None:
            with self._connecting:
                if self._db is None:
                    import lancedb

                    try:
                        if self._local:
                            Path(self.uri).mkdir(parents=True, exist_ok=True)
                        self._db = lancedb.connect(self.uri, **self._connect_options)
                    except (OSError, ValueError, RuntimeError) as exc:  # lancedb reports I/O as ValueError
                        cause = " ".join(str(exc).split())
                        raise StoreUnavailableError(
                            f"Cannot open the store {self.uri!r}: {cause[:240]}{'...' if len(cause) > 240 else ''} "
                            "Nothing was written.",
                            field="store",
                            fix="Check TASKVEC_STORE (or --store), and for object storage the endpoint "
                            "(AWS_ENDPOINT_URL), the credentials and the network; then call again.",
                        ) from exc
        return self._db

    # ------------------------------------------------------------------------------------------ collections
    def collection_names(self) -> list[str]:
        if self._local and not Path(self.uri).is_dir():
            return []  # nothing written yet: a read must not create the folder
        names: list[str] = []
        token = None
        while True:
            page = self.db.list_tables(page_token=token)
            names.extend(page.tables)
            token = page.page_token
            if not token:
                return sorted(names)

    def exists(self, name: str) -> bool:
        return name in self.collection_names()

    def _open(self, name: str):
        check_collection_name(name)
        if not self.exists(name):
            known = self.collection_names()
            raise UnknownCollectionError(
                f"Collection {name!r} does not exist."
                + (f" Existing collections: {', '.join(known)}." if known else " The store has no collections yet."),
                field="collection",
                fix="Check the name with list_collections, or index documents into it to create it.",
            )
        return self.db.open_table(name)

    def spaces(self, name: str) -> dict[str, tuple[EmbeddingSpace, int]]:
        """Space id -> (space, number of rows) for every space the collection has held."""
        return dict(self._state(name).spaces)

    def _state(self, name: str) -> _CollectionState:
        """The collection's spaces at its current version: recomputed only when the table has moved on."""
        check_collection_name(name)
        token = self._change_token(name)  # read before the version: a write in between is seen next time
        cached = self._states.get(name)
        if cached is not None and token is not None and cached.token == token:
            return cached
        table = self._open(name)
        identity = (self._table_key(name, table), table.version)  # a re-created table restarts its versions
        if cached is not None and cached.identity == identity:
            state = _CollectionState(identity, token, cached.spaces)
        else:
            described = described_spaces(table)
            counts = {sid: table.count_rows(space_clause(sid)) for sid in described}
            state = _CollectionState(identity, token, {sid: (described[sid], counts[sid]) for sid in described})
        self._states[name] = state
        return state

    def _table_key(self, name: str, table: Any) -> str | int | None:
        """What tells the table from an earlier one of the same name that was dropped: the id it was created with,
        or, for a collection created before ids, its folder's inode where local (an inode can be handed out again)."""
        return table_id(table) or (folder_id(self.uri, name) if self._local else None)

    def _change_token(self, name: str) -> tuple[int, ...] | None:
        """A cheap token that changes whenever the table may have changed (``taskvec.store.changes``)."""
        return change_token(self.uri, name, self._generations.get(name, 0)) if self._local else None

    def _touch(self, name: str) -> None:
        with self._locks_guard:
            self._generations[name] = self._generations.get(name, 0) + 1

    def describe(self, name: str) -> CollectionInfo:
        table = self._open(name)
        spaces = [SpaceCount(space, rows) for space, rows in self.spaces(name).values() if rows > 0]
        return CollectionInfo(name=name, rows=table.count_rows(), dimension=dimension_of(table.schema), spaces=spaces)

    # ------------------------------------------------------------------------------------------------ write
    def upsert(
        self, name: str, documents: Sequence[Document], vectors: np.ndarray, space: EmbeddingSpace
    ) -> WriteResult:
        """Insert or replace ``documents`` (by id) in ``space``, in one commit. Other spaces' rows are untouched.

        The documents' other rows in this space (and in stale versions of it) go in the same commit: a document
        re-indexed with fewer chunks keeps none of its old ones.
        """
        check_collection_name(name)
        if len(documents) != len(vectors):
            raise ValueError("documents and vectors differ in length")
        if vectors.ndim != 2 or vectors.shape[1] != space.dimension:
            raise ValueError(f"vectors have shape {vectors.shape}, the space has dimension {space.dimension}")
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
        if bad.size:
            raise InvalidInputError(
                f"{bad.size} vectors hold NaN or infinite values (the first is for document {documents[bad[0]].id!r}).",
                field="vectors",
                fix="Check the model, adapter and dtype that made them (fp16 can overflow); nothing was written.",
            )
        batch = rows_table(documents, vectors, space)
        sources = sorted({d.parent_id or d.id for d in documents})
        with self._writing(name):
            if not self.exists(name):
                try:
                    return create_with(self.db, name, batch, space)
                except ValueError as exc:  # created meanwhile by a writer outside our lock (remote stores)
                    if "already exists" not in str(exc):
                        raise
            return upsert_into(self.db.open_table(name), batch, space, sources)

    def delete(
        self,
        name: str,
        *,
        ids: Sequence[str] | None = None,
        filter: str | dict | None = None,
        space: str | None = None,
    ) -> int:
        """Delete documents by ids and/or a metadata filter, in every space or only in ``space`` (a space id the
        collection holds: say the space a task made before its default adapter changed), in one commit; the rows
        removed."""
        self._open(name)
        clauses = []
        if space is not None:
            clauses.append(space_clause(self._known_space(name, space)))
        if ids:
            clauses.append(ids_clause(ids))
        predicate = compile_filter(filter)
        if predicate:
            clauses.append(predicate)
        if not clauses:
            raise InvalidInputError(
                "Nothing to delete: give ids, a filter or a space.",
                field="ids",
                fix="Pass ids=[...], a metadata filter or a space id; to remove the whole collection, use "
                "drop_collection.",
            )
        with self._writing(name):
            return delete_where(self._open(name), " AND ".join(clauses))

    def _known_space(self, name: str, space: str) -> str:
        spaces = self.spaces(name)
        if space not in spaces:
            listed = ", ".join(f"{sid} ({s.task}, {rows} rows)" for sid, (s, rows) in spaces.items()) or "none"
            raise InvalidInputError(
                f"Collection {name!r} holds no embedding space {space!r}; it holds: {listed}.",
                field="space",
                fix="Pass a space id that describe_collection lists for this collection.",
            )
        return space

    def drop(self, name: str) -> int:
        """Remove the collection with every row of every space; the rows it held."""
        self._open(name)  # an unknown name is refused before anything is locked (or a folder created)
        if (running := self._indexing.get(name)) is not None:
            running.join()  # a build a write started here would commit the same indexes: their commits conflict
        with self._writing(name, maintain=False):
            rows = self._open(name).count_rows()
            self.db.drop_table(name)
            self._states.pop(name, None)
            self._datasets.pop(name, None)
            self._snapshots.drop(name)
        return rows

    def get(
        self,
        name: str,
        *,
        ids: Sequence[str] | None = None,
        filter: str | dict | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page:
        """Documents by id (with their chunks), or a page of the collection; each lists the tasks it is in."""
        check_page(ids, limit, offset)
        predicate = compile_filter(filter)
        table = self._open(name)
        spaces = sum(1 for _, rows in self.spaces(name).values() if rows > 0)
        return read_page(table, ids=ids, predicate=predicate, limit=limit, offset=offset, spaces=spaces)

    def optimize(self, name: str) -> dict[str, Any]:
        """Compact the collection, build the indexes its size calls for, fold new rows into them and drop old
        versions now (see ``writer.optimize`` and ``indexes.ensure_indexes``)."""
        self._open(name)  # an unknown name is refused before anything is locked (or a folder created)
        # The build lock first: waiting for a running build (of this process or another) must not hold up writes (a build at a million
        # rows takes minutes). Then no build runs anywhere, so the cleanup may delete what no version references.
        with self._locks.building(name), self._writing(name, maintain=False):
            table = self._open(name)
            built = retry_conflicts(lambda: ensure_indexes(table, self.indexes), name)
            report = optimize(table, delete_unverified=self._local)
            return {**report, "indexes_built": built, "indexes": index_names(table)}

    def indexing(self) -> bool:
        """Whether an index build started by a write is still running."""
        return any(thread.is_alive() for thread in self._indexing.values())

    def wait_for_indexes(self, timeout: float | None = None) -> None:
        """Wait for background index builds (a command that exits after a large write calls this first)."""
        for thread in list(self._indexing.values()):
            thread.join(timeout)

    def _index_in_background(self, name: str, table: Any) -> None:
        """Start building the indexes ``table`` has grown into, unless a build for it is running. Without the write
        lock: a build takes minutes at a million rows and writes must not wait for it; LanceDB reconciles an index
        commit with concurrent writes, and rows written meanwhile are scanned exactly until the next optimize."""
        if not missing_indexes(table, self.indexes):
            return
        running = self._indexing.get(name)
        if running is not None and running.is_alive():
            return

        def build() -> None:
            try:
                with self._locks.building(name):  # a cleanup keeps this build's files while it runs
                    retry_conflicts(lambda: ensure_indexes(self.db.open_table(name), self.indexes), name)
            except Exception:  # an index is an optimisation: the write it follows has committed
                log.warning("building indexes of %r failed; `taskvec optimize %s` retries", name, name, exc_info=True)
            self._touch(name)

        thread = threading.Thread(target=build, name=f"taskvec-index-{name}", daemon=True)
        self._indexing[name] = thread
        thread.start()

    @contextmanager
    def _writing(self, name: str, *, maintain: bool = True) -> Iterator[None]:
        """The collection's write lock for the block; then compaction if the writes left many small fragments."""
        check_collection_name(name)
        if self.read_only:
            raise TaskvecError(
                f"This store is open read-only: nothing is written to collection {name!r}.",
                field="collection",
                fix="Write through a taskvec that opens the store for writing (a server without TASKVEC_READ_ONLY, "
                "or the taskvec command line).",
            )
        if self._local:
            Path(self.uri).mkdir(parents=True, exist_ok=True)  # the lock files live in it
        with self._locks.hold(name):
            try:
                yield
            finally:
                self._touch(name)  # cached states and snapshots of this collection are checked again
            if maintain and self.exists(name):
                table = self.db.open_table(name)
                if needs_optimize(table):
                    try:
                        with self._locks.unless_building(name) as no_build:  # a build's files are not yet referenced
                            optimize(table, delete_unverified=self._local and no_build)
                    except Exception:  # maintenance must never fail the write that has already committed
                        log.warning("compacting %r failed; it is retried after the next write", name, exc_info=True)
                    self._touch(name)
                self._index_in_background(name, table)

    # ------------------------------------------------------------------------------------------------- read
    def guard(self, name: str, space: EmbeddingSpace) -> None:
        """Raise SpaceMismatchError unless the collection holds vectors of ``space``."""
        check_space(name, self.spaces(name), space)

    def search(
        self,
        name: str,
        space: EmbeddingSpace,
        vector: QueryVector,
        *,
        limit: int = 10,
        filter: str | dict | None = None,
        text: str | None = None,
        mode: str = "vector",
        keyword_weight: float | None = None,
        per_document: bool = True,
    ) -> list[SearchHit]:
        """Nearest documents of ``space`` to ``vector`` (cosine), optionally fused with BM25 over ``text``
        (``keyword_weight``: BM25's share of a hybrid search's fused score, default ``KEYWORD_WEIGHT``).

        ``per_document``: a chunked document is one hit, its best-matching chunk (by cosine; in a hybrid search its
        best chunk in each ranking counts there), so ``limit`` hits are ``limit`` documents; False returns every
        chunk as a hit of its own.

        The guard runs once, here, before ``vector`` is asked for: a callable is called only when the collection
        holds the space, so a refused search costs no encoding.
        """
        if mode not in SEARCH_MODES:
            raise InvalidInputError(f"Unknown search mode {mode!r}.", field="mode", fix="Use 'vector' or 'hybrid'.")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInputError(
                f"limit must be an integer in 1..{MAX_LIMIT}, got {limit!r}.",
                field="limit",
                fix=f"Ask for at most {MAX_LIMIT} results.",
            )
        if not isinstance(per_document, bool):
            raise InvalidInputError(
                f"per_document must be true or false, got {per_document!r}.",
                field="per_document",
                fix="Pass true (each document once, as its best chunk) or false (every chunk a hit).",
            )
        weight = keyword_weight_for(mode, keyword_weight)
        predicate = compile_filter(filter)
        if mode == "hybrid" and (not text or not text.strip()):
            raise InvalidInputError("Hybrid search needs the query text.", field="query", fix="Pass the query text.")
        state = self._state(name)
        check_space(name, state.spaces, space)
        query = np.asarray(vector() if callable(vector) else vector, dtype=np.float32)
        depth = limit if mode == "vector" else hybrid_depth(limit)
        snapshot = self._snapshot(name, space, state) if self.fast_path and not predicate else None
        if snapshot is not None:

            def nearest_rows(rows: int) -> list[SearchHit]:
                positions, scores = snapshot.search(query, rows)
                found = snapshot.columns.take(pa.array(positions, type=pa.int64())).to_pylist()
                return [hit(row, float(score)) for row, score in zip(found, scores.tolist(), strict=True)]

        else:
            total = sum(rows for _, rows in state.spaces.values())
            share = state.spaces[space.id][1] / total if total else 0.0  # of the rows the space predicate admits
            condition = vector_condition(space, predicate, only_space=share == 1.0)  # the dataset is at state's version
            dataset = self._dataset(name, state)

            def nearest_rows(rows: int) -> list[SearchHit]:
                return vector_search(
                    dataset, query, condition, rows, self.indexes, share=share, metadata_filter=bool(predicate)
                )

        vector_hits = read_documents(nearest_rows, depth, depth) if per_document else nearest_rows(depth)
        if mode == "vector":
            return vector_hits[:limit]
        table = self._open(name)
        condition = where(space, predicate)

        def keyword_rows(rows: int) -> list[SearchHit]:
            return text_search(table, text or "", condition, rows)

        text_hits = read_documents(keyword_rows, depth, depth) if per_document else keyword_rows(depth)
        assert weight is not None  # keyword_weight_for gives every hybrid search its weight
        return fuse(vector_hits, text_hits, limit, weight, key=document_key if per_document else lambda h: h.id)

    def _dataset(self, name: str, state: _CollectionState) -> Any:
        """The table's Lance dataset at exactly the version the guard checked, kept open between searches."""
        cached = self._datasets.get(name)
        if cached is not None and cached[0] == state.identity:
            return cached[1]
        if cached is not None and cached[0][0] == state.identity[0]:  # the same table, moved on: same session
            dataset = cached[1].checkout_version(state.identity[1])
        else:
            if self._lance_session is None:
                import lance  # pylance, which LanceDB itself reads tables with

                self._lance_session = lance.Session()
            dataset = self._open(name).to_lance(session=self._lance_session)
            if dataset.version != state.identity[1]:
                dataset = dataset.checkout_version(state.identity[1])
        self._datasets[name] = (state.identity, dataset)
        return dataset

    def _snapshot(self, name: str, space: EmbeddingSpace, state: _CollectionState) -> SpaceSnapshot | None:
        """The space's vectors in memory at the table's version: read, and indexed past the threshold, once. None
        when the space does not fit the memory budget (LanceDB answers then)."""
        key, identity = (name, space.id), state.identity
        snapshot = self._snapshots.get(key, identity)
        if snapshot is not None:
            return snapshot
        if not self._snapshots.fits(key, state.spaces[space.id][1], space.dimension):
            return None
        with self._locks_guard:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one reader per space; the others wait for its snapshot rather than read it again
            snapshot = self._snapshots.get(key, identity)
            if snapshot is not None:
                return snapshot
            dataset = self._dataset(name, state)  # exactly the version the guard checked
            scanner = dataset.scanner(columns=_SNAPSHOT_COLUMNS, filter=space_clause(space.id), with_row_id=True)
            schema = pa.schema([dataset.schema.field(c) for c in _SNAPSHOT_COLUMNS if c != "vector"])
            rows = state.spaces[space.id][1]
            fresh = SpaceSnapshot.read(scanner.to_batches(), schema, rows, identity, space.dimension)
            if len(fresh) >= max(self.ann_threshold, _MIN_INDEXED_ROWS):
                previous = self._snapshots.latest(key)
                fresh.index(previous if previous is not None and previous.ivf is not None else None)
            self._snapshots.put(key, fresh)  # not held when over the budget: this search still uses it
            release_freed_memory()
            return fresh

    def search_index(self, name: str, space: EmbeddingSpace) -> dict[str, Any]:
        """How unfiltered searches of ``space`` are answered now: from memory (exact or IVF, with the index's
        parameters and recall) or by LanceDB (with the indexes the collection has)."""
        state = self._state(name)
        check_space(name, state.spaces, space)
        snapshot = self._snapshot(name, space, state) if self.fast_path else None
        if snapshot is None:
            indexes = index_names(self._open(name))
            return {
                "rows": state.spaces[space.id][1],
                "version": state.identity[1],
                "kind": "lancedb",
                "indexes": indexes,
                "memory_budget": self._snapshots.budget,
            }
        info: dict[str, Any] = {"rows": len(snapshot), "version": snapshot.identity[1], "kind": "exact"}
        if snapshot.ivf is not None:
            ivf = snapshot.ivf
            info.update(
                kind="ivf",
                nlist=ivf.nlist,
                nprobe=ivf.nprobe,
                calibration_recall_at_10=round(ivf.recall, 4),
                build_seconds=round(ivf.build_seconds, 3),
            )
        return info

    def fetch(
        self, name: str, space: EmbeddingSpace, *, filter: str | dict | None = None, limit: int | None = None
    ) -> tuple[list[SearchHit], np.ndarray]:
        """All documents of ``space`` (optionally filtered) with their vectors: for classification and clustering."""
        predicate = compile_filter(filter)
        table = self._open(name)
        self.guard(name, space)
        query = table.search().where(where(space, predicate)).select([*RESULT_COLUMNS, "vector"])
        data = query.limit(limit or table.count_rows()).to_arrow()
        hits = [hit(r, 0.0) for r in data.drop_columns(["vector"]).to_pylist()]
        flat = data.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return hits, np.asarray(flat, dtype=np.float32).reshape(len(hits), space.dimension)
