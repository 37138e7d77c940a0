"""How a long call talks to its caller while it runs: progress out, cancellation in. Plain Python, so the MCP
tools and the command line can import it without loading a model or a store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CallControl:
    """How a long call talks to its caller while it runs (both optional).

    ``progress(done, total, message)`` reports work done (``total`` None while it is unknown, say while the model
    loads); ``check_cancelled()`` raises (``Interrupted``, or the transport's own cancellation) once the caller has
    given up, and is called between steps, never after a commit has begun.
    """

    progress: Callable[[float, float | None, str], None] | None = None
    check_cancelled: Callable[[], None] | None = None

    def report(self, done: float, total: float | None, message: str) -> None:
        if self.progress is not None:
            self.progress(done, total, message)

    def check(self) -> None:
        if self.check_cancelled is not None:
            self.check_cancelled()


NO_CONTROL = CallControl()
