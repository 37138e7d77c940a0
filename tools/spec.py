"""What a tool is: a typed input model, a typed output model, a description an agent can act on, annotations,
and a plain synchronous handler over the service. The MCP wiring lives in ``server/``; nothing here imports mcp
except the annotation type, and nothing loads a model or a store: the server lists its tools before either is up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict

from taskvec.control import NO_CONTROL, CallControl


class ToolInput(BaseModel):
    """Base of every tool's input: unknown arguments are errors, so a misspelt "filters" cannot silently run an
    unfiltered search."""

    model_config = ConfigDict(extra="forbid", strict=True)


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
    # (service, input, control) -> output. The service is a TaskvecService; a StoreService when needs_model is
    # False, since those tools are served before the model has loaded.
    handler: Callable[[Any, In, CallControl], Out]
    needs_model: bool = True
    default_collection: bool = True  # TASKVEC_DEFAULT_COLLECTION may stand in for its collection argument

    @property
    def writes(self) -> bool:
        """Whether the tool changes the store (what a read-only server leaves out)."""
        return self.annotations.read_only_hint is not True

    def run(self, service: Any, arguments: dict[str, Any], control: CallControl = NO_CONTROL) -> Out:
        return self.handler(service, self.input_model.model_validate(arguments), control)


def read_only(title: str) -> ToolAnnotations:
    return ToolAnnotations(
        title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )


def writes(title: str, *, destructive: bool) -> ToolAnnotations:
    """A tool that changes the store (idempotent: the same call again changes nothing more)."""
    return ToolAnnotations(
        title=title, read_only_hint=False, destructive_hint=destructive, idempotent_hint=True, open_world_hint=False
    )
