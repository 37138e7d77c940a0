"""Test helpers that are not fixtures: random LoRA adapters and tasks files for the tiny model; CLI commands in a
fresh interpreter (did torch load?); for the MCP tests, tool calls that must succeed or fail, the store's
contents, free ports, and servers run in a thread (uvicorn) or a subprocess (``taskvec serve``), with a bound on
every wait.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import mcp_types
from anyio.streams.text import TextReceiveStream
from mcp import Client
from mcp.client.stdio import StdioServerParameters, get_default_environment
from mcp.shared.message import SessionMessage
from mcp_types import CallToolResult, TextContent


def load_benchmark(name: str) -> Any:
    """``benchmarks/<name>.py`` as a module (benchmarks/ is scripts, not a package on the test path)."""
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_random_adapter(
    model_dir: Path, out: Path, *, seed: int, rank: int = 4, target_modules: Sequence[str] = ("query", "key", "value")
) -> Path:
    """A LoRA adapter with random (non-zero) weights on the attention projections (BERT's names unless
    ``target_modules`` says otherwise), saved in PEFT format."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    torch.manual_seed(seed)
    base = AutoModel.from_pretrained(str(model_dir))
    config = LoraConfig(r=rank, lora_alpha=rank * 2, target_modules=list(target_modules), init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(str(out))
    return out


def write_tasks_file(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def in_subprocess(environ: dict[str, str], *commands: list[str]) -> tuple[list[int], bool, str, str]:
    """Run `taskvec` commands in one fresh interpreter: their exit codes, whether torch was imported, and the
    output. A fresh process is the only honest way to tell that no model was loaded."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from taskvec.cli import main
        codes = [main(argv) for argv in {[list(c) for c in commands]!r}]
        print(json.dumps({{"codes": codes, "torch": "torch" in sys.modules}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, **environ}, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    *output, last = proc.stdout.strip().splitlines()
    summary = json.loads(last)
    return summary["codes"], summary["torch"], "\n".join(output), proc.stderr


def below_the_bar(stderr: str, bar: str) -> list[str]:
    """The lines of ``stderr`` that are not frames of the progress bar whose description is ``bar``."""
    return [line for line in stderr.replace("\r", "\n").splitlines() if line.strip() and not line.startswith(bar)]


# ---------------------------------------------------------------------------------------------------- MCP tests
TOOL_NAMES = (  # every tool, in the order tools/list gives them
    "index",
    "search",
    "classify",
    "cluster",
    "similar",
    "rerank",
    "list_collections",
    "describe_collection",
    "get_documents",
    "delete",
    "drop_collection",
)
CALL_TIMEOUT = 60.0  # seconds for one MCP call or one HTTP request: generous, the machine is shared
STARTUP_TIMEOUT = 180.0  # seconds for `taskvec serve` to import torch, load the model and open its port
TASKVEC_SCRIPT = Path(sys.executable).with_name("taskvec")  # the console script of this environment


# --------------------------------------------------------------------------------------------- tool calls
def result_text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def call_ok(client: Client, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured content."""
    with anyio.fail_after(CALL_TIMEOUT):
        result = await client.call_tool(name, arguments or {})
    assert not result.is_error, f"{name} failed: {result_text(result)}"
    assert result.structured_content is not None, f"{name} returned no structured content"
    return result.structured_content


async def call_error(client: Client, name: str, arguments: dict[str, Any]) -> str:
    """Call a tool that must fail with an isError result; return the error text."""
    with anyio.fail_after(CALL_TIMEOUT):
        result = await client.call_tool(name, arguments)
    assert result.is_error, f"{name}({arguments}) should have failed, got {result.structured_content}"
    return result_text(result)


async def index_and_search(client: Client, collection: str) -> None:
    """The smallest useful session: index two documents, find the first by its own text."""
    texts = {"kettle": "Descale the kettle with vinegar once a month.", "bike": "Oil the bicycle chain after rain."}
    indexed = await call_ok(
        client, "index", {"collection": collection, "documents": [{"id": k, "text": v} for k, v in texts.items()]}
    )
    assert indexed["documents"] == 2
    found = await call_ok(client, "search", {"collection": collection, "query": texts["bike"], "limit": 2})
    assert found["hits"][0]["id"] == "bike"


def store_contents(service: Any) -> dict[str, list[tuple[str, str, str]]]:
    """Every row of every collection as (key, text, metadata), sorted: equal before and after = store unchanged."""
    contents = {}
    for name in service.store.collection_names():
        table = service.store.db.open_table(name).to_arrow().select(["key", "text", "metadata"])
        rows = table.to_pylist()
        contents[name] = sorted((r["key"], r["text"], json.dumps(r["metadata"], sort_keys=True)) for r in rows)
    return contents


# ------------------------------------------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(model_dir: Path, store: Path, **extra: str) -> dict[str, str]:
    """Environment of a `taskvec serve` subprocess: the tiny model, a private store, offline, on the CPU."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("TASKVEC_")}
    return {
        **keep,
        "TASKVEC_MODEL": str(model_dir),
        "TASKVEC_STORE": str(store),
        "TASKVEC_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }


class ServeProcess:
    """`taskvec serve <args> --port PORT` (an HTTP transport) started in the background: ``ready()`` waits for the
    port, ``stop()`` ends it. Starting early and waiting late lets its slow start-up overlap other tests."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(TASKVEC_SCRIPT), "serve", *args, "--port", str(self.port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        self._ready = False

    def ready(self) -> str:
        if not self._ready:
            wait_for_port(self.port, self.process, self.log_tail)
            self._ready = True
        return self.url

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


def wait_for_port(port: int, process: subprocess.Popen[bytes], log_tail: Any, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"taskvec serve exited with {process.returncode} before listening:\n{log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise AssertionError(f"taskvec serve did not listen on port {port} within {timeout:.0f}s:\n{log_tail()}")


@contextlib.contextmanager
def app_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a daemon thread (lifespan on); yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + CALL_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


# ---------------------------------------------------------------------------------------------------- stdio
@dataclass
class StdioRecording:
    """Every line the server wrote to stdout, and how it exited once its stdin closed."""

    lines: list[str] = field(default_factory=list)
    returncode: int | None = None


@contextlib.asynccontextmanager
async def recorded_stdio(
    params: StdioServerParameters, recording: StdioRecording, stderr: IO[bytes], exit_timeout: float = 30.0
) -> AsyncIterator[tuple[Any, Any]]:
    """A stdio transport for ``mcp.Client`` that keeps every stdout line of the server, from its first byte to
    its exit (the SDK's stdio_client discards what it cannot parse, and everything after the session).

    On exit it closes the server's stdin and waits for the server to stop by itself (killing it after
    ``exit_timeout`` seconds), so ``recording.returncode`` says whether EOF ends it cleanly.
    """
    env = {**get_default_environment(), **(params.env or {})}
    process = await anyio.open_process([params.command, *params.args], env=env, stderr=stderr, cwd=params.cwd)
    assert process.stdin is not None and process.stdout is not None
    to_client, client_reads = anyio.create_memory_object_stream[SessionMessage | Exception](64)
    client_writes, from_client = anyio.create_memory_object_stream[SessionMessage](64)
    session_open = True

    async def pump_stdout() -> None:
        buffer = ""
        async with to_client:
            async for chunk in TextReceiveStream(process.stdout):
                *lines, buffer = (buffer + chunk).split("\n")
                for line in lines:
                    recording.lines.append(line)
                    if session_open:
                        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                            await to_client.send(_parse_message(line))
        if buffer:
            recording.lines.append(buffer)

    async def pump_stdin() -> None:
        async with from_client:
            async for message in from_client:
                data = message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                await process.stdin.send(data.encode())

    async with anyio.create_task_group() as tg:
        tg.start_soon(pump_stdout)
        tg.start_soon(pump_stdin)
        try:
            yield client_reads, client_writes
        finally:
            session_open = False
            with anyio.CancelScope(shield=True):
                await client_writes.aclose()
                await process.stdin.aclose()  # EOF: a stdio server must stop by itself
                with anyio.move_on_after(exit_timeout):
                    recording.returncode = await process.wait()
                if recording.returncode is None:
                    process.kill()
                    await process.wait()
            tg.cancel_scope.cancel()


def _parse_message(line: str) -> SessionMessage | Exception:
    try:
        return SessionMessage(mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:
        return exc


def is_jsonrpc(line: str) -> bool:
    return not isinstance(_parse_message(line), Exception)


class RawStdioServer:
    """`taskvec serve` over stdio, driven line by line: for what a well-behaved client cannot send (broken JSON,
    lone surrogates, deep nesting, oversized messages). A reader thread keeps every stdout line and files the
    JSON-RPC answers by id; ``call`` sends a request and waits for its answer."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [str(TASKVEC_SCRIPT), "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log
        )
        self.lines: list[bytes] = []
        self.answers: dict[Any, list[dict[str, Any]]] = {}
        self._arrived = threading.Condition()
        self._requests = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and "id" in message and "method" not in message:
                    with self._arrived:
                        self.answers.setdefault(message["id"], []).append(message)
                        self._arrived.notify_all()

    def send_line(self, line: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.rstrip(b"\n") + b"\n")
        self.process.stdin.flush()

    def wait_answer(self, request_id: Any, timeout: float = CALL_TIMEOUT) -> dict[str, Any]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: request_id in self.answers, timeout=timeout):
                raise AssertionError(f"no answer to request {request_id!r} within {timeout:.0f}s")
            return self.answers[request_id][0]

    def request(self, method: str, params: dict[str, Any] | None = None, timeout: float = CALL_TIMEOUT) -> dict:
        self._requests += 1
        request_id = f"helper-{self._requests}"  # a string: never one of the integer ids a test sends itself
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, **({"params": params} if params else {})}
        self.send_line(json.dumps(message).encode())
        return self.wait_answer(request_id, timeout)

    def initialize(self) -> dict[str, Any]:
        answer = self.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
            timeout=STARTUP_TIMEOUT,
        )
        self.send_line(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        return answer

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)
        finally:
            self._log.close()


def default_sigint() -> None:
    """``preexec_fn`` of a child that a test sends Ctrl-C: a shell that starts the suite in the background (job
    control off, as CI runners and `cmd &` do) leaves SIGINT ignored, every child inherits that, and Python then
    never raises KeyboardInterrupt. The child gets the default disposition back, as a terminal would give it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
