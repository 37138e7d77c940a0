"""16 concurrent MCP clients of mixed tasks against the same calls made one by one, through the real transport.

A `taskvec serve --transport streamable-http` subprocess (the bundled model, its shipped adapters, a fresh
store, the encode queue as configured); clients are MCP ``Client`` sessions over streamable HTTP in this process.
The calls cycle through three tools and three tasks: ``search`` (retrieval), ``similar`` (similarity) and
zero-shot ``classify`` (classification, one text and four labels), each with a distinct SciFact query, and the
server's query cache is off, so every call encodes. Sequential: one session, one call at a time. Concurrent: 16 sessions, each making its
share of the same calls back to back. The two alternate (sequential, concurrent, sequential, concurrent) and the
figures are the medians.

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
from collections.abc import Callable
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


def calls(n: int) -> list[tuple[str, dict[str, Any]]]:
    queries = scifact_queries()
    out = []
    for i in range(n):
        q = queries[i % len(queries)]
        kind = i % 3
        if kind == 0:
            out.append(("search", {"query": q, "collection": "sci-retrieval", "limit": 10}))
        elif kind == 1:
            out.append(("similar", {"text": q, "collection": "sci-similarity", "limit": 10}))
        else:
            out.append(("classify", {"texts": [q], "labels": LABELS}))
    return out


async def session(url: str, work: list[tuple[str, dict[str, Any]]], latencies: list[tuple[float, float]]) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(300), trust_env=False) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        for name, arguments in work:
            wall, start = time.time(), time.perf_counter()
            result = await client.call_tool(name, arguments)
            latencies.append((wall, time.perf_counter() - start))
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
    import anyio

    latencies: list[tuple[float, float]] = []

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for c in range(clients):
                group.start_soon(session, url, work[c::clients], latencies)

    start = time.perf_counter()
    anyio.run(main)
    seconds = time.perf_counter() - start
    ms = [s * 1000 for _, s in latencies]
    return {
        "calls_per_second": round(len(work) / seconds, 2),
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "calls": latencies,  # (wall-clock start, seconds) per call, matched with the server's records
    }


def overhead(sequential: list[tuple[float, float]], records: list[dict[str, Any]]) -> dict[str, float]:
    """Per sequential call: latency at the client minus the server's service time for it (the one record that
    started inside the call's window; calls are one at a time, so there is exactly one)."""
    rows = []
    for wall, seconds in sequential:
        inside = [r for r in records if wall <= r["start"] <= wall + seconds]
        if len(inside) == 1:
            rows.append((seconds, inside[0]["service"], inside[0]["encode_wait"]))
    if not rows:
        return {}
    ms = lambda values: round(percentile([v * 1000 for v in values], 50), 2)  # noqa: E731
    return {
        "calls_matched": len(rows),
        "call_p50_ms": ms([c for c, _, _ in rows]),
        "service_p50_ms": ms([s for _, s, _ in rows]),
        "encode_wait_p50_ms": ms([e for _, _, e in rows]),
        "search_and_rest_p50_ms": ms([s - e for _, s, e in rows]),
        "p50_ms": ms([c - s for c, s, _ in rows]),
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
            sequential = [call for r in runs["sequential"] for call in r["calls"]]
            out["overhead"] = overhead(sequential, json.loads(timings.read_text()))
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
            *_overhead_lines(r.get("overhead") or {}),
        ]
    )


def _overhead_lines(o: dict[str, Any]) -> list[str]:
    if not o:
        return []
    return [
        "",
        f"Where a sequential call's time goes (p50 over {o['calls_matched']} calls): {o['call_p50_ms']:.1f} ms at "
        f"the client, of which the server's service method {o['service_p50_ms']:.1f} ms (waiting for the encode "
        f"queue {o['encode_wait_p50_ms']:.1f} ms, the store's search and the rest {o['search_and_rest_p50_ms']:.1f} "
        f"ms); outside encoding and search: **{o['p50_ms']:.1f} ms** per call (MCP framing, HTTP, JSON, pydantic "
        "and thread hand-offs, client and server together).",
    ]


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=160)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--docs", type=int, default=100, help="SciFact documents indexed per collection")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--wait-ms", type=float, default=2.0, help="the server's batch_wait_ms")


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
