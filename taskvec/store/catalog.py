"""What the store says about its collections: which names are allowed, and how a collection is described."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from taskvec.errors import InvalidInputError
from taskvec.spaces import EmbeddingSpace

COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")


@dataclass(frozen=True)
class SpaceCount:
    space: EmbeddingSpace
    rows: int


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    rows: int
    dimension: int
    spaces: list[SpaceCount] = field(default_factory=list)


def check_collection_name(name: Any) -> str:
    if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
        raise InvalidInputError(
            f"Collection name {name!r} is not allowed.",
            field="collection",
            fix="Use 1-64 letters, digits, '_' or '-', starting with a letter or digit (no dots or slashes).",
        )
    return name
