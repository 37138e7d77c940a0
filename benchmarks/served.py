"""``taskvec serve`` with clocks on the service: where a tool call's time goes on the server side.

Run by benchmarks/concurrency.py in place of ``taskvec serve`` (``--timed``). It patches, in its own process
only, the outermost service method of each tool call (``search``, ``similar``, ``classify``), the encode queue's
``submit`` and the encoder's ``forward``, and appends one record per tool call (wall-clock start and end, the
seconds spent waiting for vectors, the seconds of forward passes on that thread). On SIGTERM it writes them to
``$TASKVEC_TIMINGS`` as JSON and exits. The benchmark subtracts a call's service time from its latency at the
client: what is left is MCP framing, HTTP, JSON, pydantic and thread hand-offs on both ends. With
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

RECORDS: list[dict[str, Any]] = []
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


def install() -> None:
    from taskvec.engine.queue import EncodeQueue
    from taskvec.service import TaskvecService

    for name in ("search", "similar", "classify"):
        setattr(TaskvecService, name, _outermost(name, getattr(TaskvecService, name)))
    EncodeQueue.submit = _timed("encode_wait", EncodeQueue.submit)  # type: ignore[method-assign]

    profiler = None
    if os.environ.get("TASKVEC_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()

    def dump(*_: Any) -> None:
        Path(os.environ["TASKVEC_TIMINGS"]).write_text(json.dumps(RECORDS))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.environ["TASKVEC_PROFILE"])
        os._exit(0)

    signal.signal(signal.SIGTERM, dump)


if __name__ == "__main__":
    install()
    from taskvec.cli import main

    sys.exit(main(sys.argv[1:]))
