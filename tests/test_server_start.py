"""A fast start: ``initialize`` and ``tools/list`` are answered while the model loads in the background; the tools
that need only the store are served meanwhile, the others wait for the model (cancellably, saying so in their
progress), and a model that fails to load fails them with its error's text. Real client sessions: in memory over
a loader the test holds back, and ``taskvec serve`` over stdio as a subprocess.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import (
    CALL_TIMEOUT,
    STARTUP_TIMEOUT,
    TOOL_NAMES,
    StdioRecording,
    call_error,
    call_ok,
    recorded_stdio,
    server_env,
)
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from taskvec.errors import ModelLoadError
from taskvec.server import build_server
from taskvec.server.loading import ServiceLoader
from taskvec.service import TaskvecService
from taskvec.store_service import StoreService

DOCS = [
    {"id": "kettle", "text": "Descale the kettle with vinegar once a month."},
    {"id": "bike", "text": "Oil the bicycle chain after rain."},
]


def held_back(service: TaskvecService, release: threading.Event) -> ServiceLoader:
    """A loader whose store is ready at once and whose model 'loads' until ``release`` is set."""

    def make_service(store: StoreService | None) -> TaskvecService:
        assert release.wait(CALL_TIMEOUT), "the test never let the model finish loading"
        return service

    return ServiceLoader(make_service, make_store=lambda: StoreService(service.store))


async def test_store_tools_answer_while_the_model_loads(tiny_service: TaskvecService) -> None:
    tiny_service.index("home", DOCS, "retrieval")
    release = threading.Event()
    loader = held_back(tiny_service, release)
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")
        release.set()  # the first report says the call is waiting: let the model arrive

    async with Client(build_server(loader)) as client:
        assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)
        listed = await call_ok(client, "list_collections")
        assert [c["name"] for c in listed["collections"]] == ["home"]
        got = await call_ok(client, "get_documents", {"collection": "home", "ids": ["bike"]})
        assert [d["text"] for d in got["documents"]] == [DOCS[1]["text"]]
        assert not release.is_set()  # all of that while the model was still loading
        with anyio.fail_after(CALL_TIMEOUT):
            found = await client.call_tool(
                "search", {"collection": "home", "query": DOCS[1]["text"]}, progress_callback=on_progress
            )
    assert not found.is_error and found.structured_content["hits"][0]["id"] == "bike"
    assert progress[0] == "waiting for the server to finish loading the model"


async def test_a_call_waiting_for_the_model_can_be_cancelled(tiny_service: TaskvecService) -> None:
    release, stopped = threading.Event(), threading.Event()
    loader = held_back(tiny_service, release)
    real_service = loader.service

    def watched(*args: Any, **kwargs: Any) -> Any:
        try:
            return real_service(*args, **kwargs)
        finally:
            stopped.set()

    loader.service = watched  # type: ignore[method-assign]
    waiting = anyio.Event()

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        waiting.set()

    async with Client(build_server(loader)) as client:
        with anyio.fail_after(CALL_TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: client.call_tool("cluster", {"texts": ["a", "b"]}, progress_callback=on_progress))
                await waiting.wait()
                tg.cancel_scope.cancel()
            assert await anyio.to_thread.run_sync(stopped.wait, CALL_TIMEOUT), "the waiting call never stopped"
    assert not release.is_set()  # it stopped waiting; the model had not arrived


async def test_a_model_that_fails_to_load_fails_the_calls_that_need_it(
    tiny_service: TaskvecService, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(store: StoreService | None) -> TaskvecService:
        raise ModelLoadError(
            "Could not load the model in '/models/gone': no config.json", field="model", fix="Pass a folder."
        )

    loader = ServiceLoader(broken, make_store=lambda: StoreService(tiny_service.store))
    with caplog.at_level(logging.ERROR, logger="taskvec.server"):
        async with Client(build_server(loader)) as client:
            for _ in range(2):  # every call that needs the model, each with the whole text
                text = await call_error(client, "search", {"collection": "home", "query": "kettle"})
                assert (
                    "Could not load the model in '/models/gone'" in text
                    and "(field: model) Fix: Pass a folder." in text
                )
            assert (await call_ok(client, "list_collections"))["collections"] == []  # the store is fine
    assert [r.getMessage() for r in caplog.records if "could not load the model" in r.getMessage()]


# ---------------------------------------------------------------------------------------------------- stdio
async def test_stdio_connects_before_the_model_and_reports_a_broken_one(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`taskvec serve` with a model folder that does not exist: it connects, lists its tools and collections, fails
    `search` with the model's error, logs that error on stderr, and prints nothing but MCP messages on stdout."""
    env = server_env(tmp_path / "no-such-model", tmp_path / "store")
    params = StdioServerParameters(command=sys.executable, args=["-m", "taskvec.cli", "serve"], env=env)
    recording, log = StdioRecording(), tmp_path / "stderr.log"
    with log.open("wb") as stderr, anyio.fail_after(STARTUP_TIMEOUT + 2 * CALL_TIMEOUT):
        started = time.perf_counter()
        async with Client(recorded_stdio(params, recording, stderr), mode="legacy") as client:
            connected = time.perf_counter() - started
            assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)
            assert (await call_ok(client, "list_collections"))["collections"] == []
            text = await call_error(client, "search", {"collection": "home", "query": "kettle"})
    print(f"stdio: initialize answered {connected:.2f}s after start (the model never loads here)")
    assert "no-such-model" in text and "(field: model) Fix: " in text, text
    assert "could not load the model" in log.read_text(), log.read_text()[-2000:]
    assert recording.returncode == 0 and all(line.startswith("{") for line in recording.lines if line)
    assert not (tmp_path / "store").exists()  # nothing was written, so nothing was created
