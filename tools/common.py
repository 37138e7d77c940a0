"""Input fields shared by several tools, described once so every schema says the same thing."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from taskvec.store.filters import FILTER_HELP

CollectionField = Annotated[
    str, Field(description="Collection name: 1-64 letters, digits, '_' or '-'. See list_collections.")
]
FilterField = Annotated[dict[str, Any] | None, Field(default=None, description="Metadata filter. " + FILTER_HELP)]


def task_field(default: str) -> Any:
    return Field(
        default=default,
        description=f"Task whose prompt and adapter make the vectors (default {default!r}). Must match the task the "
        "collection was indexed with; read the taskvec://tasks resource for the list.",
    )
