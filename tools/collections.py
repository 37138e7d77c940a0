"""The collection tools: ``list_collections``, ``describe_collection`` and ``delete``."""

from __future__ import annotations

from mcp_types import ToolAnnotations
from pydantic import Field

from taskvec.results import CollectionDescription, CollectionList, DeleteResult
from taskvec.service import CallControl, TaskvecService
from taskvec.tools.common import CollectionField, FilterField
from taskvec.tools.spec import ToolInput, ToolSpec, read_only


class ListCollectionsInput(ToolInput):
    pass


LIST_COLLECTIONS = ToolSpec(
    name="list_collections",
    title="List collections",
    description="List the store's collections with their row counts and the embedding spaces (tasks) they hold.",
    input_model=ListCollectionsInput,
    output_model=CollectionList,
    annotations=read_only("List collections"),
    handler=lambda service, params, control: service.list_collections(),
)


class DescribeCollectionInput(ToolInput):
    collection: CollectionField


DESCRIBE_COLLECTION = ToolSpec(
    name="describe_collection",
    title="Describe a collection",
    description=(
        "Show what a collection holds: rows, dimension, and each embedding space with its task, model, adapter, "
        "prompts and row count. Search with one of the tasks listed here."
    ),
    input_model=DescribeCollectionInput,
    output_model=CollectionDescription,
    annotations=read_only("Describe a collection"),
    handler=lambda service, params, control: service.describe_collection(params.collection),
)


class DeleteInput(ToolInput):
    collection: CollectionField
    ids: list[str] | None = Field(
        default=None, description="Delete these document ids (and their chunks), in every task of the collection"
    )
    filter: FilterField


def _delete(service: TaskvecService, params: DeleteInput, control: CallControl) -> DeleteResult:
    return service.delete(params.collection, ids=params.ids, filter=params.filter)


DELETE = ToolSpec(
    name="delete",
    title="Delete documents",
    description=(
        "Permanently delete documents from a collection by ids and/or a metadata filter, in every task space. "
        "Destructive: the rows cannot be recovered through taskvec. Returns how many rows were deleted."
    ),
    input_model=DeleteInput,
    output_model=DeleteResult,
    annotations=ToolAnnotations(
        title="Delete documents",
        read_only_hint=False,
        destructive_hint=True,
        idempotent_hint=True,
        open_world_hint=False,
    ),
    handler=_delete,
)
