"""The gate around the shared backbone: forward passes hold it together, an adapter load holds it alone.

Forward passes only read the model, so any number may run at once (the batching queue runs one per CPU core).
Loading an adapter changes the model (PEFT wraps it and adds layers), so it must wait for running passes and keep
new ones out until it is done. A plain lock would serialise the passes; this is a readers-writer lock that lets a
waiting writer in first, so a load is never starved by a steady stream of passes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SharedGate:
    """Many holders at once (forward passes, which only read the model) or one alone (an adapter load, which
    changes it). A waiting exclusive holder keeps new shared ones out, so a load is never starved."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._waiting:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if not self._shared:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._exclusive or self._shared:
                self._cond.wait()
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
