"""The taskvec MCP server: tools, resources, the model loaded once (lifespan), and the transports.

stdio writes nothing but MCP messages to stdout (logs go to stderr). The HTTP transports (SSE and streamable HTTP)
bind 127.0.0.1 by default, keep the SDK's DNS-rebinding protection on, and require ``Authorization: Bearer
<TASKVEC_TOKEN>`` on every request when a token is set; a token is mandatory to bind beyond loopback.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from taskvec import __version__
from taskvec.config import Settings
from taskvec.errors import InvalidInputError
from taskvec.service import TaskvecService, build_service
from taskvec.tools import ALL_TOOLS

from .registry import mcp_tool

log = logging.getLogger("taskvec.server")
LOOPBACK = ("127.0.0.1", "localhost", "::1")

INSTRUCTIONS = """taskvec gives task-aware embeddings over a local vector store.
Each tool takes a `task`: retrieval (queries vs documents), similarity, classification, clustering, code.
Index a collection with the task you will query it with; searching with another task is refused, and the error
says which tasks the collection holds. Read taskvec://tasks and taskvec://collections to see what exists."""


class _ServiceHolder:
    """The one service of this server, built at start-up (not per call) or injected by tests and embedders."""

    def __init__(self, factory: Callable[[], TaskvecService]) -> None:
        self._factory = factory
        self._service: TaskvecService | None = None

    def load(self) -> TaskvecService:
        if self._service is None:
            self._service = self._factory()
        return self._service


def build_server(
    service: TaskvecService | Callable[[], TaskvecService] | None = None, settings: Settings | None = None
) -> MCPServer:
    """An MCP server over ``service`` (or one built from ``settings`` when the server starts)."""
    if isinstance(service, TaskvecService):
        ready = service
        holder = _ServiceHolder(lambda: ready)
    else:
        holder = _ServiceHolder(service or (lambda: build_service(settings or Settings())))

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        import anyio

        await anyio.to_thread.run_sync(holder.load)  # the model loads once, before the first request
        yield

    server = MCPServer(
        name="taskvec",
        title="taskvec: task-aware embeddings",
        instructions=INSTRUCTIONS,
        version=__version__,
        tools=[mcp_tool(spec, holder.load) for spec in ALL_TOOLS],
        lifespan=lifespan,
        log_level="WARNING",
    )

    @server.resource(
        "taskvec://tasks",
        name="tasks",
        title="Tasks",
        mime_type="application/json",
        description="Every task with its kind, prompts, adapter and embedding space id",
    )
    def tasks_resource() -> str:
        return holder.load().tasks().model_dump_json(indent=2)

    @server.resource(
        "taskvec://collections",
        name="collections",
        title="Collections",
        mime_type="application/json",
        description="Every collection with its rows and the embedding spaces (tasks) it holds",
    )
    def collections_resource() -> str:
        return holder.load().list_collections().model_dump_json(indent=2)

    @server.resource(
        "taskvec://collections/{name}",
        name="collection",
        title="One collection",
        mime_type="application/json",
        description="One collection's rows and embedding spaces",
    )
    def collection_resource(name: str) -> str:
        return holder.load().describe_collection(name).model_dump_json(indent=2)

    return server


# ---------------------------------------------------------------------------------------------- transports
def serve(settings: Settings, transport: str = "stdio") -> None:
    """Run the server until interrupted. Logs go to stderr on every transport."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    _quiet_libraries()
    server = build_server(settings=settings)
    if transport == "stdio":
        server.run("stdio")
        return
    app = http_app(server, settings, transport)
    import uvicorn

    log.info(
        "taskvec MCP server (%s) on http://%s:%d%s",
        transport,
        settings.host,
        settings.port,
        "/mcp" if transport == "streamable-http" else "/sse",
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


def http_app(server: MCPServer, settings: Settings, transport: str) -> Any:
    """The ASGI app of an HTTP transport, behind the bearer-token check when a token is set."""
    if settings.host not in LOOPBACK and not settings.token:
        raise InvalidInputError(
            f"Refusing to bind {settings.host!r} without a token: anyone who can reach it could read and delete "
            "your collections.",
            field="host",
            fix="Set TASKVEC_TOKEN to a long random secret, or bind 127.0.0.1.",
        )
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", f"{settings.host}:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", f"http://{settings.host}:*"],
    )
    if transport == "streamable-http":
        app = server.streamable_http_app(transport_security=security, host=settings.host)
    elif transport == "sse":
        app = server.sse_app(transport_security=security, host=settings.host)
    else:
        raise InvalidInputError(
            f"Unknown transport {transport!r}.", field="transport", fix="Use stdio, sse or streamable-http."
        )
    return BearerTokenMiddleware(app, settings.token) if settings.token else app


class BearerTokenMiddleware:
    """Reject HTTP requests without ``Authorization: Bearer <token>`` (constant-time comparison)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = json.dumps(
                    {"error": "unauthorized", "fix": "Send the header 'Authorization: Bearer <TASKVEC_TOKEN>'."}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="taskvec"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _quiet_libraries() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
