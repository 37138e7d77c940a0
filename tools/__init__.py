"""The MCP tools of taskvec, one typed spec each. ``ALL_TOOLS`` is the order they are listed in."""

from taskvec.tools.classify import CLASSIFY, CLUSTER
from taskvec.tools.collections import (
    DELETE,
    DESCRIBE_COLLECTION,
    DROP_COLLECTION,
    GET_DOCUMENTS,
    LIST_COLLECTIONS,
)
from taskvec.tools.index import INDEX
from taskvec.tools.rerank import RERANK
from taskvec.tools.search import SEARCH, SIMILAR
from taskvec.tools.spec import ToolSpec

ALL_TOOLS: tuple[ToolSpec, ...] = (
    INDEX,
    SEARCH,
    CLASSIFY,
    CLUSTER,
    SIMILAR,
    RERANK,
    LIST_COLLECTIONS,
    DESCRIBE_COLLECTION,
    GET_DOCUMENTS,
    DELETE,
    DROP_COLLECTION,
)

__all__ = ["ALL_TOOLS", "ToolSpec"]
