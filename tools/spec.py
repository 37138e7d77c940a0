"""What a tool is: a typed input model, a typed output model, a description an agent can act on, annotations,
and a plain synchronous handler over the service. The MCP wiring lives in ``server/``; nothing here imports mcp
except the annotation type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict

from taskvec.service import NO_CONTROL, CallControl, TaskvecService


class ToolInput(BaseModel):
    """Base of every tool's input: unknown arguments are errors, so a misspelt "filters" cannot silently run an
    unfiltered search."""

    model_config = ConfigDict(extra="forbid")


In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


@dataclass(frozen=True)
class ToolSpec(Generic[In, Out]):
    name: str
    title: str
    description: str
    input_model: type[In]
    output_model: type[Out]
    annotations: ToolAnnotations
    handler: Callable[[TaskvecService, In, CallControl], Out]

    def run(self, service: TaskvecService, arguments: dict[str, Any], control: CallControl = NO_CONTROL) -> Out:
        return self.handler(service, self.input_model.model_validate(arguments), control)


def read_only(title: str) -> ToolAnnotations:
    return ToolAnnotations(
        title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )
