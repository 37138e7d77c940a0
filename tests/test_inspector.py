"""A client this project did not write: the MCP Inspector's CLI (pinned in tests/inspector/package.json) against
`taskvec serve`. Its strict schema check (``tools/list --strict``) over stdio, then every tool, once each, over
stdio, streamable HTTP and SSE.

Slow (a server process per stdio call, a node process per call). Skipped only when Node.js is not installed; with
node present, a failing ``npm ci`` fails the test. ``make inspector`` installs the Inspector ahead of time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import TASKVEC_SCRIPT, ServeProcess, server_env

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent / "inspector"
INSPECTOR = HERE / "node_modules" / ".bin" / "mcp-inspector"
CALL_TIMEOUT_S = 300  # one Inspector run: node's start, and over stdio a server's start and its model's load

DOCS = [
    {"id": "kettle", "text": "Descale the kettle with vinegar.", "metadata": {"room": "kitchen"}},
    {"id": "chain", "text": "Oil the bicycle chain after rain.", "metadata": {"room": "shed"}},
]
# Every tool once, in an order in which each call succeeds: (tool, arguments, a check on its structured content).
CALLS: list[tuple[str, dict[str, Any], Any]] = [
    ("index", {"collection": "home", "task": "similarity", "documents": DOCS}, lambda r: r["inserted"] == 2),
    ("search", {"collection": "home", "task": "similarity", "query": DOCS[1]["text"]}, lambda r: r["hits"][0]["id"] == "chain"),
    ("similar", {"collection": "home", "text": DOCS[0]["text"], "limit": 1}, lambda r: r["hits"][0]["id"] == "kettle"),
    ("classify", {"texts": ["kitchen"], "labels": ["kitchen", "shed"]}, lambda r: r["results"][0]["label"] == "kitchen"),
    ("cluster", {"texts": ["a", "b", "c"], "k": 2}, lambda r: r["k"] == 2),
    ("rerank", {"query": "kettle", "texts": ["chain", "kettle"]}, lambda r: len(r["results"]) == 2),
    ("list_collections", {}, lambda r: [c["name"] for c in r["collections"]] == ["home"]),
    ("describe_collection", {"collection": "home"}, lambda r: r["rows"] == 2),
    ("get_documents", {"collection": "home", "ids": ["chain"]}, lambda r: r["documents"][0]["tasks"] == ["similarity"]),
    ("delete", {"collection": "home", "ids": ["kettle"]}, lambda r: r["deleted"] == 1),
    ("drop_collection", {"collection": "home"}, lambda r: r["dropped_rows"] == 1),
]  # fmt: skip


@pytest.fixture(scope="module")
def inspector() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(
            "Node.js is not installed (node and npm): the MCP Inspector checks need it; see README, Development"
        )
    if not INSPECTOR.exists():
        proc = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)], capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, f"npm ci in {HERE} failed:\n{proc.stderr[-3000:]}"
    return INSPECTOR


def inspect(inspector: Path, server: dict[str, Any], *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """One Inspector run against ``server`` (an entry of its config file, given generous timeouts: a busy machine
    takes tens of seconds to load the model), with its own HOME so nothing lands in yours. ``--format json``
    prints {"result": ...}."""
    timeouts = {"connectionTimeout": CALL_TIMEOUT_S * 1000, "requestTimeout": CALL_TIMEOUT_S * 1000}
    config = home / "inspector.json"
    config.write_text(json.dumps({"mcpServers": {"taskvec": {**server, **timeouts}}}))
    env = {**os.environ, "HOME": str(home), "MCP_INSPECTOR_SECRET_STORE": "memory"}
    return subprocess.run(
        [str(inspector), "--cli", "--config", str(config), "--server", "taskvec", *args, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=2 * CALL_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def rerank_tasks(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tasks file adding a rerank task (a random rerank adapter on the tiny model), so the rerank tool runs."""
    from helpers import write_tasks_file
    from test_rerank import save_rerank_adapter

    root = tmp_path_factory.mktemp("inspector-tasks")
    save_rerank_adapter(tiny_model_dir, root / "rerank", seed=2)
    return write_tasks_file(root / "tasks.toml", '[tasks.rerank]\nkind = "rerank"\nadapter = "rerank"\n')


def stdio_server(tiny_model_dir: Path, store: Path, tasks: Path) -> dict[str, Any]:
    env = server_env(tiny_model_dir, store, TASKVEC_TASKS_FILE=str(tasks))
    passed = {k: v for k, v in env.items() if k.startswith(("TASKVEC_", "HF_", "TOKENIZERS_"))}
    return {"command": str(TASKVEC_SCRIPT), "args": ["serve"], "env": passed}


def test_tools_list_is_strictly_portable(
    inspector: Path, tiny_model_dir: Path, rerank_tasks: Path, tmp_path: Path
) -> None:
    server = stdio_server(tiny_model_dir, tmp_path / "store", rerank_tasks)
    proc = inspect(inspector, server, "--method", "tools/list", "--strict", home=tmp_path)
    assert proc.returncode == 0, f"the Inspector's strict check failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert {t["name"] for t in json.loads(proc.stdout)["result"]["tools"]} == {name for name, _, _ in CALLS}


@pytest.fixture(params=["stdio", "streamable-http", "sse"])
def server(
    request: pytest.FixtureRequest, tiny_model_dir: Path, rerank_tasks: Path, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    if request.param == "stdio":
        yield stdio_server(tiny_model_dir, tmp_path / "store", rerank_tasks)
        return
    env = server_env(tiny_model_dir, tmp_path / "store", TASKVEC_TASKS_FILE=str(rerank_tasks))
    process = ServeProcess(["--transport", request.param], env, tmp_path / "serve.log")
    try:
        path = "/mcp" if request.param == "streamable-http" else "/sse"
        yield {"type": request.param, "url": process.ready() + path}
    finally:
        process.stop()


def test_every_tool_runs(inspector: Path, server: dict[str, Any], tmp_path: Path) -> None:
    for tool, arguments, check in CALLS:
        proc = inspect(
            inspector,
            server,
            "--method",
            "tools/call",
            "--tool-name",
            tool,
            "--tool-args-json",
            json.dumps(arguments),
            home=tmp_path,
        )
        assert proc.returncode == 0, f"{tool} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        result = json.loads(proc.stdout)["result"]
        assert result.get("isError") is not True and check(result["structuredContent"]), f"{tool}: {result}"
