"""The verbs that need only the store: list, describe, read back, delete and drop collections.

No model is loaded for these: the command line answers them at once, and the MCP server before its model has
finished loading. ``TaskvecService`` (engine + store) extends this class, so both offer the same verbs.
"""

from __future__ import annotations

from collections.abc import Sequence

from taskvec.results import (
    CollectionDescription,
    CollectionList,
    DeleteResult,
    DocumentsResult,
    DropResult,
    SpaceCountInfo,
    SpaceInfo,
    StoredDocument,
)
from taskvec.store import Store


class StoreService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def describe_collection(self, collection: str) -> CollectionDescription:
        info = self.store.describe(collection)
        return CollectionDescription(
            name=info.name,
            rows=info.rows,
            dimension=info.dimension,
            spaces=[SpaceCountInfo(space=SpaceInfo.of(s.space), rows=s.rows) for s in info.spaces],
        )

    def list_collections(self) -> CollectionList:
        return CollectionList(
            store=self.store.uri, collections=[self.describe_collection(n) for n in self.store.collection_names()]
        )

    def get_documents(
        self,
        collection: str,
        *,
        ids: Sequence[str] | None = None,
        filter: str | dict | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> DocumentsResult:
        """Documents by id (each with its chunks), or a page of the collection (a peek) when no ids are given."""
        page = self.store.get(collection, ids=ids, filter=filter, limit=limit, offset=offset)
        return DocumentsResult(
            collection=collection,
            documents=[
                StoredDocument(id=d.id, text=d.text, metadata=d.metadata, parent_id=d.parent_id, tasks=d.tasks)
                for d in page.documents
            ],
            missing=page.missing,
            next_offset=page.next_offset,
        )

    def delete(
        self,
        collection: str,
        *,
        ids: list[str] | None = None,
        filter: str | dict | None = None,
        space: str | None = None,
    ) -> DeleteResult:
        deleted = self.store.delete(collection, ids=ids, filter=filter, space=space)
        return DeleteResult(collection=collection, deleted=deleted)

    def drop_collection(self, collection: str) -> DropResult:
        """Remove the collection and every row it holds, in every task."""
        return DropResult(collection=collection, dropped_rows=self.store.drop(collection))
