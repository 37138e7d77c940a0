"""The taskvec MCP server: tools, resources, the model loaded once (lifespan), and the transports.

stdio writes nothing but MCP messages to stdout (logs go to stderr). The HTTP transports (SSE and streamable HTTP)
bind 127.0.0.1 by default, keep the SDK's DNS-rebinding protection on, and require ``Authorization: Bearer
<TASKVEC_TOKEN>`` on every request when a token is set; a token is mandatory to bind beyond loopback.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from taskvec import __version__
from taskvec.config import Settings
from taskvec.errors import InvalidInputError, TaskvecError, UnknownCollectionError
from taskvec.service import TaskvecService, build_service
from taskvec.tools import ALL_TOOLS

from .registry import mcp_tool
from .security import BearerTokenMiddleware, check_exposure, transport_security

log = logging.getLogger("taskvec.server")

INSTRUCTIONS = """taskvec gives task-aware embeddings over a local vector store.
Each tool takes a `task`: retrieval (queries vs documents), similarity, classification, clustering, code.
Index a collection with the task you will query it with; searching with another task is refused, and the error
says which tasks the collection holds. Read taskvec://tasks and taskvec://collections to see what exists."""


class TaskvecMCPServer(MCPServer):
    """The SDK's server, with the protocol errors the spec asks for where the SDK answers with a tool result."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if self._tool_manager.get_tool(name) is None:  # the spec: an unknown tool is -32602, not an isError result
            known = ", ".join(sorted(tool.name for tool in await self.list_tools()))
            raise MCPError(
                INVALID_PARAMS, f"Unknown tool {name!r}. Fix: call one of {known} (tools/list describes them)."
            )
        return await super().call_tool(name, arguments, context)


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

    server = TaskvecMCPServer(
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
        try:
            return holder.load().describe_collection(name).model_dump_json(indent=2)
        except UnknownCollectionError as exc:  # the client gets this text (invalid params), not a bare "error"
            raise ResourceNotFoundError(str(exc)) from exc
        except TaskvecError as exc:
            raise ResourceError(str(exc)) from exc

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
        import anyio

        from .stdio import run_stdio

        try:
            anyio.run(run_stdio, server)
        except BaseExceptionGroup as group:  # anyio's task groups wrap a start-up failure (say, a bad model)
            error = _taskvec_error_in(group)
            if error is None:
                raise
            raise error from None  # the CLI prints it as one line with its fix, as for every other error
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
    check_exposure(settings)
    security = transport_security(settings)
    if transport == "streamable-http":
        app = server.streamable_http_app(transport_security=security, host=settings.host)
    elif transport == "sse":
        app = server.sse_app(transport_security=security, host=settings.host)
        # The SSE transport enters the server lifespan per connection only; enter it at start-up as well, so the
        # model loads before the first client (and a broken model fails at start), as on streamable HTTP.
        startup = server.settings.lifespan
        if startup is not None:
            app.router.lifespan_context = lambda _app: startup(server)
    else:
        raise InvalidInputError(
            f"Unknown transport {transport!r}.", field="transport", fix="Use stdio, sse or streamable-http."
        )
    return BearerTokenMiddleware(app, settings.token) if settings.token else app


def _quiet_libraries() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _taskvec_error_in(group: BaseExceptionGroup) -> TaskvecError | None:
    for exc in group.exceptions:
        found = _taskvec_error_in(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if isinstance(found, TaskvecError):
            return found
    return None
