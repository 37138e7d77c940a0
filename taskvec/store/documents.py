"""Documents as the store keeps them, and the validation every write goes through before anything is stored."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskvec.errors import InvalidInputError
from taskvec.store.filters import KEY_PATTERN

MAX_ID_LENGTH = 512
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None  # set on chunks of a longer document

    @staticmethod
    def content_id(text: str) -> str:
        """The id given to a document sent without one: stable, so indexing it again updates instead of duplicating."""
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def validate_documents(raw: Sequence[Mapping[str, Any] | Document], *, max_batch: int) -> list[Document]:
    """Check a whole batch before anything is written; the first problem raises, naming the item and field."""
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise InvalidInputError("documents must be a list.", field="documents", fix='Send [{"text": ...}, ...].')
    if not raw:
        raise InvalidInputError("documents is empty.", field="documents", fix="Send at least one document.")
    if len(raw) > max_batch:
        raise InvalidInputError(
            f"{len(raw)} documents in one call is more than the limit of {max_batch}.",
            field="documents",
            fix=f"Split them into calls of at most {max_batch} (or raise TASKVEC_MAX_DOCUMENTS).",
        )
    docs, seen = [], set()
    for i, item in enumerate(raw):
        doc = item if isinstance(item, Document) else _document_from_mapping(item, i)
        _check_text(doc.text, f"documents[{i}].text")
        _check_metadata(doc.metadata, f"documents[{i}].metadata")
        if doc.id in seen:
            raise InvalidInputError(
                f"Document id {doc.id!r} appears twice in this batch.",
                field=f"documents[{i}].id",
                fix="Give each document a unique id (or merge the duplicates).",
            )
        seen.add(doc.id)
        docs.append(doc)
    return docs


def _document_from_mapping(item: Any, i: int) -> Document:
    where = f"documents[{i}]"
    if not isinstance(item, Mapping):
        raise InvalidInputError(
            f"{where} is a {type(item).__name__}, not an object.",
            field=where,
            fix='Send each document as {"id": ..., "text": ..., "metadata": {...}}.',
        )
    unknown = set(item) - {"id", "text", "metadata", "parent_id"}
    if unknown:
        raise InvalidInputError(
            f"{where} has unknown fields {sorted(unknown)}.",
            field=where,
            fix="Allowed fields: id, text, metadata. Put other values inside metadata.",
        )
    text = item.get("text")
    _check_text(text, f"{where}.text")
    doc_id = item.get("id")
    if doc_id is None or doc_id == "":
        doc_id = Document.content_id(text)
    elif isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or len(doc_id) > MAX_ID_LENGTH:
        raise InvalidInputError(
            f"{where}.id must be a string of at most {MAX_ID_LENGTH} characters.",
            field=f"{where}.id",
            fix="Use a short string id, or omit it to derive one from the text.",
        )
    metadata = item.get("metadata") or {}
    return Document(id=doc_id, text=text, metadata=metadata, parent_id=item.get("parent_id"))


def _check_text(text: Any, where: str) -> None:
    if not isinstance(text, str):
        raise InvalidInputError(f"{where} must be a string.", field=where, fix="Send the document's text as a string.")
    if not text.strip():
        raise InvalidInputError(
            f"{where} is empty or only whitespace.", field=where, fix="Drop empty documents; there is nothing to embed."
        )


def _check_metadata(metadata: Any, where: str) -> None:
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"{where} must be an object of key/value pairs, not {type(metadata).__name__}.",
            field=where,
            fix='Send metadata as {"key": value}.',
        )
    for key, value in metadata.items():
        path = f"{where}.{key}"
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise InvalidInputError(
                f"{path}: {key!r} is not a valid metadata key.",
                field=path,
                fix="Keys start with a letter or _ and hold letters, digits, _ or -.",
            )
        values = value if isinstance(value, list) else [value]
        for v in values:
            if not isinstance(v, _SCALARS) or (isinstance(v, float) and not math.isfinite(v)):
                raise InvalidInputError(
                    f"{path} has a value of type {type(v).__name__}; metadata values must be strings, numbers, "
                    "booleans, null, or lists of those.",
                    field=path,
                    fix="Flatten nested objects into separate keys (e.g. author_name) and send dates as ISO strings.",
                )


def metadata_json(metadata: Mapping[str, Any]) -> str:
    return json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":"))
