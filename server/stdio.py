"""The stdio transport, with an answer for every request.

The SDK's stdio transport drops a line it cannot validate (not JSON, a lone surrogate escape, nesting past
pydantic's limit, a wrong shape) without a word, and the client waits forever for its answer. Here the lines are
read first by ``GuardedLines``: each is bounded in size, and one the SDK would drop is answered with a JSON-RPC
error for its id (-32700 parse error, -32600 invalid request) saying what was wrong; only valid lines reach the
SDK. Both share one writer, so an error answer never interleaves with a message being written.

While serving, fd 0 reads from the null device and fd 1 points at stderr, so stray prints of any library can
never corrupt the wire (the SDK does the same when it owns the streams).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Iterator
from io import TextIOWrapper
from typing import Any

import anyio
import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

log = logging.getLogger("taskvec.server")

MAX_LINE_BYTES = 64 << 20  # one JSON-RPC message: twice the default per-call byte limit, so that limit speaks first
_ID_SCAN_BYTES = 4096  # of an oversized line, where to look for its id (first and last bytes)
_ID = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.){0,256}")')


async def run_stdio(server: MCPServer, max_line_bytes: int = MAX_LINE_BYTES) -> None:
    """Serve ``server`` over this process's stdin and stdout until stdin closes."""
    with _claimed_std_streams() as (wire_in, wire_out):
        writer = _LockedWriter(anyio.wrap_file(TextIOWrapper(wire_out, encoding="utf-8", write_through=True)))
        lines = GuardedLines(wire_in, writer, max_line_bytes)
        async with stdio_server(stdin=lines, stdout=writer) as (read_stream, write_stream):  # type: ignore[arg-type]
            lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async runs, over our streams
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


class _LockedWriter:
    """The wire's text writer: one whole message at a time, whoever writes it."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self._lock = anyio.Lock()

    async def write(self, text: str) -> None:
        async with self._lock:
            await self._file.write(text)

    async def flush(self) -> None:
        async with self._lock:
            await self._file.flush()

    async def send_line(self, text: str) -> None:
        async with self._lock:
            await self._file.write(text + "\n")
            await self._file.flush()


class GuardedLines:
    """The lines of the wire that the SDK can parse; every other request is answered here, none is dropped."""

    def __init__(self, wire: Any, writer: _LockedWriter, max_line_bytes: int) -> None:
        self._wire = wire  # a blocking binary reader, read on a worker thread
        self._writer = writer
        self._max = max_line_bytes

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        while True:
            raw = await self._readline(self._max + 1)
            if not raw:
                return
            if len(raw) > self._max and not raw.endswith(b"\n"):
                await self._refuse_oversized(raw)
                continue
            line = raw.decode("utf-8", errors="replace")
            if not line.strip():
                continue
            try:
                types.jsonrpc_message_adapter.validate_json(line, by_name=False)
            except Exception as exc:  # what the SDK would drop: answer it instead
                await self._refuse(line, exc)
                continue
            yield line

    async def _readline(self, limit: int) -> bytes:
        return await anyio.to_thread.run_sync(self._wire.readline, limit, abandon_on_cancel=True)

    async def _refuse_oversized(self, head: bytes) -> None:
        """Skip the rest of an oversized line, then answer it if its id can be found at either end."""
        tail = head[-_ID_SCAN_BYTES:]
        size = len(head)
        while not tail.endswith(b"\n"):
            chunk = await self._readline(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            tail = (tail + chunk)[-_ID_SCAN_BYTES:]
        found = _ID.search(head[:_ID_SCAN_BYTES]) or _ID.search(tail)
        message = (
            f"The message is {size:,} bytes; this server reads at most {self._max:,} per message. Nothing was done."
        )
        log.warning("refused an oversized message (%d bytes)", size)
        if found:
            await self._answer(json.loads(found.group(1)), types.INVALID_REQUEST, message)

    async def _refuse(self, line: str, exc: Exception) -> None:
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            found = _ID.search(line.encode("utf-8", errors="replace")[:_ID_SCAN_BYTES])
            log.warning("refused a line that is not JSON: %.200s", line.strip())
            if found:
                await self._answer(
                    json.loads(found.group(1)), types.PARSE_ERROR, "The message is not valid JSON. Nothing was done."
                )
            return
        request_id = message.get("id") if isinstance(message, dict) else None
        reason = _reason(message, exc)
        log.warning("refused an invalid message: %s", reason)
        if isinstance(request_id, int | str) and not isinstance(request_id, bool):
            await self._answer(request_id, types.INVALID_REQUEST, f"Invalid request: {reason}. Nothing was done.")

    async def _answer(self, request_id: int | str, code: int, message: str) -> None:
        error = types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message))
        await self._writer.send_line(error.model_dump_json(by_alias=True, exclude_unset=True))


def _reason(message: Any, exc: Exception) -> str:
    """What is wrong with a parsed JSON message that the SDK refused, in words a client's author can act on."""
    depth, stack = 0, [(message, 1)]
    while stack:  # iterative: the message may nest deeper than Python's recursion limit allows to walk
        node, level = stack.pop()
        depth = max(depth, level)
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return "a string holds a lone surrogate escape (an unpaired \\ud800-\\udfff), which is not text"
        elif isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
            stack.extend((k, level + 1) for k in node)
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    if "recursion" in str(exc):  # pydantic-core's guard against deep JSON
        return f"the message nests {depth} levels deep; flatten it (a filter may nest 16 levels)"
    lines = [s.strip() for s in str(exc).splitlines()[1:3]] or [str(exc)]
    return ("not a valid JSON-RPC message: " + " ".join(lines))[:500]


@contextlib.contextmanager
def _claimed_std_streams() -> Iterator[tuple[Any, Any]]:
    """Private binary handles on the wire; fds 0 and 1 point at /dev/null and stderr meanwhile."""
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    # closefd=False, and the duplicates stay open: a worker thread may still be blocked reading after we return.
    reader = os.fdopen(wire_in, "rb", buffering=1 << 16, closefd=False)
    writer = os.fdopen(wire_out, "wb", closefd=False)
    try:
        yield reader, writer
    finally:
        with contextlib.suppress(OSError, ValueError):
            writer.flush()
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)
