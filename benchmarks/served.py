"""``taskvec serve`` with clocks on the service: where a tool call's time goes on the server side.

Run by benchmarks/concurrency.py in place of ``taskvec serve``. It patches, in its own process only, the
outermost service method of each tool call (``search``, ``similar``, ``classify``) and the encode queue's
``submit``, and appends one record per tool call (wall-clock start and end, the seconds spent waiting for
vectors); it also clocks each HTTP POST in the ASGI app and counts each forward pass's rows and padding. On SIGTERM it writes both to ``$TASKVEC_TIMINGS`` as JSON
and exits. The benchmark subtracts a call's service time from its latency at the client: what is left is MCP
framing, HTTP, JSON, pydantic and thread hand-offs on both ends; the request's time in the ASGI app splits that
into the server's share and the client's (with the socket between them). With
``$TASKVEC_PROFILE`` set it also profiles the event-loop thread (cProfile) and writes the stats there.

    TASKVEC_TIMINGS=/tmp/t.json python benchmarks/served.py serve --transport streamable-http --port 8765
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RECORDS: list[dict[str, Any]] = []  # one per tool call's service method
REQUESTS: list[dict[str, Any]] = []  # one per HTTP POST the ASGI app answered (each MCP request is one)
PASSES: list[dict[str, Any]] = []  # one per forward pass: its rows, their tokens, and the width they are padded to
_local = threading.local()


def _outermost(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_local, "call", None) is not None:  # similar() calls search(): count the call once
            return fn(*args, **kwargs)
        _local.call = record = {"tool": name, "start": time.time(), "encode_wait": 0.0}
        begin = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            record["service"] = time.perf_counter() - begin
            record["end"] = time.time()
            _local.call = None
            RECORDS.append(record)

    return wrapper


def _timed(key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        begin = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            record = getattr(_local, "call", None)
            if record is not None:
                record[key] = record.get(key, 0.0) + time.perf_counter() - begin

    return wrapper


def _timed_app(app: Callable[..., Any]) -> Callable[..., Any]:
    """The ASGI app, clocking each POST from the moment uvicorn hands it over until the response is sent: the
    server's share of a call (HTTP parsing before it is not counted, nor the socket's)."""

    async def timed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST":
            await app(scope, receive, send)
            return
        record = {"start": time.time()}
        begin = time.perf_counter()
        try:
            await app(scope, receive, send)
        finally:
            record["seconds"] = time.perf_counter() - begin
            REQUESTS.append(record)

    return timed


def _counted_forward(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def forward(self: Any, ids: Any, *args: Any, **kwargs: Any) -> Any:
        lengths = [len(x) for x in ids]
        PASSES.append({"start": time.time(), "rows": len(ids), "tokens": sum(lengths), "width": max(lengths)})
        return fn(self, ids, *args, **kwargs)

    return forward


def install() -> None:
    import taskvec.server.app as server_app
    from taskvec.engine.encoder import Encoder
    from taskvec.engine.queue import EncodeQueue
    from taskvec.service import TaskvecService

    http_app = server_app.http_app
    server_app.http_app = lambda *args, **kwargs: _timed_app(http_app(*args, **kwargs))

    for name in ("search", "similar", "classify"):
        setattr(TaskvecService, name, _outermost(name, getattr(TaskvecService, name)))
    EncodeQueue.submit = _timed("encode_wait", EncodeQueue.submit)  # type: ignore[method-assign]
    Encoder.forward = _counted_forward(Encoder.forward)  # type: ignore[method-assign]

    profiler = None
    if os.environ.get("TASKVEC_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()

    def dump(*_: Any) -> None:
        Path(os.environ["TASKVEC_TIMINGS"]).write_text(
            json.dumps({"calls": RECORDS, "requests": REQUESTS, "passes": PASSES})
        )
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.environ["TASKVEC_PROFILE"])
        os._exit(0)

    signal.signal(signal.SIGTERM, dump)


if __name__ == "__main__":
    install()
    from taskvec.cli import main

    sys.exit(main(sys.argv[1:]))
