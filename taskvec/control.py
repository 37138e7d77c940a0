"""How a long call talks to its caller while it runs: progress out, cancellation in. Plain Python, so the MCP
tools and the command line can import it without loading a model or a store."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

HEARTBEAT_S = 1.0  # while one step blocks, progress is still reported this often


@dataclass(frozen=True)
class CallControl:
    """How a long call talks to its caller while it runs (both optional).

    ``progress(done, total, message)`` reports work done (``total`` None while it is unknown, say while the model
    loads); it may be called from a helper thread (``step``). ``check_cancelled()`` raises (``Interrupted``, or the
    transport's own cancellation) once the caller has given up; it is called between steps on the call's own
    thread, never after a commit has begun.
    """

    progress: Callable[[float, float | None, str], None] | None = None
    check_cancelled: Callable[[], None] | None = None
    # The highest progress reported so far (one cell, so the frozen control can keep it): a step starts above it.
    _highest: list[float] = field(default_factory=lambda: [0.0], repr=False, compare=False)

    def report(self, done: float, total: float | None, message: str) -> None:
        if self.progress is not None:
            self._highest[0] = max(self._highest[0], done)
            self.progress(done, total, message)

    def check(self) -> None:
        if self.check_cancelled is not None:
            self.check_cancelled()

    @contextlib.contextmanager
    def step(
        self, done: float, upto: float, total: float, message: str, expected_s: float, *, announce: bool = False
    ) -> Iterator[None]:
        """Around one blocking step that takes the work from ``done`` to ``upto`` (which the caller reports once
        the step is over): every ``HEARTBEAT_S`` while it runs, a report strictly between the two, estimated
        from ``expected_s``, the step's likely duration; with ``announce``, one as it begins too. Progress only
        ever increases: a step starts from the highest value reported so far if that is past ``done``, the
        estimate approaches ``upto`` without reaching it, and the step ends only once its last report has been
        delivered."""
        if self.progress is None:
            yield
            return
        done = max(done, self._highest[0])
        if announce:
            done += (upto - done) / 2
            self.report(done, total, message)
        stop = threading.Event()

        def beat() -> None:
            began = time.monotonic()
            while not stop.wait(HEARTBEAT_S):
                elapsed = time.monotonic() - began
                try:
                    self.report(done + (upto - done) * elapsed / (elapsed + expected_s), total, message)
                except Exception:  # the caller is gone (its event loop stopping): the step itself goes on
                    return

        thread = threading.Thread(target=beat, name="taskvec-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


NO_CONTROL = CallControl()
