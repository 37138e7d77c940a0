"""The transports with real MCP client sessions: stdio and streamable HTTP as `taskvec serve` subprocesses, and
SSE / streamable HTTP apps (the same ``http_app`` the CLI serves) under uvicorn in a thread, on 127.0.0.1.

Two subprocesses in all, because each one imports torch and loads the model (tens of seconds on a busy machine):
the stdio server, and a streamable-HTTP server with TASKVEC_TOKEN set, which boots in the background from the
start of the module. Everything that does not depend on the process boundary runs in-process.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from helpers import (
    CALL_TIMEOUT,
    STARTUP_TIMEOUT,
    TOOL_NAMES,
    ServeProcess,
    StdioRecording,
    app_in_thread,
    call_ok,
    index_and_search,
    is_jsonrpc,
    recorded_stdio,
    server_env,
)
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from taskvec.cli import main as cli_main
from taskvec.config import Settings
from taskvec.errors import InvalidInputError
from taskvec.server import build_server
from taskvec.server.app import http_app
from taskvec.service import TaskvecService

TOKEN = "test-token-7f3a9c"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def http_client(headers: dict[str, str] | None = None) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(CALL_TIMEOUT), trust_env=False)


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def token_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`taskvec serve --transport streamable-http` with TASKVEC_TOKEN set (default host: 127.0.0.1)."""
    folder = tmp_path_factory.mktemp("token-server")
    env = server_env(tiny_model_dir, folder / "store", TASKVEC_TOKEN=TOKEN)
    server = ServeProcess(["--transport", "streamable-http"], env, folder / "serve.log")
    yield server
    server.stop()


@pytest.fixture(scope="module", autouse=True)
def _boot_token_server_early(request: pytest.FixtureRequest) -> None:
    """Start the HTTP subprocess with the module, so its start-up overlaps the stdio test (if a test needs it)."""
    if any("token_server" in item.fixturenames for item in request.session.items if item.module is request.module):
        request.getfixturevalue("token_server")


def in_thread_app(service: TaskvecService, transport: str, token: str | None = None) -> Any:
    return http_app(build_server(service), Settings(host="127.0.0.1", token=token), transport)


# ---------------------------------------------------------------------------------------------------- stdio
async def test_stdio_session_and_nothing_but_jsonrpc_on_stdout(tiny_model_dir: Path, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "taskvec.cli", "serve"],
        env=server_env(tiny_model_dir, tmp_path / "store"),
    )
    recording, log = StdioRecording(), tmp_path / "stderr.log"
    try:
        with log.open("wb") as stderr, anyio.fail_after(STARTUP_TIMEOUT + 2 * CALL_TIMEOUT):
            transport = recorded_stdio(params, recording, stderr)
            started = time.perf_counter()
            async with Client(transport, mode="legacy", read_timeout_seconds=STARTUP_TIMEOUT) as client:
                connected = time.perf_counter() - started
                assert client.server_info is not None and client.server_info.name == "taskvec"
                assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)
                await index_and_search(client, "notes")  # waits for the model, which loads meanwhile
                tasks = await client.read_resource("taskvec://tasks")
                assert "retrieval" in tasks.contents[0].text
    except Exception as exc:
        raise AssertionError(f"stdio session failed; the server's stderr:\n{log.read_text()[-3000:]}") from exc
    print(f"stdio: initialize answered {connected:.2f}s after the server process started")
    assert recording.returncode == 0, f"the server did not stop cleanly on EOF:\n{log.read_text()[-3000:]}"
    assert len(recording.lines) >= 5  # initialize, tools/list, index, search, resources/read answers
    strays = [line for line in recording.lines if not is_jsonrpc(line)]
    assert not strays, f"stdout carried non-MCP output: {strays[:5]}"
    assert "Warning" not in log.read_text(), log.read_text()[-3000:]  # e.g. the FutureWarning adapters raised


# ------------------------------------------------------------------------------------- streamable HTTP
async def test_streamable_http_refuses_requests_without_the_right_token(token_server: ServeProcess) -> None:
    url = token_server.ready() + "/mcp"
    with anyio.fail_after(CALL_TIMEOUT):
        async with http_client() as http:
            missing = await http.post(url, json=INITIALIZE, headers=MCP_HEADERS)
            wrong = await http.post(url, json=INITIALIZE, headers={**MCP_HEADERS, **bearer("not-" + TOKEN)})
            not_bearer = await http.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": TOKEN})
            stream = await http.get(url, headers={"Accept": "text/event-stream"})
    for response in (missing, wrong, not_bearer, stream):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in response.json()["fix"]


async def test_streamable_http_session_with_the_token(token_server: ServeProcess) -> None:
    url = token_server.ready() + "/mcp"
    with anyio.fail_after(2 * CALL_TIMEOUT):
        async with http_client(bearer(TOKEN)) as http, Client(streamable_http_client(url, http_client=http)) as client:
            assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)
            await index_and_search(client, "with-token")


async def test_two_clients_are_served_at_once(token_server: ServeProcess) -> None:
    url = token_server.ready() + "/mcp"
    done: list[str] = []

    async def session(name: str) -> None:
        async with http_client(bearer(TOKEN)) as http, Client(streamable_http_client(url, http_client=http)) as client:
            await index_and_search(client, name)
            described = await call_ok(client, "describe_collection", {"collection": name})
            assert described["rows"] == 2
            done.append(name)

    with anyio.fail_after(2 * CALL_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(session, "first")
            tg.start_soon(session, "second")
    assert sorted(done) == ["first", "second"]


async def test_dns_rebinding_protection_rejects_foreign_host_and_origin(token_server: ServeProcess) -> None:
    url = token_server.ready() + "/mcp"
    headers = {**MCP_HEADERS, **bearer(TOKEN)}
    with anyio.fail_after(CALL_TIMEOUT):
        async with http_client() as http:
            host = await http.post(
                url, json=INITIALIZE, headers={**headers, "Host": f"evil.example:{token_server.port}"}
            )
            origin = await http.post(url, json=INITIALIZE, headers={**headers, "Origin": "http://evil.example"})
            fine = await http.post(url, json=INITIALIZE, headers={**headers, "Origin": token_server.url})
    assert host.status_code == 421 and "Host" in host.text
    assert origin.status_code == 403 and "Origin" in origin.text
    assert fine.status_code == 200


async def test_a_client_without_the_token_is_told_the_header_not_sent_to_oauth(tiny_service: TaskvecService) -> None:
    """A 401 makes clients look for OAuth metadata; taskvec has none, and says which header to send instead."""
    app = in_thread_app(tiny_service, "streamable-http", TOKEN)
    with app_in_thread(app) as base, anyio.fail_after(CALL_TIMEOUT):
        async with http_client() as http:
            refused = await http.post(base + "/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            metadata = [
                await http.get(base + "/.well-known/oauth-protected-resource/mcp"),
                await http.get(base + "/.well-known/oauth-authorization-server"),
            ]
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer <TASKVEC_TOKEN>" in refused.json()["fix"]
    for answer in metadata:
        assert answer.status_code == 404 and "www-authenticate" not in answer.headers
        assert answer.json()["detail"] == "taskvec offers no OAuth." and "not OAuth" in answer.json()["fix"]


async def test_streamable_http_session_without_a_token(tiny_service: TaskvecService) -> None:
    with app_in_thread(in_thread_app(tiny_service, "streamable-http")) as base, anyio.fail_after(2 * CALL_TIMEOUT):
        async with Client(base + "/mcp", read_timeout_seconds=CALL_TIMEOUT) as client:
            await index_and_search(client, "open")


# ----------------------------------------------------------------------------------------------------- SSE
async def test_sse_session_without_a_token(tiny_service: TaskvecService) -> None:
    with app_in_thread(in_thread_app(tiny_service, "sse")) as base, anyio.fail_after(2 * CALL_TIMEOUT):
        transport = sse_client(base + "/sse", timeout=CALL_TIMEOUT, sse_read_timeout=CALL_TIMEOUT)
        async with Client(transport, read_timeout_seconds=CALL_TIMEOUT) as client:
            assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)
            await index_and_search(client, "open")


async def test_sse_with_a_token(tiny_service: TaskvecService) -> None:
    with app_in_thread(in_thread_app(tiny_service, "sse", TOKEN)) as base, anyio.fail_after(2 * CALL_TIMEOUT):
        async with http_client() as http:
            refused = [
                await http.get(base + "/sse"),
                await http.get(base + "/sse", headers=bearer("not-" + TOKEN)),
                await http.post(base + "/messages/?session_id=0", json=INITIALIZE),
            ]
            assert [r.status_code for r in refused] == [401, 401, 401]
            foreign = await http.get(base + "/sse", headers={**bearer(TOKEN), "Host": "evil.example"})
            assert foreign.status_code == 421
        transport = sse_client(
            base + "/sse", headers=bearer(TOKEN), timeout=CALL_TIMEOUT, sse_read_timeout=CALL_TIMEOUT
        )
        async with Client(transport, read_timeout_seconds=CALL_TIMEOUT) as client:
            await index_and_search(client, "with-token")


@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
def test_http_transports_start_loading_the_model_at_startup(tiny_service: TaskvecService, transport: str) -> None:
    loads: list[int] = []

    def factory() -> TaskvecService:
        loads.append(1)
        return tiny_service

    server = build_server(factory)
    with app_in_thread(http_app(server, Settings(host="127.0.0.1"), transport)):
        assert server.loader.wait(CALL_TIMEOUT)  # loaded in the background, with no client connected
        assert loads == [1]


# ------------------------------------------------------------------------------------- start-up failures
def serve_in_process(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """`taskvec serve ...` in this process (its exit status), for failures that happen before it serves."""
    for name in ("TASKVEC_TOKEN", "TASKVEC_HOST", "TASKVEC_PORT", "TASKVEC_CONFIG", "TASKVEC_MODEL"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # serve() configures logging for a process of its own
    try:
        return cli_main(["serve", *args])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
def test_binding_beyond_loopback_needs_a_token(
    transport: str, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`taskvec serve --host 0.0.0.0` without TASKVEC_TOKEN exits with status 2 and says what to do."""
    args = ["--transport", transport, "--host", "0.0.0.0", "--port", "1", "--model", str(tiny_model_dir)]
    assert serve_in_process([*args, "--store", str(tmp_path / "store")], monkeypatch) == 2
    err = capsys.readouterr().err
    assert "Refusing to bind '0.0.0.0' without a token" in err and "Fix: Set TASKVEC_TOKEN" in err


def test_stdio_start_up_failure_is_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A setting the server cannot start with stops it before it serves (a broken model does not: it fails the
    calls that need it, see test_server_start.py)."""
    monkeypatch.setenv("TASKVEC_TOOL_DESCRIPTIONS", '{"serch": "Find things."}')
    status = serve_in_process(["--store", str(tmp_path / "store")], monkeypatch)
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "names no tool: 'serch'" in err and "(field: TASKVEC_TOOL_DESCRIPTIONS) Fix: " in err and "search" in err
    assert "`get_documents`" in err and "taskvec get" not in err  # tool names, not the CLI's commands
    monkeypatch.delenv("TASKVEC_TOOL_DESCRIPTIONS")
    config = tmp_path / "taskvec.toml"
    config.write_text('[tool_descriptions]\nserch = "Find things."\n')
    monkeypatch.chdir(tmp_path)  # read from the working folder (serve_in_process clears TASKVEC_CONFIG)
    assert serve_in_process(["--store", str(tmp_path / "store")], monkeypatch) == 2
    assert f"(field: 'tool_descriptions' in {config})" in capsys.readouterr().err  # where the bad entry is


def test_a_token_allows_binding_beyond_loopback(tiny_service: TaskvecService) -> None:
    app = http_app(build_server(tiny_service), Settings(host="0.0.0.0", token=TOKEN), "streamable-http")
    assert app is not None
    with pytest.raises(InvalidInputError, match="without a token"):
        http_app(build_server(tiny_service), Settings(host="192.168.1.20", token=None), "sse")


def test_allowed_hosts_extend_the_dns_rebinding_check() -> None:
    from taskvec.server.security import transport_security

    security = transport_security(Settings(host="0.0.0.0", token=TOKEN, allowed_hosts=["embed.example", "h:8443"]))
    assert "embed.example:*" in security.allowed_hosts and "h:8443" in security.allowed_hosts
    assert "127.0.0.1:*" in security.allowed_hosts and "[::1]:*" in security.allowed_hosts
    assert "https://embed.example:*" in security.allowed_origins and security.enable_dns_rebinding_protection
