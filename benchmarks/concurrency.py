"""16 concurrent MCP clients of mixed tasks against the same calls made one by one, through the real transport.

A `taskvec serve --transport streamable-http` subprocess (the bundled model, its shipped adapters, a fresh
store, the encode queue as configured); clients are MCP ``Client`` sessions over streamable HTTP in this process.
The calls cycle through three tools and three tasks: ``search`` (retrieval), ``similar`` (similarity) and
zero-shot ``classify`` (classification, one text and four labels), each with a distinct SciFact query, and the
server's query cache is off, so every call encodes. Sequential: one session, one call at a time. Concurrent: 16
sessions, each making its share of the same calls back to back. Every session is opened and makes one call of
each tool before the clock starts (the SDK lists the tools and compiles each tool's output schema on a session's
first call of it): a session's set-up is paid once per client, not per call. The two alternate (sequential,
concurrent, sequential, concurrent) and the figures are the medians.

The server runs through benchmarks/served.py, which clocks each tool call's service method and its wait for
vectors: a sequential call's latency at the client minus its service time is the per-call overhead outside
encoding and search (MCP framing, HTTP, JSON, pydantic, thread hand-offs, on both ends).

    python benchmarks/concurrency.py --calls 160 --clients 16
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import bench_main, load_average, median, percentile, ratio, scifact_queries, scifact_texts

LABELS = ["biology", "medicine", "physics", "chemistry"]
STARTUP_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path, log: Path, wait_ms: float, timings: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKVEC_")}
    env.update(
        TASKVEC_STORE=str(store),
        TASKVEC_DEVICE="cpu",
        TASKVEC_BATCH_WAIT_MS=str(wait_ms),
        TASKVEC_QUERY_CACHE_SIZE="0",  # the same calls are made twice: every one must really encode
        TASKVEC_LOG_LEVEL="WARNING",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        TASKVEC_TIMINGS=str(timings),
    )
    if os.environ.get("TASKVEC_PROFILE"):  # served.py profiles the event loop (see there)
        env["TASKVEC_PROFILE"] = os.environ["TASKVEC_PROFILE"]
    served = Path(__file__).resolve().with_name("served.py")
    cmd = [sys.executable, str(served), "serve", "--transport", "streamable-http", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError("the server did not start listening")


TOOLS = ("search", "similar", "classify")


def calls(n: int) -> list[tuple[str, dict[str, Any]]]:
    queries = scifact_queries()
    out = []
    for i in range(n):
        q = queries[i % len(queries)]
        kind = i % len(TOOLS)
        if kind == 0:
            out.append(("search", {"query": q, "collection": "sci-retrieval", "limit": 10}))
        elif kind == 1:
            out.append(("similar", {"text": q, "collection": "sci-similarity", "limit": 10}))
        else:
            out.append(("classify", {"texts": [q], "labels": LABELS}))
    return out


async def session(
    url: str,
    work: list[tuple[str, dict[str, Any]]],
    latencies: list[tuple[float, float]],
    opened: Callable[[], Awaitable[None]],
) -> None:
    """One client: opens its session and makes one call of each tool (the SDK lists the tools and compiles each
    output schema on a session's first call of it), waits in ``opened`` until every session is open, then makes
    its ``work`` calls back to back, timing each."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(300), trust_env=False) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        for name, arguments in calls(len(TOOLS)):
            await _call(client, name, arguments)
        await opened()
        for name, arguments in work:
            wall, start = time.time(), time.perf_counter()
            await _call(client, name, arguments)
            latencies.append((wall, time.perf_counter() - start))


async def _call(client: Any, name: str, arguments: dict[str, Any]) -> None:
    result = await client.call_tool(name, arguments)
    if result.is_error:
        raise RuntimeError(f"{name} failed: {result.content}")


async def setup(url: str, docs: int) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    documents = [{"id": str(i), "text": t} for i, t in enumerate(scifact_texts(docs))]
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(600), trust_env=False) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        for collection, task in (("sci-retrieval", "retrieval"), ("sci-similarity", "similarity")):
            result = await client.call_tool("index", {"collection": collection, "documents": documents, "task": task})
            if result.is_error:
                raise RuntimeError(f"index failed: {result.content}")


def measure(url: str, work: list[tuple[str, dict[str, Any]]], clients: int) -> dict[str, Any]:
    """Throughput and latency of ``work`` spread over ``clients`` sessions. The clock starts once every session is
    open and warm: a session's set-up (HTTP client, initialize, tools/list, output-schema compilation) is paid
    once per client, not per call, and 16 of them would otherwise weigh on the concurrent figure alone."""
    import anyio

    latencies: list[tuple[float, float]] = []
    waiting = clients
    everyone_open = anyio.Event()
    started = 0.0

    async def opened() -> None:
        nonlocal waiting, started
        waiting -= 1
        if not waiting:
            started = time.perf_counter()
            everyone_open.set()
        await everyone_open.wait()

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for c in range(clients):
                group.start_soon(session, url, work[c::clients], latencies, opened)

    anyio.run(main)
    seconds = time.perf_counter() - started
    ms = [s * 1000 for _, s in latencies]
    return {
        "calls_per_second": round(len(work) / seconds, 2),
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "calls": latencies,  # (wall-clock start, seconds) per call, matched with the server's records
    }


def overhead(sequential: list[tuple[float, float]], timings: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Per sequential call: latency at the client minus the server's service time for it (the one service record
    that started inside the call's window; calls are one at a time, so there is exactly one), split at the HTTP
    request's time in the server's ASGI app into the server's share and the client's (with the socket)."""
    rows, sides = [], []
    for wall, seconds in sequential:
        inside = [r for r in timings["calls"] if wall <= r["start"] <= wall + seconds]
        requests = [r for r in timings["requests"] if wall <= r["start"] <= wall + seconds]
        if len(inside) == 1 and len(requests) == 1:
            call, request = inside[0], requests[0]
            rows.append((seconds, call["service"], call["encode_wait"], request["seconds"]))
            # the server's share, either side of the service: request parsing, validation and the hop onto the
            # worker thread before it; the hop back, the result's validation, serialisation and sending after it
            sides.append((call["start"] - request["start"], request["start"] + request["seconds"] - call["end"]))
    if not rows:
        return {}
    ms = lambda values: round(percentile([v * 1000 for v in values], 50), 2)  # noqa: E731
    return {
        "server_before_service_p50_ms": ms([before for before, _ in sides]),
        "server_after_service_p50_ms": ms([after for _, after in sides]),
        "calls_matched": len(rows),
        "call_p50_ms": ms([c for c, _, _, _ in rows]),
        "service_p50_ms": ms([s for _, s, _, _ in rows]),
        "encode_wait_p50_ms": ms([e for _, _, e, _ in rows]),
        "search_and_rest_p50_ms": ms([s - e for _, s, e, _ in rows]),
        "p50_ms": ms([c - s for c, s, _, _ in rows]),
        "server_p50_ms": ms([h - s for _, s, _, h in rows]),  # in the server's ASGI app, around the service
        "client_p50_ms": ms([c - h for c, _, _, h in rows]),  # the client, the socket and uvicorn's HTTP parsing
    }


def window(calls: list[tuple[float, float]]) -> tuple[float, float]:
    """Wall-clock start and end of a phase: from its first call's start to its last call's end."""
    return min(wall for wall, _ in calls), max(wall + seconds for wall, seconds in calls)


def pass_stats(windows: list[tuple[float, float]], passes: list[dict[str, Any]]) -> dict[str, float]:
    """The forward passes that started inside ``windows``: how many, their rows, and the share of the tokens they
    ran that were padding (every row is padded to the pass's longest)."""
    inside = [p for p in passes if any(a <= p["start"] <= b for a, b in windows)]
    if not inside:
        return {}
    padded = sum(p["rows"] * p["width"] for p in inside)
    return {
        "forward_passes": len(inside),
        "rows_per_pass": round(sum(p["rows"] for p in inside) / len(inside), 2),
        "padding_share": round(1 - sum(p["tokens"] for p in inside) / padded, 3),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"calls": args.calls, "clients": args.clients, "batch_wait_ms": args.wait_ms}
    with tempfile.TemporaryDirectory(prefix="taskvec-concurrency-") as tmp:
        timings = Path(tmp) / "timings.json"
        process, url = start_server(Path(tmp) / "store", Path(tmp) / "serve.log", args.wait_ms, timings)
        try:
            import anyio

            anyio.run(setup, url, args.docs)
            work = calls(args.calls)
            measure(url, work[: args.clients], args.clients)  # warm-up: sessions, threads, first passes
            out["load_at_start"] = load_average()
            runs: dict[str, list[dict[str, Any]]] = {"sequential": [], "concurrent": []}
            phases: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                ("sequential", lambda: measure(url, work, 1)),
                ("concurrent", lambda: measure(url, work, args.clients)),
            ]
            for _ in range(args.repeats):
                for name, fn in phases:
                    runs[name].append(fn())
            for name, results in runs.items():
                out[name] = {key: median([r[key] for r in results]) for key in results[0] if key != "calls"}
            out["load_at_end"] = load_average()
        finally:
            process.terminate()
            process.wait(timeout=30)
        if timings.is_file():
            records = json.loads(timings.read_text())
            sequential = [call for r in runs["sequential"] for call in r["calls"]]
            out["overhead"] = overhead(sequential, records)
            for name, results in runs.items():
                out[name]["passes"] = pass_stats([window(r["calls"]) for r in results], records["passes"])
    out["throughput_ratio"] = ratio(out["concurrent"]["calls_per_second"], out["sequential"]["calls_per_second"])
    return out


def markdown(r: dict[str, Any]) -> str:
    s, c = r["sequential"], r["concurrent"]
    return "\n".join(
        [
            f"{r['calls']} calls (search / similar / classify in turn, each a distinct SciFact query), MCP "
            f"streamable HTTP, encode queue batch_wait_ms={r['batch_wait_ms']}.",
            "",
            "| clients | calls/s | p50 latency | p99 latency |",
            "|---|---:|---:|---:|",
            f"| 1, one call at a time (reference) | {s['calls_per_second']:.1f} | {s['p50_ms']:.0f} ms "
            f"| {s['p99_ms']:.0f} ms |",
            f"| {r['clients']} concurrent | {c['calls_per_second']:.1f} | {c['p50_ms']:.0f} ms | {c['p99_ms']:.0f} ms |",
            "",
            f"Throughput, {r['clients']} concurrent clients against sequential calls: **{r['throughput_ratio']:.2f}x**.",
            *_pass_lines(r),
            *_overhead_lines(r.get("overhead") or {}),
        ]
    )


def _pass_lines(r: dict[str, Any]) -> list[str]:
    s, c = r["sequential"].get("passes"), r["concurrent"].get("passes")
    if not s or not c:
        return []
    return [
        "",
        f"Forward passes: {c['rows_per_pass']:.1f} rows per pass with {r['clients']} clients ({s['rows_per_pass']:.1f} "
        f"one call at a time); padding {100 * c['padding_share']:.0f}% of the tokens run ({100 * s['padding_share']:.0f}%).",
    ]


def _overhead_lines(o: dict[str, Any]) -> list[str]:
    if not o:
        return []
    return [
        "",
        f"Where a sequential call's time goes (p50 over {o['calls_matched']} calls): {o['call_p50_ms']:.1f} ms at "
        f"the client, of which the server's service method {o['service_p50_ms']:.1f} ms (waiting for the encode "
        f"queue {o['encode_wait_p50_ms']:.1f} ms, the store's search and the rest {o['search_and_rest_p50_ms']:.1f} "
        f"ms); outside encoding and search: **{o['p50_ms']:.1f} ms** per call (MCP framing, HTTP, JSON, pydantic "
        "and thread hand-offs, client and server together)"
        + (
            f", of which the server's ASGI app around the service {o['server_p50_ms']:.1f} ms and the client with "
            f"the socket {o['client_p50_ms']:.1f} ms."
            if "server_p50_ms" in o
            else "."
        )
        + (
            f" The server's share, either side of the service: {o['server_before_service_p50_ms']:.1f} ms before it "
            "(the JSON-RPC request read, checked and dispatched, the arguments validated, the hop onto a worker "
            f"thread) and {o['server_after_service_p50_ms']:.1f} ms after it (the hop back, the result validated "
            "against the output schema, serialised and sent)."
            if "server_before_service_p50_ms" in o
            else ""
        ),
    ]


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=160)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--docs", type=int, default=100, help="SciFact documents indexed per collection")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--wait-ms", type=float, default=2.0, help="the server's batch_wait_ms")


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
