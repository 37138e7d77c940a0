"""The ``index`` tool: embed documents for a task and upsert them into a collection."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import Field

from taskvec.control import CallControl
from taskvec.results import IndexResult
from taskvec.tools.common import CollectionField, task_field
from taskvec.tools.spec import ToolInput, ToolSpec, writes

if TYPE_CHECKING:
    from taskvec.service import TaskvecService


class DocumentInput(ToolInput):  # unknown keys are errors: a misspelt "metadata" must not be dropped silently
    id: str | None = Field(
        default=None,
        description="Your id; indexing the same id again replaces it. "
        "Omitted: derived from the text, so re-sending a text does not duplicate it.",
    )
    text: str = Field(description="The text to embed (non-empty)")
    metadata: dict[str, Any] | None = Field(
        default=None, description="Flat key/value metadata to filter on: strings, numbers, booleans or lists of those"
    )


class ChunkingInput(ToolInput):
    enabled: bool = Field(default=True, description="Split documents longer than the model's token limit")
    max_tokens: int | None = Field(
        default=None,
        ge=16,
        description="Chunk size in tokens (default: the server's, else the model's limit). For long prose (papers, "
        "reports, manuals) 96-128 retrieves better; keep the default for code and short posts (docs/chunking.md)",
    )
    overlap: int | None = Field(
        default=None, ge=0, description="Tokens shared by consecutive chunks (default: the server's, 32 unless set)"
    )


class IndexInput(ToolInput):
    collection: CollectionField
    documents: list[DocumentInput] = Field(description="Documents to add or replace (by id)", min_length=1)
    task: str = task_field("retrieval")
    chunking: ChunkingInput | None = Field(default=None, description="How long documents are split (default: on)")


def _index(service: TaskvecService, params: IndexInput, control: CallControl) -> IndexResult:
    given = params.chunking.model_dump(exclude_none=True) if params.chunking else {}
    return service.index(
        params.collection,
        [d.model_dump() for d in params.documents],
        params.task,
        chunking=replace(service.chunking, **given),  # what the call says, the server's defaults for the rest
        control=control,
    )


INDEX = ToolSpec(
    name="index",
    title="Index documents",
    description=(
        "Embed documents with a task's document prompt and adapter, and upsert them (by id) into a collection, "
        "creating it if needed. Index with the task you will search with: 'retrieval' for question answering over "
        "documents, 'similarity' for near-duplicates, 'classification' for labelled examples (put the label in "
        "metadata.label), 'clustering' for topic grouping, 'code' for code search. One collection can hold the "
        "same documents under several tasks. Long documents are chunked (chunks keep parent_id). All or nothing: "
        "a failed call changes nothing. Returns counts and the embedding space written."
    ),
    input_model=IndexInput,
    output_model=IndexResult,
    annotations=writes("Index documents", destructive=False),
    handler=_index,
)
