"""Vector search over one space of a collection from memory: exact below a row threshold, IVF above it.

Why: every LanceDB query pays a fixed cost (planning, a scan with the ``space_id`` prefilter, Arrow conversion)
that dwarfs the arithmetic on small collections, and its own IVF indexes still carry that overhead per query (the
figures are in docs/results/performance.md). A space's unit vectors and result columns are held in memory instead:

* below ``ann_threshold`` rows, one matrix-vector product (exact, the same ranking as LanceDB's exact search);
* from ``ann_threshold`` rows, an inverted-file index (IVF-Flat: spherical k-means lists, rows stored contiguously
  by list, exact scores within the probed lists). ``nprobe`` is calibrated when the index is trained so that
  recall@10 against exact search reaches ``TARGET_RECALL`` on a sample of the space's own rows.

Consistency is the caller's job (``Store``): a snapshot is tagged with the table (folder and version) it was read
from and replaced when the table moves on. When a space changes by less than half, the new snapshot keeps the trained
centroids and only assigns rows it has not seen (by LanceDB row id), so a write costs a reload, not a retrain.

numpy only: the store must stay importable without torch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

TARGET_RECALL = 0.98  # on held-in rows; fresh queries score a little lower (the benchmark checks >= 0.95)
CALIBRATION_QUERIES = 64
_BLOCK = 8192  # rows per block when assigning rows to lists (bounds the temporary score matrix)


class _BlasThreads:
    """numpy's BLAS threads: one for queries, all cores while an index trains.

    A query is a memory-bound matrix-vector product. OpenBLAS splits it over every core, waits for the slowest,
    and its idle threads then spin, slowing whatever the process does next: measured here on 2 busy cores
    (load ~9), 10,000 x 384 rows took a median 23 ms on 2 threads against 1.2 ms on 1, and a top-10 selection
    right after a 2-thread product took 34 ms against 0.06 ms. Toggling the setting per query costs its own
    wake-ups, so the first in-memory search sets one thread for the process (a server gets its parallelism from
    concurrent requests, and torch keeps its own thread pool), and index training borrows every core back,
    reference-counted so that concurrent builds restore the setting once. Without threadpoolctl (a scikit-learn
    dependency) this does nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._libraries: list[Any] | None = None
        self._building = 0

    def _blas(self) -> list[Any]:
        if self._libraries is None:
            try:
                from threadpoolctl import ThreadpoolController

                self._libraries = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
            except Exception:  # threadpoolctl missing or unable to inspect this process: leave BLAS alone
                self._libraries = []
        return self._libraries

    def for_queries(self) -> None:
        """One BLAS thread from now on, unless an index is training (idempotent, cheap after the first call)."""
        if self._libraries is not None and (self._building or all(lib.num_threads == 1 for lib in self._libraries)):
            return
        with self._lock:
            if not self._building:
                for lib in self._blas():
                    lib.set_num_threads(1)

    @contextmanager
    def for_training(self) -> Iterator[None]:
        """Every core for the large matrix products of k-means and list assignment."""
        with self._lock:
            if self._building == 0:
                for lib in self._blas():
                    lib.set_num_threads(os.cpu_count() or 1)
            self._building += 1
        try:
            yield
        finally:
            with self._lock:
                self._building -= 1
                if self._building == 0:
                    for lib in self._blas():
                        lib.set_num_threads(1)


blas_threads = _BlasThreads()


def release_freed_memory() -> None:
    """Hand memory freed by a snapshot load back to the operating system (glibc keeps freed blocks of other threads'
    arenas, where the scan's buffers were made, mapped for reuse: at 300K rows that was 400 MB of resident memory
    the budget never counted). A no-op where the C library has no ``malloc_trim`` (musl, macOS, Windows)."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


def permute_rows(rows: np.ndarray, order: np.ndarray, block: int = 4096) -> None:
    """``rows[:] = rows[order]`` in place, with ``block`` rows of extra memory instead of a second array: each cycle
    of the permutation is rotated in blocks (a row is moved only after the block before it was read)."""
    done = np.zeros(len(order), dtype=bool)
    done[order == np.arange(len(order))] = True
    for start in np.flatnonzero(~done):
        if done[start]:
            continue
        cycle = [int(start)]  # start, order[start], order[order[start]], ... until the cycle closes
        at = int(order[start])
        while at != start:
            cycle.append(at)
            at = int(order[at])
        positions = np.asarray(cycle)
        done[positions] = True
        first = rows[positions[0]].copy()
        for a in range(0, len(positions) - 1, block):  # row positions[j] takes row positions[j + 1]
            b = min(a + block, len(positions) - 1)
            rows[positions[a:b]] = rows[positions[a + 1 : b + 1]]
        rows[positions[-1]] = first


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), so a dot product is the cosine LanceDB computes."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first."""
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part], kind="stable")]
    return np.argsort(-scores, kind="stable")


@dataclass
class IVFIndex:
    """Inverted lists over a snapshot whose rows are already grouped by list (``offsets`` delimits each list)."""

    centroids: np.ndarray  # (nlist, dim) unit vectors
    offsets: np.ndarray  # (nlist + 1,) start of each list in the snapshot's row order
    nprobe: int
    recall: float  # recall@10 against exact search at calibration
    trained_rows: int  # rows the centroids were trained on (retrain when the space doubles or halves)
    build_seconds: float

    @property
    def nlist(self) -> int:
        return len(self.centroids)

    def search(self, unit: np.ndarray, query: np.ndarray, k: int, nprobe: int | None = None) -> np.ndarray:
        """Snapshot positions of the approximate top ``k`` (exact scores within the probed lists)."""
        probe = top_k(self.centroids @ query, min(nprobe or self.nprobe, self.nlist))
        ranges = [(int(self.offsets[p]), int(self.offsets[p + 1])) for p in probe.tolist()]
        scores = np.concatenate([unit[a:b] @ query for a, b in ranges])
        positions = np.concatenate([np.arange(a, b) for a, b in ranges])
        return positions[top_k(scores, k)]


def nlist_for(rows: int) -> int:
    """Lists for ``rows`` rows: about 2*sqrt(n) keeps both the centroid scan and the probed lists small."""
    return max(8, min(int(2 * math.sqrt(rows)), 4096))


def assign(unit: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid (highest cosine) of every row, computed in blocks."""
    out = np.empty(len(unit), dtype=np.int32)
    for a in range(0, len(unit), _BLOCK):
        out[a : a + _BLOCK] = np.argmax(unit[a : a + _BLOCK] @ centroids.T, axis=1)
    return out


def spherical_kmeans(unit: np.ndarray, k: int, *, iterations: int = 8, seed: int = 0) -> np.ndarray:
    """k unit centroids by Lloyd's algorithm on the sphere, trained on a sample of at most 32 rows per list."""
    rng = np.random.default_rng(seed)
    sample = unit[rng.choice(len(unit), min(len(unit), 32 * k), replace=False)]
    centroids = sample[rng.choice(len(sample), k, replace=False)].copy()
    for _ in range(iterations):
        labels = assign(sample, centroids)
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=k)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        filled = counts > 0
        sums = np.add.reduceat(sample[order], starts[filled], axis=0)
        centroids[filled] = unit_rows(sums)
        empty = np.flatnonzero(~filled)
        if len(empty):  # re-seed empty lists with random rows rather than lose them
            centroids[empty] = sample[rng.choice(len(sample), len(empty), replace=False)]
    return centroids


def calibrate_nprobe(
    unit: np.ndarray, offsets: np.ndarray, centroids: np.ndarray, *, k: int = 10, seed: int = 0
) -> tuple[int, float]:
    """The smallest nprobe whose recall@k reaches TARGET_RECALL on held-in rows used as queries.

    Each sampled row is a query; its exact neighbours exclude itself, and so do the IVF results, so the
    trivial self-match does not inflate the figure.
    """
    rng = np.random.default_rng(seed)
    queries = rng.choice(len(unit), min(CALIBRATION_QUERIES, len(unit)), replace=False)
    exact_scores = unit[queries] @ unit.T
    exact_scores[np.arange(len(queries)), queries] = -np.inf
    truth = [set(top_k(row, k).tolist()) for row in exact_scores]
    probe = IVFIndex(centroids, offsets, 1, 0.0, len(unit), 0.0)
    nlist = len(centroids)
    nprobe, recall = 1, 0.0
    while True:
        hits = 0
        for q, expected in zip(queries.tolist(), truth, strict=True):
            found = probe.search(unit, unit[q], k + 1, nprobe).tolist()
            hits += len(expected & set([p for p in found if p != q][:k]))
        recall = hits / (len(queries) * k)
        if recall >= TARGET_RECALL or nprobe >= nlist:
            return nprobe, recall
        nprobe = min(nlist, max(nprobe + 1, int(nprobe * 1.5)))


@dataclass
class SpaceSnapshot:
    """One space of one collection at one table version: unit vectors and result columns, row for row."""

    identity: tuple[str | int | None, int]  # the table it was read from: (its key, ``Store._table_key``; version)
    rowids: np.ndarray  # LanceDB row ids (stable for rows a write did not touch)
    unit: np.ndarray  # (n, dim) unit vectors
    columns: pa.Table  # id, text, metadata, parent_id
    lists: np.ndarray | None = None  # IVF list of each row, when indexed
    ivf: IVFIndex | None = None

    def __len__(self) -> int:
        return len(self.rowids)

    @classmethod
    def read(
        cls,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        rows: int,
        identity: tuple[str | int | None, int],
        dimension: int,
    ) -> SpaceSnapshot:
        """From a scan of the space (columns id, text, metadata, parent_id, vector and ``_rowid``), batch by batch
        into one array of ``rows`` (the expected count; it grows if the scan brings more): a space's vectors are
        held once, never a whole scan's copy beside them (at a million rows that copy was 1.5 GB of peak memory).
        ``schema``: the result columns' schema (id, text, metadata, parent_id), for a scan of no rows."""
        unit = np.empty((rows, dimension), dtype=np.float32)
        rowids, columns, filled = [], [], 0
        for batch in batches:
            n = batch.num_rows
            if filled + n > len(unit):  # more rows than the state counted (it never should): grow
                unit = np.concatenate([unit[:filled], np.empty((max(n, filled // 2), dimension), np.float32)])
            flat = batch.column("vector").flatten().to_numpy(zero_copy_only=False)
            unit[filled : filled + n] = unit_rows(np.asarray(flat, dtype=np.float32).reshape(n, dimension))
            rowids.append(batch.column("_rowid").to_numpy())
            columns.append(batch.drop_columns(["vector", "_rowid"]))
            filled += n
        if filled < len(unit):  # fewer rows than expected: do not hold the unused tail
            unit = unit[:filled].copy()
        ids = np.concatenate(rowids) if rowids else np.zeros(0, dtype=np.uint64)
        return cls(identity, ids, unit, pa.Table.from_batches(columns, schema=schema))

    def search(self, vector: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions and cosine scores of the top ``limit`` rows, best first."""
        query = unit_rows(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        k = min(limit, len(self))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        blas_threads.for_queries()
        if self.ivf is not None:
            positions = self.ivf.search(self.unit, query, k)
            return positions, self.unit[positions] @ query
        scores = self.unit @ query
        positions = top_k(scores, k)
        return positions, scores[positions]

    def index(self, previous: SpaceSnapshot | None, *, seed: int = 0) -> None:
        """Build the IVF index: reuse ``previous``'s centroids when the space changed by less than half."""
        with blas_threads.for_training():
            self._index(previous, seed)

    def _index(self, previous: SpaceSnapshot | None, seed: int) -> None:
        start = time.perf_counter()
        old = previous.ivf if previous is not None else None
        if old is not None and old.trained_rows / 2 <= len(self) <= old.trained_rows * 2:
            centroids, trained_rows = old.centroids, old.trained_rows
            lists = self._lists_from(previous, centroids)
        else:
            centroids, trained_rows = spherical_kmeans(self.unit, nlist_for(len(self)), seed=seed), len(self)
            lists = assign(self.unit, centroids)
        order = np.argsort(lists, kind="stable")
        self.rowids, self.lists = self.rowids[order], lists[order]
        permute_rows(self.unit, order)  # in place: a copy would hold the space's vectors twice
        self.columns = self.columns.take(pa.array(order))
        offsets = np.concatenate([[0], np.cumsum(np.bincount(self.lists, minlength=len(centroids)))])
        if old is not None and centroids is old.centroids:
            nprobe, recall = old.nprobe, old.recall
        else:
            nprobe, recall = calibrate_nprobe(self.unit, offsets, centroids, seed=seed)
        self.ivf = IVFIndex(centroids, offsets, nprobe, recall, trained_rows, time.perf_counter() - start)

    def _lists_from(self, previous: SpaceSnapshot, centroids: np.ndarray) -> np.ndarray:
        """Lists of this snapshot's rows: kept from ``previous`` for rows it had (same row id and vector), else
        assigned. A row in a wrong list would only cost recall, never correctness; the vector check keeps even
        that from depending on how LanceDB numbers rows."""
        assert previous.lists is not None
        by_id = np.argsort(previous.rowids)
        sorted_ids = previous.rowids[by_id]
        at = by_id[np.minimum(np.searchsorted(sorted_ids, self.rowids), len(sorted_ids) - 1)]
        known = previous.rowids[at] == self.rowids
        known[known] = np.all(previous.unit[at[known]] == self.unit[known], axis=1)
        lists = np.empty(len(self), dtype=np.int32)
        lists[known] = previous.lists[at[known]]
        if (~known).any():
            lists[~known] = assign(self.unit[~known], centroids)
        return lists

    @property
    def nbytes(self) -> int:
        lists = self.lists.nbytes if self.lists is not None else 0
        return self.unit.nbytes + self.rowids.nbytes + self.columns.nbytes + lists


class SnapshotCache:
    """The snapshots one process holds, within a memory budget: least recently searched out first.

    A space whose snapshot would not fit the budget on its own is not held at all; its searches go to LanceDB's
    index (``taskvec.store.indexes``). Before a space is read, its size is estimated from its row count and the
    bytes per row of the last snapshot of that space (the vectors alone until one was read), so a space known to
    be too large is never read into memory again.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], SpaceSnapshot] = {}  # insertion order = least recently used first
        self._bytes_per_row: dict[tuple[str, str], float] = {}

    def get(self, key: tuple[str, str], identity: tuple[str | int | None, int]) -> SpaceSnapshot | None:
        with self._lock:
            snapshot = self._held.get(key)
            if snapshot is None or snapshot.identity != identity:
                return None
            self._held[key] = self._held.pop(key)  # most recently used
            return snapshot

    def latest(self, key: tuple[str, str]) -> SpaceSnapshot | None:
        """The snapshot held for ``key`` at any version (its IVF lists can be reused)."""
        return self._held.get(key)

    def fits(self, key: tuple[str, str], rows: int, dimension: int) -> bool:
        return rows * self._bytes_per_row.get(key, 4 * dimension) <= self.budget

    def put(self, key: tuple[str, str], snapshot: SpaceSnapshot) -> bool:
        """Hold ``snapshot`` (evicting others as needed); False when it alone exceeds the budget."""
        size = snapshot.nbytes
        self._bytes_per_row[key] = size / max(len(snapshot), 1)
        with self._lock:
            self._held.pop(key, None)
            if size > self.budget:
                return False
            while self._held and self.resident + size > self.budget:
                self._held.pop(next(iter(self._held)))
            self._held[key] = snapshot
            return True

    def drop(self, collection: str) -> None:
        with self._lock:
            for key in [k for k in self._held if k[0] == collection]:
                self._held.pop(key)

    def clear(self) -> None:
        with self._lock:
            self._held.clear()

    @property
    def resident(self) -> int:
        return sum(s.nbytes for s in self._held.values())


def default_memory_budget() -> int:
    """A quarter of the machine's physical memory: room for the model, the server and the page cache beside it."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): 2 GiB
        return 2 << 30
