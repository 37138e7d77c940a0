"""Several replicas on one store: two `taskvec serve` processes (streamable HTTP on loopback) over one folder.

A write acknowledged through one replica is found by a search through the other on its very next call (the
store's change check asks LanceDB for the version whenever the table's folder moved), and writes through both at
once lose nothing (the collection's lock is an ``flock`` between the processes).
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx2
import pytest
from helpers import CALL_TIMEOUT, ServeProcess, call_ok, server_env
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replicas(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("replicas")
    env = server_env(tiny_model_dir, root / "store")
    servers = [ServeProcess(["--transport", "streamable-http"], env, root / f"replica-{n}.log") for n in (1, 2)]
    try:
        yield [server.ready() + "/mcp" for server in servers]
    finally:
        for server in servers:
            server.stop()


async def test_a_write_through_one_replica_is_found_through_the_other(replicas: list[str]) -> None:
    first, second = replicas
    docs = [{"id": f"n{i}", "text": f"replicated note {i} about kettles"} for i in range(5)]
    with anyio.fail_after(4 * CALL_TIMEOUT):
        async with (
            httpx2.AsyncClient(timeout=CALL_TIMEOUT, trust_env=False) as http_a,
            httpx2.AsyncClient(timeout=CALL_TIMEOUT, trust_env=False) as http_b,
            Client(streamable_http_client(first, http_client=http_a)) as a,
            Client(streamable_http_client(second, http_client=http_b)) as b,
        ):
            await call_ok(a, "index", {"collection": "shared", "documents": docs})
            found = await call_ok(b, "search", {"collection": "shared", "query": docs[3]["text"], "limit": 1})
            assert found["hits"][0]["id"] == "n3"
            await call_ok(b, "index", {"collection": "shared", "documents": [{"id": "n3", "text": "changed by b"}]})
            again = await call_ok(a, "search", {"collection": "shared", "query": "changed by b", "limit": 1})
            assert again["hits"][0]["text"] == "changed by b"


async def test_writes_through_both_replicas_at_once_lose_nothing(replicas: list[str]) -> None:
    acknowledged: list[str] = []

    async def writer(url: str, who: str) -> None:
        async with (
            httpx2.AsyncClient(timeout=CALL_TIMEOUT, trust_env=False) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            for r in range(8):
                ids = [f"{who}-{r}-{i}" for i in range(4)]
                documents = [{"id": i, "text": f"{who} wrote round {r} item {i}"} for i in ids]
                await call_ok(client, "index", {"collection": "both", "documents": documents})
                acknowledged.extend(ids)

    with anyio.fail_after(8 * CALL_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer, replicas[0], "a")
            tg.start_soon(writer, replicas[1], "b")
        for url in replicas:
            async with (
                httpx2.AsyncClient(timeout=CALL_TIMEOUT, trust_env=False) as http,
                Client(streamable_http_client(url, http_client=http)) as client,
            ):
                described = await call_ok(client, "describe_collection", {"collection": "both"})
                assert described["rows"] == len(acknowledged) == 64
                found = await call_ok(client, "search", {"collection": "both", "query": "a wrote round 7", "limit": 64})
                assert {h["id"] for h in found["hits"]} == set(acknowledged)
