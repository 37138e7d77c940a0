"""The encode queue: concurrent requests of mixed tasks share forward passes, each caller gets exactly the vectors
a direct encode gives, a lone request is not held back, and an error reaches only the request that causes it.

No timing assertions: coalescing is forced by keeping the encoder's forward passes gated while requests queue up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest
from test_engine import adapter_tasks  # noqa: F401  (fixture: the engine tests' tasks and adapters)

from taskvec.engine import Encoder, EncodeRow
from taskvec.engine.queue import EncodeQueue
from taskvec.errors import InvalidInputError

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Vaccines teach the immune system to recognise a pathogen.",
    "short",
    "A considerably longer sentence that goes on and on about nothing in particular, " * 3,
    "Photosynthesis turns light into chemical energy.",
]
MIXES = [("retrieval", "query"), ("retrieval", "document"), ("similarity", "document"), ("tickets", "document")]


@pytest.fixture(scope="module")
def encoder(tiny_model_dir: Path, adapter_tasks: Path) -> Encoder:  # noqa: F811
    """Tiny model, two tasks with LoRA adapters and one without: a mixed batch runs per-row adapter names."""
    enc = Encoder(tiny_model_dir, tasks_file=adapter_tasks, device="cpu", dtype="fp32", batch_size=16)
    enc.encode_rows([EncodeRow("warm", task, role) for task, role in MIXES])  # loads both adapters up front
    return enc


@pytest.fixture()
def queue(encoder: Encoder) -> Iterator[EncodeQueue]:
    """One worker, so the number of forward passes is predictable; several workers have a test of their own."""
    q = EncodeQueue(encoder, max_batch_tokens=4096, max_wait_ms=20, workers=1)
    yield q
    q.close()


def requests() -> list[list[EncodeRow]]:
    """Eight requests of different tasks, roles and sizes (one larger than a forward pass)."""
    out = [[EncodeRow(TEXTS[i % len(TEXTS)], *MIXES[i % len(MIXES)])] for i in range(6)]
    out.append([EncodeRow(t, task, role) for t in TEXTS for task, role in MIXES])  # 20 rows
    out.append([EncodeRow(f"{t} ({i})", "tickets") for i, t in enumerate(TEXTS * 4)])  # 20 rows
    return out


def run_concurrently(
    queue: EncodeQueue,
    batches: list[list[EncodeRow]],
    *,
    hold: AbstractContextManager[None] | None = None,
    release_when: Callable[[], bool] | None = None,
) -> list[object]:
    """Submit every batch from its own thread; with ``hold`` (the encoder's gate, held alone), no forward pass
    runs until all of them are queued, or until ``release_when`` holds."""
    results: list[object] = [None] * len(batches)

    def call(i: int) -> None:
        try:
            results[i] = queue.submit(batches[i])
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(batches))]
    if hold is not None:
        hold.__enter__()
    try:
        for t in threads:
            t.start()
        if hold is not None:
            wait_until(release_when or (lambda: queue.waiting + sum(r is not None for r in results) >= len(batches)))
    finally:
        if hold is not None:
            hold.__exit__(None, None, None)
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a submit never returned"
    return results


def wait_until(condition: Callable[[], bool], limit: float = 60.0) -> None:
    """Poll ``condition``: a guard against hanging, not a timing assertion."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.005)


def test_concurrent_mixed_tasks_are_coalesced_and_exact(encoder: Encoder, queue: EncodeQueue) -> None:
    batches = requests()
    expected = [encoder.encode_rows(b).vectors for b in batches]
    results = run_concurrently(queue, batches, hold=encoder.adapters.gate.exclusive())
    for result, want, rows in zip(results, expected, batches, strict=True):
        assert not isinstance(result, Exception), result
        np.testing.assert_allclose(result.vectors, want, atol=1e-6)  # type: ignore[union-attr]
        assert result.space_ids == [encoder.space(r.task).id for r in rows]  # type: ignore[union-attr]
    total_rows = sum(len(b) for b in batches)
    assert queue.stats.requests == len(batches) and queue.stats.rows == total_rows
    # 46 rows in passes of at most 16: far fewer passes than requests would need one by one (>= 1 + 2 + 2 + 6).
    assert queue.stats.forward_calls < len(batches) + 4
    assert queue.stats.forward_calls <= -(-total_rows // queue.batch_size) + 1


def test_several_workers_give_the_same_vectors(encoder: Encoder) -> None:
    """CPU queues run one worker per core (one torch thread each): rows of one request may be split between
    workers and still come back whole and in order."""
    q = EncodeQueue(encoder, max_batch_tokens=4096, max_wait_ms=5, workers=3, batch_size=4)
    try:
        batches = requests()
        results = run_concurrently(q, batches, hold=encoder.adapters.gate.exclusive())
        for result, rows in zip(results, batches, strict=True):
            assert not isinstance(result, Exception), result
            np.testing.assert_allclose(result.vectors, encoder.encode_rows(rows).vectors, atol=1e-6)  # type: ignore[union-attr]
        assert q.stats.forward_calls < sum(len(b) for b in batches) and q.waiting == 0
    finally:
        q.close()


def test_idle_workers_split_a_round_by_length(encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight one-row requests of two lengths, waiting for two idle workers: one pass takes the four longest rows,
    the other the four shortest (a pass pads every row to its longest), two passes in all, and every caller
    still gets exactly its own vector."""
    batches = [[EncodeRow(TEXTS[3] if i % 2 else TEXTS[2], "retrieval", "query")] for i in range(8)]
    expected = [encoder.encode_rows(rows).vectors for rows in batches]
    q = EncodeQueue(encoder, max_batch_tokens=4096, max_wait_ms=10_000, workers=2, batch_size=8)
    passes: list[list[int]] = []
    forward = encoder.forward

    def counted(ids: list[list[int]], adapter_names: list[str] | None = None) -> object:
        passes.append(sorted(len(x) for x in ids))
        return forward(ids, adapter_names)

    monkeypatch.setattr(encoder, "forward", counted)
    try:
        wait_until(lambda: q.idle == 2)
        # The gate opens once both workers hold their rows (both blocked on it): released as soon as the rows are
        # queued, a busy machine could let the first worker finish and split the rest again before the second one
        # wakes, three passes instead of two (seen once under load).
        results = run_concurrently(q, batches, hold=encoder.adapters.gate.exclusive(), release_when=lambda: q.idle == 0)
    finally:
        q.close()
    for result, want in zip(results, expected, strict=True):
        assert not isinstance(result, Exception), result
        np.testing.assert_allclose(result.vectors, want, atol=1e-6)  # type: ignore[union-attr]
    assert len(passes) == 2 and sorted(len(p) for p in passes) == [4, 4]
    short, long = sorted(passes)
    assert max(short) < min(long)


def test_rows_of_several_tasks_share_one_pass(encoder: Encoder, queue: EncodeQueue) -> None:
    singles = [[EncodeRow(TEXTS[i], *MIXES[i % len(MIXES)])] for i in range(4)]
    run_concurrently(queue, singles, hold=encoder.adapters.gate.exclusive())
    # The first request may have gone alone before the others arrived; the other three shared the next pass.
    assert queue.stats.forward_calls <= 2 and queue.stats.rows_per_forward >= 2


def test_lone_request_is_not_held_for_company(encoder: Encoder) -> None:
    """With nobody else coming, a request runs once max_wait has passed: in one pass, without a full batch."""
    q = EncodeQueue(encoder, max_batch_tokens=4096, max_wait_ms=50)
    try:
        [result] = run_concurrently(q, [[EncodeRow("alone", "tickets")]])
        np.testing.assert_allclose(
            result.vectors,  # type: ignore[union-attr]
            encoder.encode(["alone"], "tickets").vectors,
            atol=1e-6,
        )
        assert q.stats.forward_calls == 1 and q.waiting == 0
    finally:
        q.close()


def test_bad_input_fails_alone_before_queueing(encoder: Encoder, queue: EncodeQueue) -> None:
    batches = [[EncodeRow("fine", "tickets")], [EncodeRow("  ", "tickets")], [EncodeRow("also fine", "similarity")]]
    results = run_concurrently(queue, batches)
    assert isinstance(results[1], InvalidInputError) and results[1].field == "texts[0]"
    for i in (0, 2):
        np.testing.assert_allclose(results[i].vectors, encoder.encode_rows(batches[i]).vectors, atol=1e-6)  # type: ignore[union-attr]


def test_forward_error_reaches_only_its_caller(
    encoder: Encoder, queue: EncodeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison = encoder.prepare([EncodeRow("poison pill", "tickets")]).ids[0]

    def forward(ids, adapter_names=None):  # type: ignore[no-untyped-def]
        if any(list(row) == poison for row in ids):
            raise RuntimeError("this row breaks the model")
        return Encoder.forward(encoder, ids, adapter_names)

    monkeypatch.setattr(encoder, "forward", forward)
    batches = requests()
    batches.insert(3, [EncodeRow("poison pill", "tickets"), EncodeRow("innocent bystander", "tickets")])
    expected = {i: encoder.encode_rows(b).vectors for i, b in enumerate(batches) if i != 3}
    results = run_concurrently(queue, batches, hold=encoder.adapters.gate.exclusive())
    assert isinstance(results[3], RuntimeError) and "breaks the model" in str(results[3])
    for i, want in expected.items():
        assert not isinstance(results[i], Exception), results[i]
        np.testing.assert_allclose(results[i].vectors, want, atol=1e-6)  # type: ignore[union-attr]
    assert queue.stats.retried_alone >= 1
    assert queue.waiting == 0


def test_closed_queue_refuses(encoder: Encoder) -> None:
    q = EncodeQueue(encoder, max_wait_ms=0)
    q.close()
    with pytest.raises(RuntimeError, match="closed"):
        q.submit([EncodeRow("late", "tickets")])


def test_closing_at_exit_finishes_the_pass_running_and_fails_the_queued(encoder: Encoder, monkeypatch) -> None:
    """What the queue does at interpreter exit (atexit): the workers finish the pass they are in and stop, so none
    is left inside torch as the interpreter finalizes; requests still waiting fail at once instead of running."""
    q = EncodeQueue(encoder, max_wait_ms=0, workers=1)
    started, release = threading.Event(), threading.Event()
    real_forward = encoder.forward

    def slow_forward(*args, **kwargs):
        started.set()
        release.wait(60)
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(encoder, "forward", slow_forward)
    results: dict[str, object] = {}

    def call(name: str) -> None:
        try:
            results[name] = q.submit([EncodeRow(f"a {name} text", "tickets")])
        except RuntimeError as error:
            results[name] = error

    running = threading.Thread(target=call, args=("running",))
    running.start()
    assert started.wait(60)
    queued = threading.Thread(target=call, args=("queued",))
    queued.start()
    wait_until(lambda: q.waiting == 2)
    closing = threading.Thread(target=q.close, kwargs={"drop_queued": True})
    closing.start()
    queued.join(60)
    assert "closed before this request ran" in str(results["queued"])
    assert closing.is_alive()  # it waits for the pass in progress
    release.set()
    for thread in (closing, running):
        thread.join(60)
    assert results["running"].vectors.shape == (1, encoder.dimension)  # type: ignore[union-attr]
    assert not closing.is_alive() and not any(t.is_alive() for t in q._threads)


def test_service_encodes_through_its_queue(encoder: Encoder, tmp_path: Path) -> None:
    from taskvec.service import TaskvecService
    from taskvec.store import Store

    q = EncodeQueue(encoder, max_wait_ms=1)
    try:
        service = TaskvecService(encoder, Store(tmp_path / "db"), queue=q)
        docs = [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)]
        service.index("c", docs, "retrieval")
        hits = service.search(TEXTS[1], "c", "retrieval", limit=2).hits
        assert len(hits) == 2
        assert q.stats.requests == 2  # one index call, one query
    finally:
        q.close()
