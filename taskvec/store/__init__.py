"""The vector store: LanceDB collections tagged by embedding space, and the cross-space guard. No torch here."""

from taskvec.store.documents import Document, validate_documents
from taskvec.store.filters import compile_filter
from taskvec.store.guard import check_space
from taskvec.store.lance_store import CollectionInfo, Hit, SpaceCount, Store, WriteResult, check_collection_name

__all__ = [
    "CollectionInfo",
    "Document",
    "Hit",
    "SpaceCount",
    "Store",
    "WriteResult",
    "check_collection_name",
    "check_space",
    "compile_filter",
    "validate_documents",
]
