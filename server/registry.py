"""Turn a ``ToolSpec`` into an MCP tool: the spec's own input model is the schema, its output model the
``outputSchema``. No signature rewriting: the SDK's ``Tool`` is built directly from the two models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata

from taskvec.errors import TaskvecError
from taskvec.service import TaskvecService
from taskvec.tools.spec import ToolSpec


def mcp_tool(spec: ToolSpec, service: Callable[[], TaskvecService]) -> Tool:
    """An MCP tool that validates with ``spec.input_model`` and runs ``spec.handler`` off the event loop."""
    # The SDK hands validated fields to the function as keyword arguments; ArgModelBase supplies that dump.
    arg_model = type(f"{spec.input_model.__name__}Arguments", (spec.input_model, ArgModelBase), {})

    async def call(ctx: Context, **fields: Any) -> Any:
        params = spec.input_model.model_construct(**fields)  # already validated by arg_model
        progress_token = _progress_token(ctx)

        def progress(done: int, total: int) -> None:
            if progress_token is not None:
                anyio.from_thread.run(ctx.report_progress, done, total)

        try:
            # Engine and store calls block: run them on a worker thread so other clients are served meanwhile.
            return await anyio.to_thread.run_sync(lambda: spec.handler(service(), params, progress))
        except TaskvecError as exc:
            raise ToolError(str(exc)) from exc  # a ToolError's text reaches the agent as an isError result

    return Tool(
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


def _progress_token(ctx: Context) -> Any:
    try:
        meta = ctx.request_context.meta
    except (AttributeError, ValueError):
        return None
    return getattr(meta, "progress_token", None) if meta is not None else None
