"""The taskvec MCP server: tools, resources, prompts, client logging, the service loaded in the background, and
the transports.

``initialize`` and ``tools/list`` are answered at once: the store and the model load on a background thread
(``server.loading``) and each call waits for what it needs. stdio writes nothing but MCP messages to stdout (logs go
to stderr, and to clients that ask for them as MCP notifications). The HTTP transports (SSE and streamable HTTP)
bind 127.0.0.1 by default, keep the SDK's DNS-rebinding protection on, and require ``Authorization: Bearer
<TASKVEC_TOKEN>`` on every request when a token is set; a token is mandatory to bind beyond loopback.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from taskvec import __version__
from taskvec.config import Settings, setting_source
from taskvec.errors import InvalidInputError, TaskvecError, UnknownCollectionError
from taskvec.tools import ALL_TOOLS, ToolSpec

from .client_logs import ClientLogs
from .loading import ServiceLoader
from .prompts import register_prompts
from .registry import mcp_tool
from .security import BearerTokenMiddleware, check_exposure, transport_security

if TYPE_CHECKING:
    from taskvec.service import TaskvecService

log = logging.getLogger("taskvec.server")

INSTRUCTIONS = """taskvec gives task-aware embeddings over a local vector store.
Each tool takes a `task`: retrieval (queries vs documents), similarity, classification (topics, intents),
sentiment (how the writer feels: sentiment, emotion, attitude), clustering, code.
Index a collection with the task you will query it with; searching with another task is refused, and the error
says which tasks the collection holds. Read taskvec://tasks and taskvec://collections to see what exists."""
_PAGED = ("tools/list", "resources/list", "resources/templates/list", "prompts/list")


class TaskvecMCPServer(MCPServer):
    """The SDK's server, with the protocol errors the spec asks for where the SDK answers with a tool result, and
    the tools a read-only server leaves out refused by name."""

    def __init__(self, *args: Any, loader: ServiceLoader, withheld: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loader = loader  # the service, loading in the background (tests wait on it)
        self._withheld = withheld  # tool name -> why this server does not offer it

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if name in self._withheld:  # known to exist, so an isError the agent can read, not "unknown tool"
            raise ToolError(self._withheld[name])
        if self._tool_manager.get_tool(name) is None:  # the spec: an unknown tool is -32602, not an isError result
            known = ", ".join(sorted(tool.name for tool in await self.list_tools()))
            raise MCPError(
                INVALID_PARAMS, f"Unknown tool {name!r}. Fix: call one of {known} (tools/list describes them)."
            )
        return await super().call_tool(name, arguments, context)

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        # The SDK answers these with error code 0 and logs a traceback; they are the client's invalid params.
        prompt = self._prompt_manager.get_prompt(name)
        if prompt is None:
            known = ", ".join(sorted(p.name for p in self._prompt_manager.list_prompts()))
            raise MCPError(
                INVALID_PARAMS, f"Unknown prompt {name!r}. Fix: get one of {known} (prompts/list describes them)."
            )
        missing = sorted(a.name for a in prompt.arguments or [] if a.required and a.name not in (arguments or {}))
        if missing:
            raise MCPError(
                INVALID_PARAMS,
                f"Prompt {name!r} needs the argument(s) {', '.join(missing)}. Fix: pass them in arguments "
                "(prompts/list describes each).",
            )
        return await super().get_prompt(name, arguments, context)


async def _no_cursors(ctx: Any, call_next: Any) -> Any:
    """Every list fits one page and no nextCursor is ever issued: a cursor is one this server never gave out."""
    if ctx.method in _PAGED and isinstance(ctx.params, dict) and ctx.params.get("cursor") is not None:
        raise MCPError(
            INVALID_PARAMS,
            f"Invalid cursor for {ctx.method}: taskvec lists everything in one page and issues no nextCursor. "
            f"Fix: call {ctx.method} without a cursor.",
        )
    return await call_next(ctx)


def build_server(
    service: TaskvecService | Callable[[], TaskvecService] | ServiceLoader | None = None,
    settings: Settings | None = None,
) -> TaskvecMCPServer:
    """An MCP server over ``service``: one that exists, a factory or a loader, or (None) one built from
    ``settings`` in the background once the server starts. ``settings`` also say which tools it offers and how
    they read."""
    settings = settings or Settings()
    if service is None:
        loader = ServiceLoader.from_settings(settings)
    elif isinstance(service, ServiceLoader):
        loader = service
    elif callable(service):
        factory = service
        loader = ServiceLoader(lambda store: factory())
    else:
        loader = ServiceLoader.ready(service)
    tools, withheld = _offered_tools(settings)
    logs = ClientLogs()

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        loader.start()  # the store and the model load meanwhile; each call waits for what it needs
        async with logs.running():
            yield

    server = TaskvecMCPServer(
        name="taskvec",
        title="taskvec: task-aware embeddings",
        instructions=INSTRUCTIONS,
        version=__version__,
        tools=[
            mcp_tool(
                spec,
                loader,
                default_collection=settings.default_collection,
                description=settings.tool_descriptions.get(spec.name),
            )
            for spec in tools
        ],
        lifespan=lifespan,
        log_level="WARNING",
        middleware=[_no_cursors],
        loader=loader,
        withheld=withheld,
    )
    server._lowlevel_server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, logs.set_level)
    register_prompts(server, writes=not settings.read_only, default_collection=settings.default_collection)
    _register_resources(server, loader)
    return server


def _offered_tools(settings: Settings) -> tuple[list[ToolSpec], dict[str, str]]:
    """The tools this server lists, and why it withholds the others; unknown names in TASKVEC_TOOL_DESCRIPTIONS
    are refused before anything starts."""
    names = [spec.name for spec in ALL_TOOLS]
    for name, text in settings.tool_descriptions.items():
        if name not in names or not text.strip():
            problem = f"names no tool: {name!r}" if name not in names else f"gives {name!r} an empty description"
            source = setting_source("tool_descriptions")  # the variable, or the TOML file's table
            raise InvalidInputError(
                f"{source} {problem}.",
                field=source,
                # In backticks: the terminal's rewording of tool names into commands leaves them be.
                fix=f"Give non-empty descriptions to tools among: {', '.join(f'`{n}`' for n in names)}.",
            )
    if not settings.read_only:
        return list(ALL_TOOLS), {}
    withheld = {
        spec.name: str(
            TaskvecError(
                f"Tool {spec.name!r} is not offered: this taskvec server is read-only (TASKVEC_READ_ONLY), so "
                "nothing is written.",
                field="name",
                fix="Use the read tools (search, get_documents, ...), or a server started without TASKVEC_READ_ONLY "
                "to make changes.",
            )
        )
        for spec in ALL_TOOLS
        if spec.writes
    }
    return [spec for spec in ALL_TOOLS if spec.name not in withheld], withheld


def _register_resources(server: MCPServer, loader: ServiceLoader) -> None:
    @server.resource(
        "taskvec://tasks",
        name="tasks",
        title="Tasks",
        mime_type="application/json",
        description="Every task with its kind, prompts, adapter and embedding space id",
    )
    async def tasks_resource() -> str:
        return await _read(lambda: loader.service().tasks().model_dump_json(indent=2))

    @server.resource(
        "taskvec://collections",
        name="collections",
        title="Collections",
        mime_type="application/json",
        description="Every collection with its rows and the embedding spaces (tasks) it holds",
    )
    async def collections_resource() -> str:
        return await _read(lambda: loader.store_service().list_collections().model_dump_json(indent=2))

    @server.resource(
        "taskvec://collections/{name}",
        name="collection",
        title="One collection",
        mime_type="application/json",
        description="One collection's rows and embedding spaces",
    )
    async def collection_resource(name: str) -> str:
        return await _read(lambda: loader.store_service().describe_collection(name).model_dump_json(indent=2))


async def _read(make: Callable[[], str]) -> str:
    """A resource's text, made off the event loop (it may wait for the store or the model)."""
    try:
        return await anyio.to_thread.run_sync(make)
    except UnknownCollectionError as exc:  # the client gets this text (invalid params), not a bare "error"
        raise ResourceNotFoundError(str(exc)) from exc
    except InvalidInputError as exc:  # a bad name in the URI: the client's invalid params too
        raise MCPError(INVALID_PARAMS, str(exc)) from exc
    except TaskvecError as exc:
        raise ResourceError(str(exc)) from exc


# ---------------------------------------------------------------------------------------------- transports
def serve(settings: Settings, transport: str = "stdio") -> None:
    """Run the server until interrupted. Logs go to stderr on every transport (at TASKVEC_LOG_LEVEL, whatever level
    an MCP client asks for its own copy)."""
    level = settings.log_level.upper()
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    server = build_server(settings=settings)
    if transport == "stdio":
        from .stdio import run_stdio

        try:
            anyio.run(run_stdio, server)
        except BaseExceptionGroup as group:  # anyio's task groups wrap a start-up failure
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
        # model starts loading before the first client connects, as on streamable HTTP.
        startup = server.settings.lifespan
        if startup is not None:
            app.router.lifespan_context = lambda _app: startup(server)
    else:
        raise InvalidInputError(
            f"Unknown transport {transport!r}.", field="transport", fix="Use stdio, sse or streamable-http."
        )
    return BearerTokenMiddleware(app, settings.token) if settings.token else app


def _taskvec_error_in(group: BaseExceptionGroup) -> TaskvecError | None:
    for exc in group.exceptions:
        found = _taskvec_error_in(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if isinstance(found, TaskvecError):
            return found
    return None
