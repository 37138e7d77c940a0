"""taskvec: task-aware text embeddings for LLM agents.

The public API, importable from here (each name loads its layer on first use, so ``import taskvec`` stays light
and ``taskvec.store`` never pulls in torch)::

    encoder = taskvec.Encoder()                              # the engine: numpy vectors per task and role
    vectors = encoder.encode_query(["a question"], task="retrieval")
    service = taskvec.build_service(taskvec.Settings(store="/tmp/db"))   # engine + store, what the tools call
    service.index("docs", [{"text": "..."}], task="retrieval")

The layers, each usable and tested alone:

- ``taskvec.spaces``, ``taskvec.errors``, ``taskvec.options``, ``taskvec.results``: plain data, no heavy imports.
- ``taskvec.engine``: torch + transformers + peft. Tasks, prompts, adapters, encoding.
- ``taskvec.store``: LanceDB. Collections, embedding-space bookkeeping and the cross-space guard. No torch.
- ``taskvec.service``: joins an engine and a store; what the CLI and the MCP tools call.
- ``taskvec.server`` / ``taskvec.tools`` (folders ``server/`` and ``tools/``): the MCP server.

See docs/architecture.md for the path of one call through them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Encoder": "taskvec.engine",
    "EncodeResult": "taskvec.engine",
    "Task": "taskvec.engine",
    "TaskRegistry": "taskvec.engine",
    "TaskvecService": "taskvec.service",
    "CallControl": "taskvec.control",
    "build_service": "taskvec.service",
    "Settings": "taskvec.config",
    "Store": "taskvec.store",
    "Document": "taskvec.store",
    "DocumentLimits": "taskvec.options",
    "EmbeddingSpace": "taskvec.spaces",
    "TaskvecError": "taskvec.errors",
    "InvalidInputError": "taskvec.errors",
    "DataError": "taskvec.errors",
    "UnknownTaskError": "taskvec.errors",
    "UnknownCollectionError": "taskvec.errors",
    "SpaceMismatchError": "taskvec.errors",
    "ModelLoadError": "taskvec.errors",
    "StoreBusyError": "taskvec.errors",
    "StoreUnavailableError": "taskvec.errors",
    "Interrupted": "taskvec.errors",
    "IndexResult": "taskvec.results",
    "SearchResult": "taskvec.results",
    "SearchHit": "taskvec.results",
    "ClassifyResult": "taskvec.results",
    "ClusterResult": "taskvec.results",
    "CollectionDescription": "taskvec.results",
    "CollectionList": "taskvec.results",
    "DeleteResult": "taskvec.results",
    "DropResult": "taskvec.results",
    "DocumentsResult": "taskvec.results",
    "StoredDocument": "taskvec.results",
    "TaskList": "taskvec.results",
}
__all__ = [
    "CallControl",
    "ClassifyResult",
    "ClusterResult",
    "CollectionDescription",
    "CollectionList",
    "DataError",
    "DeleteResult",
    "Document",
    "DocumentLimits",
    "DocumentsResult",
    "DropResult",
    "EmbeddingSpace",
    "EncodeResult",
    "Encoder",
    "IndexResult",
    "Interrupted",
    "InvalidInputError",
    "ModelLoadError",
    "SearchHit",
    "SearchResult",
    "Settings",
    "SpaceMismatchError",
    "Store",
    "StoreBusyError",
    "StoreUnavailableError",
    "StoredDocument",
    "Task",
    "TaskList",
    "TaskRegistry",
    "TaskvecError",
    "TaskvecService",
    "UnknownCollectionError",
    "UnknownTaskError",
    "__version__",
    "build_service",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value  # resolved once
        return value
    raise AttributeError(f"module 'taskvec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from taskvec.config import Settings
    from taskvec.control import CallControl
    from taskvec.engine import Encoder, EncodeResult, Task, TaskRegistry
    from taskvec.errors import (
        DataError,
        Interrupted,
        InvalidInputError,
        ModelLoadError,
        SpaceMismatchError,
        StoreBusyError,
        StoreUnavailableError,
        TaskvecError,
        UnknownCollectionError,
        UnknownTaskError,
    )
    from taskvec.options import DocumentLimits
    from taskvec.results import (
        ClassifyResult,
        ClusterResult,
        CollectionDescription,
        CollectionList,
        DeleteResult,
        DocumentsResult,
        DropResult,
        IndexResult,
        SearchHit,
        SearchResult,
        StoredDocument,
        TaskList,
    )
    from taskvec.service import TaskvecService, build_service
    from taskvec.spaces import EmbeddingSpace
    from taskvec.store import Document, Store
