"""taskvec's Python log records for MCP clients: the ``logging`` capability (``logging/setLevel``) and
``notifications/message``.

A record logged while a tool call runs goes to the client that made the call, on that call's own stream: on
handshake-era connections once the client has set a level and the record is at or above it, on 2026-07-28
connections when the request opted in with its log-level ``_meta`` (the SDK applies that gate). A record logged
outside any call (the model finished or failed loading) goes to every handshake-era client that set a level.
Records are never printed: over stdio they travel as MCP messages, and the stderr log stays as configured.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import mcp_types as types
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

# The SDK marks logging deprecated as of 2026-07-28 and warns on each use; taskvec offers it on purpose.
warnings.filterwarnings("ignore", message="The logging capability is deprecated", category=MCPDeprecationWarning)

LEVELS: dict[str, int] = {  # MCP's (syslog's) levels on Python's scale
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO + 5,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL + 5,
    "emergency": logging.CRITICAL + 10,
}
LOGGER = "taskvec"  # the records forwarded: taskvec's own, never the SDK's (sending one would log again)

_call: ContextVar[tuple[Any, Any] | None] = ContextVar("taskvec_mcp_call", default=None)  # (session, request id)


def mcp_level(levelno: int) -> types.LoggingLevel:
    name = "debug"
    for candidate, threshold in LEVELS.items():
        if levelno >= threshold:
            name = candidate
    return name  # type: ignore[return-value]


class ClientLogs(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))
        self._levels: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # connection -> level
        self._group: Any = None
        self._token: Any = None
        self._loop_thread: int | None = None

    # ----------------------------------------------------------------------------------------- protocol side
    async def set_level(self, ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        """``logging/setLevel``: this connection gets taskvec's records at ``params.level`` and above."""
        level = LEVELS[params.level]
        self._levels[_connection(ctx.session)] = level
        logger = logging.getLogger(LOGGER)
        if logger.getEffectiveLevel() > level:
            logger.setLevel(level)  # the stderr handlers keep their own level (see taskvec.server.app.serve)
        return types.EmptyResult()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Forward records while the server runs (its lifespan). Entered again while running (SSE enters the
        lifespan per connection as well as at start-up), it changes nothing."""
        if self._group is not None:
            yield
            return
        logger = logging.getLogger(LOGGER)
        level = logger.level
        async with anyio.create_task_group() as group:
            self._group, self._token, self._loop_thread = group, anyio.lowlevel.current_token(), threading.get_ident()
            logger.addHandler(self)
            try:
                yield
            finally:
                logger.removeHandler(self)
                logger.setLevel(level)
                self._group = None
                group.cancel_scope.cancel()

    @staticmethod
    @contextlib.contextmanager
    def call(session: Any, request_id: Any) -> Iterator[None]:
        """Around one tool call: what it logs goes to its own client. Worker threads started inside inherit it."""
        token = _call.set((session, request_id))
        try:
            yield
        finally:
            _call.reset(token)

    # ------------------------------------------------------------------------------------------ logging side
    def handle(self, record: logging.LogRecord) -> bool:
        """Without the handler's lock: delivering waits for the event loop, which may itself be logging."""
        if self.filter(record):
            self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        group = self._group
        if group is None:
            return
        level = mcp_level(record.levelno)
        call = _call.get()
        if call is not None:
            session, request_id = call
            threshold = self._levels.get(_connection(session))
            modern = session.protocol_version in MODERN_PROTOCOL_VERSIONS
            if not modern and (threshold is None or record.levelno < threshold):
                return
            targets = [functools.partial(session.send_log_message, related_request_id=request_id)]
        else:
            targets = [conn.log for conn, threshold in list(self._levels.items()) if record.levelno >= threshold]
        if not targets:
            return
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted is not the client's problem
            return
        deliver = functools.partial(_deliver, targets, level, text, record.name)
        try:
            if threading.get_ident() == self._loop_thread:
                group.start_soon(deliver)
            else:
                anyio.from_thread.run(deliver, token=self._token)  # a call's records arrive before its result
        except Exception:  # the server is stopping: logs to clients are best effort
            return


async def _deliver(targets: list[Any], level: types.LoggingLevel, text: str, logger: str) -> None:
    for send in targets:
        with contextlib.suppress(Exception):  # a client that has gone away
            await send(level, text, logger)


def _connection(session: Any) -> Any:
    """The connection a request's session belongs to: the SDK builds one session per request and keeps the
    connection private, and a level set by one request holds for the connection's later ones."""
    return getattr(session, "_connection", session)
