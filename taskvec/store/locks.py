"""One writer per collection at a time, across threads and processes.

LanceDB's optimistic commits rebase concurrent writes, but two writers that insert the same new key both succeed
and leave the row twice (measured: 40 of 40 racing pairs), and the table's space descriptions are a read-modify-
write of its schema metadata. So every write to a collection runs under its lock: a thread lock inside the process
and, for a local store, an advisory ``flock`` on ``<store>/.taskvec-locks/<collection>.lock`` between processes.
The kernel drops a ``flock`` when its process dies, kill -9 included, so a crashed writer never blocks the next.

Readers take no lock: they read committed table versions, which a writer only ever adds.

Index builds that a write starts run without the write lock (a build takes minutes at a million rows, and writes must
not wait for it). They take the collection's *build* lock instead (``<collection>.build.lock``): a build writes its
files first and commits them after, and a cleanup that deletes files no version references yet (what a crashed
write leaves) would delete a running build's. So a cleanup deletes such files only while it holds the build lock.

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
        with self._lock(name, time.monotonic() + self.timeout) as held:
            if not held:
                raise _busy(name, self.timeout)
            yield

    @contextlib.contextmanager
    def building(self, name: str) -> Iterator[None]:
        """Hold the collection's build lock while its indexes are built; raise StoreBusyError after ``timeout``."""
        with self._lock(f"{name}.build", time.monotonic() + self.timeout) as held:
            if not held:
                raise _busy(name, self.timeout, what="an index build", other="the other index build")
            yield

    @contextlib.contextmanager
    def unless_building(self, name: str) -> Iterator[bool]:
        """True, with builds held off for the block, when no index build of the collection is running (in any
        process); False, at once, when one is."""
        with self._lock(f"{name}.build", None) as held:
            yield held

    @contextlib.contextmanager
    def _lock(self, key: str, deadline: float | None) -> Iterator[bool]:
        """The thread lock and (local stores) the file lock ``key``, waited for until ``deadline`` (None: taken only
        if free now); yields whether they are held."""
        with self._guard:
            thread_lock = self._threads.setdefault(key, threading.Lock())
        if deadline is None:
            acquired = thread_lock.acquire(blocking=False)
        else:
            acquired = thread_lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
        if not acquired:
            yield False
            return
        try:
            with self._file_lock(key, deadline) as held:
                yield held
        finally:
            thread_lock.release()

    @contextlib.contextmanager
    def _file_lock(self, key: str, deadline: float | None) -> Iterator[bool]:
        if self.folder is None:
            yield True
            return
        folder = self.folder / LOCK_FOLDER
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = True
                    break
                except BlockingIOError:
                    if deadline is None or time.monotonic() > deadline:
                        held = False
                        break
                    time.sleep(_POLL_S)
            yield held
        finally:
            os.close(fd)  # closing the descriptor releases the lock


def _busy(
    name: str,
    timeout: float,
    what: str = "another write",
    other: str = "the other write (another call, process or `taskvec index`)",
) -> StoreBusyError:
    return StoreBusyError(
        f"Collection {name!r} has been busy with {what} for {timeout:.0f} s.",
        field="collection",
        fix=f"Retry when {other} has finished; nothing was written.",
    )
