"""The vector store: LanceDB collections tagged by embedding space, and the cross-space guard. No torch here."""

from taskvec.options import DEFAULT_LIMITS, DocumentLimits
from taskvec.store.catalog import CollectionInfo, SpaceCount, check_collection_name
from taskvec.store.documents import Document, validate_documents, validate_texts
from taskvec.store.filters import compile_filter
from taskvec.store.guard import check_space
from taskvec.store.indexes import IndexPolicy
from taskvec.store.lance_store import Store
from taskvec.store.writer import WriteResult

__all__ = [
    "DEFAULT_LIMITS",
    "CollectionInfo",
    "Document",
    "DocumentLimits",
    "IndexPolicy",
    "SpaceCount",
    "Store",
    "WriteResult",
    "check_collection_name",
    "check_space",
    "compile_filter",
    "validate_documents",
    "validate_texts",
]
