"""The collection tools, which need no model: ``list_collections``, ``describe_collection``, ``get_documents``,
``delete`` and ``drop_collection``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from taskvec.control import CallControl
from taskvec.results import CollectionDescription, CollectionList, DeleteResult, DocumentsResult, DropResult
from taskvec.store.lookup import MAX_IDS, MAX_PAGE, PEEK_SIZE
from taskvec.tools.common import CollectionField, FilterField
from taskvec.tools.spec import ToolInput, ToolSpec, read_only, writes

if TYPE_CHECKING:
    from taskvec.store_service import StoreService


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
    needs_model=False,
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
    needs_model=False,
)


class GetDocumentsInput(ToolInput):
    collection: CollectionField
    ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_IDS,
        description="Read these documents (a chunked document comes back as its chunks). Omit to peek at the "
        "collection: a page of its documents in storage order",
    )
    limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PAGE,
        description=f"Documents per page (default: every match for ids, {PEEK_SIZE} for a peek)",
    )
    offset: int = Field(default=0, ge=0, description="Documents to skip: the next_offset of the previous page")
    filter: FilterField


def _get_documents(service: StoreService, params: GetDocumentsInput, control: CallControl) -> DocumentsResult:
    return service.get_documents(
        params.collection, ids=params.ids, filter=params.filter, limit=params.limit, offset=params.offset
    )


GET_DOCUMENTS = ToolSpec(
    name="get_documents",
    title="Read documents",
    description=(
        "Read documents back from a collection by id, with their text, metadata and the tasks they are indexed "
        "under; ids that match nothing are listed in missing. Without ids, peek at a page of the collection "
        "(optionally filtered on metadata) and follow next_offset for more. Embeds nothing."
    ),
    input_model=GetDocumentsInput,
    output_model=DocumentsResult,
    annotations=read_only("Read documents"),
    handler=_get_documents,
    needs_model=False,
)


class DeleteInput(ToolInput):
    collection: CollectionField
    ids: list[str] | None = Field(
        default=None, description="Delete these document ids (and their chunks), in every task of the collection"
    )
    filter: FilterField
    space: str | None = Field(
        default=None,
        description="Delete only this embedding space's rows (a space id describe_collection lists), e.g. the "
        "space a task made before its default changed; ids and filter narrow it further",
    )


def _delete(service: StoreService, params: DeleteInput, control: CallControl) -> DeleteResult:
    return service.delete(params.collection, ids=params.ids, filter=params.filter, space=params.space)


DELETE = ToolSpec(
    name="delete",
    title="Delete documents",
    description=(
        "Permanently delete documents from a collection by ids and/or a metadata filter, in every task space "
        "or in one (space). "
        "Destructive: the rows cannot be recovered through taskvec. Returns how many rows were deleted. To remove "
        "a whole collection, use drop_collection."
    ),
    input_model=DeleteInput,
    output_model=DeleteResult,
    annotations=writes("Delete documents", destructive=True),
    handler=_delete,
    needs_model=False,
)


class DropCollectionInput(ToolInput):
    collection: str = Field(
        description="The collection to remove (1-64 letters, digits, '_' or '-'), always named: the server's "
        "default collection never stands in for it"
    )


DROP_COLLECTION = ToolSpec(
    name="drop_collection",
    title="Drop a collection",
    description=(
        "Permanently remove a whole collection: every document in every task, and the collection itself. "
        "Destructive: nothing can be recovered through taskvec. Returns the rows it held. To remove some "
        "documents only, use delete."
    ),
    input_model=DropCollectionInput,
    output_model=DropResult,
    annotations=writes("Drop a collection", destructive=True),
    handler=lambda service, params, control: service.drop_collection(params.collection),
    needs_model=False,
    default_collection=False,
)
