"""Turn a ``ToolSpec`` into an MCP tool: the spec's own input model is the schema, its output model the
``outputSchema``. No signature rewriting: the SDK's ``Tool`` is built directly from the two models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from pydantic import BaseModel, ValidationError

from taskvec.errors import TaskvecError
from taskvec.service import CallControl, TaskvecService
from taskvec.tools.spec import ToolSpec

log = logging.getLogger("taskvec.server")


def mcp_tool(spec: ToolSpec, service: Callable[[], TaskvecService]) -> Tool:
    """An MCP tool that validates with ``spec.input_model`` and runs ``spec.handler`` off the event loop."""
    # The SDK hands validated fields to the function as keyword arguments; ArgModelBase supplies that dump.
    arg_model = type(f"{spec.input_model.__name__}Arguments", (spec.input_model, ArgModelBase), {})

    async def call(ctx: Context, **fields: Any) -> Any:
        params = spec.input_model.model_construct(**fields)  # already validated by arg_model

        def progress(done: int, total: int, message: str) -> None:
            # A no-op in the SDK unless the caller asked for progress: a progressToken in _meta on JSON-RPC
            # transports, a progress callback on the in-process (direct) dispatcher, which sends no token.
            anyio.from_thread.run(ctx.report_progress, done, total, message)

        # A client's notifications/cancelled cancels this task; the worker thread sees it at its next check
        # (between encode steps, never inside a commit) and stops there, having written nothing.
        control = CallControl(progress=progress, check_cancelled=anyio.from_thread.check_cancelled)
        try:
            # Engine and store calls block: run them on a worker thread so other clients are served meanwhile.
            return await anyio.to_thread.run_sync(lambda: spec.handler(service(), params, control))
        except TaskvecError as exc:
            raise ToolError(str(exc)) from exc  # a ToolError's text reaches the agent as an isError result
        except Exception as exc:  # a bug, not bad input: the traceback goes to the server log, never to the client
            log.exception("tool %s failed unexpectedly", spec.name)
            raise ToolError(
                f"Error executing tool {spec.name}: taskvec failed unexpectedly ({type(exc).__name__}); nothing of "
                "this call was written. Fix: check the arguments against the tool's input schema; if they are right, "
                "report this with the server's log, which holds the details."
            ) from exc

    return _SpecTool(
        fn=call,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=arg_model.model_json_schema(by_alias=True),
        fn_metadata=FuncMetadata(arg_model=arg_model, output_model=spec.output_model),
        is_async=True,
        context_kwarg="ctx",
        annotations=spec.annotations,
    )


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
