"""One encode queue per server: concurrent calls of any tasks share forward passes.

MCP tool handlers run on worker threads, one call each. Encoding each call on its own would run one small forward
pass per call, one after the other under the encoder's lock; a forward pass of 16 queries costs little more than
one of a single query, so most of that time is wasted. The queue coalesces them the way text-embeddings-inference
does with ``max-batch-tokens``:

* The caller's thread checks and tokenizes its rows (``Encoder.prepare``): bad input fails in the caller's own
  thread before it is queued, and tokenizing overlaps the forward pass that is running meanwhile.
* Worker threads build each forward pass from the rows of every waiting request, bounded by rows
  (``batch_size``) and padded tokens (``max_batch_tokens``), whatever their tasks: rows of different tasks share
  one pass through PEFT's per-row ``adapter_names``. On a GPU one worker feeds the device; on a CPU there is one
  worker per core, each pass on one torch thread (``Encoder.workers``; why in ``forward.run_parallel``), so a large
  call is spread over the cores and small ones run beside it.
* Small requests go first, so a query waits at most one forward pass behind a large index call instead of the
  whole call; the large call fills whatever room the small ones leave, so it is never starved.
* A lone request waits at most ``max_wait_ms`` for company; requests that arrive while a pass runs wait for
  nothing more than that pass.
* If a shared pass fails, each of its requests is retried alone, so an error reaches only the request that
  causes it.

Results equal ``Encoder.encode_rows`` on the same rows to float rounding: a row's vector does not depend on the
rows it shares a batch with.

Rerankers' (query, document) pairs come through ``submit_pairs`` and are batched the same way, with the pairs of
other calls of the same reranker (a pass never mixes embedding rows with pairs: their outputs differ).
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from taskvec.engine.encoder import Encoder, EncodeResult, EncodeRow
from taskvec.engine.tasks import Role, Task

__all__ = ["EncodeQueue", "QueueStats"]


@dataclass
class QueueStats:
    """Counters since the queue started: how well concurrent calls were coalesced."""

    requests: int = 0
    rows: int = 0
    forward_calls: int = 0
    retried_alone: int = 0  # requests re-run on their own after a shared forward pass failed

    @property
    def rows_per_forward(self) -> float:
        return self.rows / self.forward_calls if self.forward_calls else 0.0


# Runs the given rows of prepared pairs, returning (rows, width) outputs: a reranker's ``forward_rows``.
PassRunner = Callable[[Sequence[tuple[Any, Sequence[int]]]], torch.Tensor]


@dataclass(eq=False)
class _Request:
    prepared: Any  # PreparedRows, or a reranker's PreparedPairs (anything with .ids and len())
    arrived: float
    todo: list[int]  # row indices not yet given to a forward pass, longest first
    remaining: int  # rows whose vectors have not come back yet
    parts: list[tuple[list[int], torch.Tensor]] = field(default_factory=list)  # kept on the device until done
    vectors: np.ndarray | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    runner: PassRunner | None = None  # None: the encoder's forward (vectors); else pairs through a reranker
    width: int = 0  # output columns per row when runner is set


class EncodeQueue:
    """Coalesce concurrent ``submit`` calls into shared forward passes of ``encoder``.

    >>> queue = EncodeQueue(encoder, max_batch_tokens=16384, max_wait_ms=2)
    >>> queue.submit([EncodeRow("how do vaccines work?", "retrieval", "query")]).vectors.shape
    (1, 384)

    ``workers`` defaults to ``encoder.workers`` (one per core on CPU, one on accelerators). With several, each
    worker thread sets torch to one thread, which also sets MKL's process-wide count: a queue is meant for a
    process that serves (``build_service``), not for one that also runs large direct encodes.
    """

    def __init__(
        self,
        encoder: Encoder,
        max_batch_tokens: int | None = None,
        max_wait_ms: float = 2.0,
        *,
        batch_size: int | None = None,
        workers: int | None = None,
    ) -> None:
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must be >= 0")
        self.encoder = encoder
        self.max_batch_tokens = max_batch_tokens or encoder.max_batch_tokens
        self.batch_size = batch_size or encoder.batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.workers = workers or encoder.workers
        self.stats = QueueStats()
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._idle = 0  # workers not in a forward pass: the waiting rows are shared among them
        self._left_for_others = False  # the last pass left rows of its round to the other idle workers: no waiting
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, name=f"taskvec-encode-queue-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()
        # Joined before the interpreter finalizes: a daemon worker it stopped mid-pass (inside torch) aborts the
        # process ("terminate called without an active exception"), as after a Ctrl-C'd `taskvec index` on a busy
        # machine. At exit the rows still queued are dropped: their callers are gone.
        atexit.register(self.close, drop_queued=True)

    # ------------------------------------------------------------------------------------------------ callers
    def submit(self, rows: Sequence[EncodeRow]) -> EncodeResult:
        """Encode ``rows`` (any mix of tasks and roles) in shared forward passes; blocks until they are done."""
        prepared = self.encoder.prepare(rows)  # on the caller's thread: bad input fails here, alone
        if not len(prepared):
            return EncodeResult(np.zeros((0, self.encoder.dimension), dtype=np.float32), 0, [])
        vectors = prepared.compose(self._wait(prepared, None, 0))  # blended tasks: two forward rows per row
        return EncodeResult(vectors=vectors, truncated=prepared.truncated, space_ids=prepared.space_ids)

    def submit_pairs(self, prepared: Any, runner: PassRunner, width: int = 1) -> np.ndarray:
        """Outputs (n, ``width``) of a reranker's prepared pairs, run by ``runner`` in passes shared with other
        calls of the same runner; blocks until they are done."""
        if not len(prepared):
            return np.zeros((0, width), dtype=np.float32)
        return self._wait(prepared, runner, width)

    def _wait(self, prepared: Any, runner: PassRunner | None, width: int) -> np.ndarray:
        lengths = np.fromiter((len(x) for x in prepared.ids), dtype=np.int64, count=len(prepared))
        request = _Request(
            prepared=prepared,
            arrived=time.monotonic(),
            todo=np.argsort(-lengths, kind="stable").tolist(),
            remaining=len(prepared),
            runner=runner,
            width=width,
        )
        with self._cond:
            if self._closed:
                raise RuntimeError("the encode queue is closed")
            self._pending.append(request)
            self.stats.requests += 1
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.vectors is not None
        return request.vectors

    def encode(self, texts: Sequence[str], task: str | Task = "retrieval", role: Role = "document") -> EncodeResult:
        """``Encoder.encode`` through the queue."""
        if isinstance(texts, str):
            return self.encoder.encode(texts, task, role)  # raises the encoder's own error for a bare string
        return self.submit([EncodeRow(x, task, role) for x in texts])

    def close(self, *, drop_queued: bool = False) -> None:
        """Stop the workers once the requests already queued are done (``drop_queued``: once the passes running
        now are, failing the rest); later submits raise."""
        with self._cond:
            self._closed = True
            queued = [r for r in self._pending if r.todo] if drop_queued else []
            self._cond.notify_all()
        for request in queued:
            self._fail(request, RuntimeError("the encode queue closed before this request ran"))
        for thread in self._threads:
            thread.join()

    @property
    def waiting(self) -> int:
        """Requests queued or in a forward pass right now."""
        with self._cond:
            return len(self._pending)

    @property
    def idle(self) -> int:
        """Workers not in a forward pass right now."""
        with self._cond:
            return self._idle

    # ------------------------------------------------------------------------------------------------- worker
    def _run(self) -> None:
        if self.workers > 1:
            torch.set_num_threads(1)  # one torch thread per worker: the workers are the parallelism
        while True:
            with self._cond:
                self._idle += 1
                try:
                    while not self._closed and not any(r.todo for r in self._pending):
                        self._cond.wait()
                    if self._closed and not any(r.todo for r in self._pending):
                        return
                    # Wait for company until the oldest waiting request has waited max_wait, or a pass is full.
                    deadline = min(r.arrived for r in self._pending if r.todo) + self.max_wait
                    while (
                        not self._closed
                        and not self._left_for_others
                        and not self._full()
                        and (left := deadline - time.monotonic()) > 0
                    ):
                        self._cond.wait(left)
                    taken = self._take()
                finally:
                    self._idle -= 1
            self._execute(taken)

    def _full(self) -> bool:
        """Whether the waiting rows already fill one forward pass (no reason to wait longer)."""
        rows = sum(len(r.todo) for r in self._pending)
        if rows >= self.batch_size:
            return True
        longest = max((len(r.prepared.ids[r.todo[0]]) for r in self._pending if r.todo), default=0)
        return bool(self.max_batch_tokens) and rows * longest >= self.max_batch_tokens

    def _fits(self, rows: int, longest: int) -> bool:
        budget = self.max_batch_tokens
        return rows <= self.batch_size and (rows == 1 or not budget or rows * longest <= budget)

    def _take(self) -> list[tuple[_Request, list[int]]]:
        """Rows for the next forward pass: smallest requests first, then the rest of the room to larger ones.

        With several workers, the rows the idle workers can take now are chosen that way, and this pass takes the
        longest of them, at most its share (the waiting rows over the idle workers), leaving the shorter ones to
        the next idle worker, which takes them at once (they have waited for company already). A pass pads every
        row to its longest, so passes of similar lengths pad little: a classify call's one-word labels no longer
        run at the width of the longest query beside them.
        """
        waiting = [r for r in self._pending if r.todo]
        if waiting:  # one pass runs one kind of row: the encoder's, or one reranker's pairs
            runner = min(waiting, key=lambda r: (len(r.todo), r.arrived)).runner
            waiting = [r for r in waiting if r.runner == runner]  # bound methods: equal, not identical
        idle = max(1, self._idle)
        share = -(-sum(len(r.todo) for r in waiting) // idle)
        candidates: list[tuple[int, _Request, int]] = []  # (tokens, request, row): this round's rows
        for request in sorted(waiting, key=lambda r: (len(r.todo), r.arrived)):
            room = self.batch_size * idle - len(candidates)
            if room <= 0:
                break
            ids = request.prepared.ids
            candidates.extend((len(ids[i]), request, i) for i in request.todo[:room])
        if idle > 1:
            candidates.sort(key=lambda c: -c[0])  # stable: equal lengths keep the requests' order
        chosen: dict[_Request, list[int]] = {}
        rows = longest = 0
        for length, request, i in candidates:
            if rows >= share or not self._fits(rows + 1, max(longest, length)):
                break
            rows, longest = rows + 1, max(longest, length)
            chosen.setdefault(request, []).append(i)
        for request, taken_rows in chosen.items():
            gone = set(taken_rows)
            request.todo = [i for i in request.todo if i not in gone]
        self._left_for_others = idle > 1 and rows < len(candidates)
        return list(chosen.items())

    def _execute(self, taken: list[tuple[_Request, list[int]]]) -> None:
        if not taken:
            return
        try:
            self._forward(taken)
        except Exception as shared_error:
            if len(taken) == 1:
                self._fail(taken[0][0], shared_error)
                return
            for part in taken:  # find who caused it: each request's rows again, on their own
                with self._cond:
                    self.stats.retried_alone += 1
                try:
                    self._forward([part])
                except Exception as error:
                    self._fail(part[0], error)

    def _forward(self, taken: list[tuple[_Request, list[int]]]) -> None:
        ids = [r.prepared.ids[i] for r, rows in taken for i in rows]
        runner = taken[0][0].runner
        if runner is None:
            vectors = self.encoder.forward(ids, [r.prepared.adapter_names[i] for r, rows in taken for i in rows])
        else:
            vectors = runner([(r.prepared, rows) for r, rows in taken])
        complete = []
        with self._cond:  # other workers may be delivering other rows of the same requests
            self.stats.forward_calls += 1
            self.stats.rows += len(ids)
            start = 0
            for request, rows in taken:
                request.parts.append((rows, vectors[start : start + len(rows)]))
                start += len(rows)
                request.remaining -= len(rows)
                if request.remaining == 0 and request.error is None:
                    complete.append(request)
        for request in complete:
            self._finish(request)

    def _finish(self, request: _Request) -> None:
        """Copy a complete request's vectors to the host (its only device sync) and wake its caller."""
        try:
            out = np.empty((len(request.prepared), request.width or self.encoder.dimension), dtype=np.float32)
            order = [i for rows, _ in request.parts for i in rows]
            out[order] = torch.cat([part for _, part in request.parts]).cpu().numpy()
            request.vectors = out
        except Exception as error:
            request.error = error
        request.parts.clear()
        self._release(request)

    def _fail(self, request: _Request, error: BaseException) -> None:
        with self._cond:
            if request.error is not None or request.done.is_set():
                return
            request.error = error
            request.todo.clear()  # nothing more of it runs; rows another worker holds are dropped on arrival
            request.parts.clear()
        self._release(request)

    def _release(self, request: _Request) -> None:
        with self._cond:
            if request in self._pending:
                self._pending.remove(request)
        request.done.set()
