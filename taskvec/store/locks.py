"""One writer per collection at a time, across threads and processes.

LanceDB's optimistic commits rebase concurrent writes, but two writers that insert the same new key both succeed
and leave the row twice (measured: 40 of 40 racing pairs), and the table's space descriptions are a read-modify-
write of its schema metadata. So every write to a collection runs under its lock: a thread lock inside the process
and, for a local store, an advisory ``flock`` on ``<store>/.taskvec-locks/<collection>.lock`` between processes.
The kernel drops a ``flock`` when its process dies, kill -9 included, so a crashed writer never blocks the next.

Readers take no lock: they read committed table versions, which a writer only ever adds.

Stores on object storage (``s3://`` ...) have no file lock; there LanceDB's commit retries are all there is, and
two writers racing to insert the same new id may both land (see README, "Write guarantees").
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from taskvec.errors import StoreBusyError

LOCK_FOLDER = ".taskvec-locks"  # LanceDB lists only ``*.lance`` folders as tables, so this stays out of sight
LOCK_TIMEOUT_S = 300.0  # a write waits this long for another writer of the same collection, then refuses
_POLL_S = 0.02


class CollectionLocks:
    """Locks for the collections of one store. ``folder`` is the store's local folder, or None for remote stores."""

    def __init__(self, folder: Path | None, timeout: float = LOCK_TIMEOUT_S) -> None:
        self.folder = folder
        self.timeout = timeout
        self._threads: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """Hold the collection's write lock for the block; raise StoreBusyError after ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        with self._guard:
            thread_lock = self._threads.setdefault(name, threading.Lock())
        if not thread_lock.acquire(timeout=self.timeout):
            raise _busy(name, self.timeout)
        try:
            with self._file_lock(name, deadline):
                yield
        finally:
            thread_lock.release()

    @contextlib.contextmanager
    def _file_lock(self, name: str, deadline: float) -> Iterator[None]:
        if self.folder is None:
            yield
            return
        folder = self.folder / LOCK_FOLDER
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise _busy(name, self.timeout) from None
                    time.sleep(_POLL_S)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock


def _busy(name: str, timeout: float) -> StoreBusyError:
    return StoreBusyError(
        f"Collection {name!r} has been busy with another write for {timeout:.0f} s.",
        field="collection",
        fix="Retry when the other write (another call, process or `taskvec index`) has finished; nothing was written.",
    )
