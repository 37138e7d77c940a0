"""The server's service, made on a background thread so that ``initialize`` and ``tools/list`` are answered at once.

Loading the model takes seconds (tens on a busy machine), most of it importing torch and transformers; opening the
store costs lancedb's import. The server's lifespan starts both and does not wait: a tool that needs only the store
(``ToolSpec.needs_model`` False) waits for the store, any other for the model too. A load that fails fails exactly
the calls that wait for it, each with the load error's text, and is logged once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from taskvec.control import NO_CONTROL, CallControl
from taskvec.errors import ModelLoadError, TaskvecError

if TYPE_CHECKING:
    from taskvec.config import Settings
    from taskvec.service import TaskvecService
    from taskvec.store_service import StoreService

log = logging.getLogger("taskvec.server")

T = TypeVar("T")
_POLL_S = 0.2  # how often a waiting call checks whether its caller has given up


class _Slot(Generic[T]):
    """A value that arrives from another thread, or the error that came instead."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: T | None = None
        self._error: Exception | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def set(self, value: T) -> None:
        self._value = value
        self._done.set()

    def fail(self, error: Exception) -> None:
        self._error = error
        self._done.set()

    def wait(self, control: CallControl, what: str) -> T:
        if not self._done.is_set():
            control.report(0, None, f"waiting for the server to finish {what}")
            while not self._done.wait(_POLL_S):
                control.check()  # a cancelled call stops waiting
        if self._error is not None:
            raise _again(self._error)
        assert self._value is not None
        return self._value


class ServiceLoader:
    """Makes the store, then the full service, once, on a daemon thread that ``start()`` begins."""

    def __init__(
        self,
        make_service: Callable[[StoreService | None], TaskvecService],
        make_store: Callable[[], StoreService] | None = None,
    ) -> None:
        self._make_service = make_service
        self._make_store = make_store
        self._store: _Slot[StoreService] = _Slot()
        self._service: _Slot[TaskvecService] = _Slot()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def ready(cls, service: TaskvecService) -> ServiceLoader:
        """A loader of a service that exists already (tests, embedders): nothing to wait for."""
        loader = cls(lambda store: service)
        loader._store.set(service)
        loader._service.set(service)
        return loader

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceLoader:
        """The store from ``settings`` (read-only when they say so), then the engine over that same store."""

        def make_store() -> StoreService:
            from taskvec.store_service import StoreService

            return StoreService(settings.build_store(read_only=settings.read_only))

        def make_service(store: StoreService | None) -> TaskvecService:
            from taskvec.service import build_service, quiet_libraries

            quiet_libraries()
            return build_service(settings, store=store.store if store is not None else None)

        return cls(make_service, make_store)

    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._service.done:
                self._thread = threading.Thread(target=self._load, name="taskvec-load", daemon=True)
                self._thread.start()

    def store_service(self, control: CallControl = NO_CONTROL) -> StoreService:
        """The service of the calls that need no model: waits for the store alone."""
        self.start()
        return self._store.wait(control, "opening the store")

    def service(self, control: CallControl = NO_CONTROL) -> TaskvecService:
        """The whole service: waits for the model."""
        self.start()
        return self._service.wait(control, "loading the model")

    def wait(self, timeout: float) -> bool:
        """Whether everything has loaded (or failed) within ``timeout`` seconds."""
        self.start()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._service.done

    def _load(self) -> None:
        store: StoreService | None = None
        try:
            if self._make_store is not None:
                store = self._make_store()
                self._store.set(store)
            service = self._make_service(store)
        except Exception as exc:
            _log_failure(exc, "the model" if store is not None else "the store or the model")
            if not self._store.done:
                self._store.fail(exc)
            self._service.fail(exc)
            return
        self._service.set(service)
        if not self._store.done:
            self._store.set(service)
        log.info("model loaded: %s; every tool is ready", service.encoder.model_name)


def _log_failure(exc: Exception, what: str) -> None:
    if isinstance(exc, TaskvecError):
        log.error("could not load %s; the calls that need it fail with: %s", what, exc)
    else:
        log.error("could not load %s; the calls that need it fail with this error", what, exc_info=exc)


def _again(error: Exception) -> TaskvecError:
    """A fresh error with the load error's text, for each call that waited (one object raised from many threads
    would pile their tracebacks onto each other)."""
    if isinstance(error, TaskvecError):
        fresh = type(error)(error.message, field=error.field, fix=error.fix)
    else:
        fresh = ModelLoadError(
            f"The server could not load its model: {type(error).__name__}: {error}",
            field="model",
            fix="Check TASKVEC_MODEL (and the server's log, which holds the details), then restart the server.",
        )
    fresh.__cause__ = error
    return fresh
