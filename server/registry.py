"""Turn a ``ToolSpec`` into an MCP tool: the spec's own input model is the schema, its output model the
``outputSchema``. No signature rewriting: the SDK's ``Tool`` is built directly from the two models (with the
server's default collection and description, where it sets them).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import pydantic_core
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field, ValidationError, create_model

from taskvec.control import CallControl
from taskvec.errors import TaskvecError
from taskvec.tools.spec import ToolSpec

from .client_logs import ClientLogs
from .loading import ServiceLoader
from .schemas import output_schema

log = logging.getLogger("taskvec.server")


def mcp_tool(
    spec: ToolSpec,
    loader: ServiceLoader,
    *,
    default_collection: str | None = None,
    description: str | None = None,
) -> Tool:
    """An MCP tool that validates with the spec's input model and runs ``spec.handler`` off the event loop, on the
    store alone or on the whole service once the model has loaded (``spec.needs_model``)."""
    input_model = spec.input_model
    if default_collection is not None and spec.default_collection and "collection" in input_model.model_fields:
        input_model = with_default_collection(input_model, default_collection)
    # The SDK hands validated fields to the function as keyword arguments; ArgModelBase supplies that dump.
    arg_model = type(f"{spec.input_model.__name__}Arguments", (input_model, ArgModelBase), {})

    async def call(ctx: Context, **fields: Any) -> Any:
        params = input_model.model_construct(**fields)  # already validated by arg_model

        loop = anyio.lowlevel.current_token()  # progress may come from a helper thread (CallControl.step)

        def progress(done: float, total: float | None, message: str) -> None:
            # A no-op in the SDK unless the caller asked for progress: a progressToken in _meta on JSON-RPC
            # transports, a progress callback on the in-process (direct) dispatcher, which sends no token.
            anyio.from_thread.run(ctx.report_progress, done, total, message, token=loop)

        # A client's notifications/cancelled cancels this task; the worker thread sees it at its next check
        # (between encode steps, never inside a commit; or while it waits for the model) and stops there.
        control = CallControl(progress=progress, check_cancelled=anyio.from_thread.check_cancelled)

        def run() -> Any:
            start = time.perf_counter()
            service = loader.service(control) if spec.needs_model else loader.store_service(control)
            result = tool_result(spec.handler(service, params, control))
            log.debug("%s answered in %.3fs", spec.name, time.perf_counter() - start)
            return result

        try:
            # Engine and store calls block: run them on a worker thread so other clients are served meanwhile.
            with ClientLogs.call(ctx.request_context.session, ctx.request_context.request_id):
                return await anyio.to_thread.run_sync(run)
        except TaskvecError as exc:
            raise ToolError(str(exc)) from exc  # a ToolError's text reaches the agent as an isError result
        except Exception as exc:  # a bug, not bad input: the traceback goes to the server log, never to the client
            log.exception("tool %s failed unexpectedly", spec.name)
            raise ToolError(  # the SDK puts "Error executing tool <name>: " before it
                f"taskvec failed unexpectedly ({type(exc).__name__}); nothing of "
                "this call was written. Fix: check the arguments against the tool's input schema; if they are right, "
                "report this with the server's log, which holds the details."
            ) from exc

    return _SpecTool(
        fn=call,
        name=spec.name,
        title=spec.title,
        description=description or spec.description,
        parameters=arg_model.model_json_schema(by_alias=True),
        fn_metadata=FuncMetadata(
            arg_model=arg_model, output_model=spec.output_model, output_schema=output_schema(spec.output_model)
        ),
        is_async=True,
        context_kwarg="ctx",
        annotations=spec.annotations,
    )


def tool_result(result: BaseModel) -> CallToolResult:
    """The answer as the client receives it: the structured content with the null fields of each listed item left
    out (a hit's ``rerank_score`` outside a reranked search, a document's ``parent_id`` when it is no chunk: fields
    that do not apply; the output schema requires none of them), and the same JSON, compact, as the text block for
    clients that read only text. Top-level nulls stay: they answer something (``next_offset: null`` is the last
    page). Nulls inside metadata are the user's and stay. Built here on the worker thread, not by the SDK on the
    event loop; the client validates fewer fields, and an agent reading the text pays for no indentation."""
    structured = result.model_dump(mode="json", by_alias=True)
    for key, value in structured.items():
        if isinstance(value, list):
            structured[key] = [_without_nulls(item) for item in value]
    text = pydantic_core.to_json(structured).decode()
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def _without_nulls(item: Any) -> Any:
    return {k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item


class _SpecTool(Tool):
    """A Tool whose schema-validation errors read like taskvec's own: the field, what is wrong, and the fix."""

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            return await super().run(arguments, context, convert_result)
        except ToolError as exc:
            cause = exc.__cause__
            if type(exc) is ToolError and isinstance(cause, ValidationError):
                raise ToolError(
                    f"Error executing tool {self.name}: {explain_validation(cause, self.fn_metadata.arg_model)}"
                ) from cause
            raise


def with_default_collection(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The input model with ``collection`` optional, defaulting to the server's default collection."""
    described = model.model_fields["collection"].description or ""
    field = Field(default=name, description=f"{described} Default: {name!r} (this server's default collection).")
    return create_model(model.__name__, __base__=model, collection=(str, field))


def explain_validation(error: ValidationError, model: type[BaseModel]) -> str:
    """``Invalid arguments: limit: ... (got 0). (field: limit) Fix: ...`` from a pydantic error: no pydantic noise."""
    errors = error.errors(include_url=False)
    problems = []
    for item in errors:
        where = _path(item["loc"])
        given = "" if item["type"] == "missing" else f" (got {_short_repr(item.get('input'))})"
        problems.append(f"{where or 'arguments'}: {item['msg']}{given}")
    loc = errors[0]["loc"] if errors else ()
    field = _path(loc) or "arguments"
    info = model.model_fields.get(str(loc[0])) if loc else None
    hint = f" ({loc[0]}: {info.description.rstrip('.')})" if info is not None and info.description else ""
    if errors and errors[0]["type"] == "extra_forbidden":
        fix = f"Remove {field}: the tool's input schema has no such field{hint}."
    else:
        fix = f"Send {field} as the tool's input schema describes{hint}."
    return f"Invalid arguments: {'; '.join(problems)}. (field: {field}) Fix: {fix}"


def _path(loc: tuple[int | str, ...]) -> str:
    """``("documents", 0, "text")`` -> ``documents[0].text``, the way taskvec's own errors name fields."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
