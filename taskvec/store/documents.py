"""Documents as the store keeps them, and the validation every write goes through before anything is stored."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskvec.errors import InvalidInputError
from taskvec.options import DEFAULT_LIMITS, DocumentLimits
from taskvec.store.filters import KEY_PATTERN

MAX_ID_LENGTH = 512
# A chunk of a long document (taskvec.ingest.chunking): its id is <parent id>#<n>, its metadata holds CHUNK_KEY = n.
CHUNK_ID = re.compile(r"#(\d+)$")
CHUNK_KEY = "chunk"
MAX_METADATA_BYTES = 65_536  # one document's metadata as JSON
MAX_INT64 = 2**63 - 1  # LanceDB's JSON column holds 64-bit integers
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


def validate_documents(
    raw: Sequence[Mapping[str, Any] | Document], limits: DocumentLimits = DEFAULT_LIMITS
) -> list[Document]:
    """Check a whole batch before anything is written; the first problem raises, naming the item, field and limit."""
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise InvalidInputError("documents must be a list.", field="documents", fix='Send [{"text": ...}, ...].')
    if not raw:
        raise InvalidInputError("documents is empty.", field="documents", fix="Send at least one document.")
    if len(raw) > limits.max_documents:
        raise InvalidInputError(
            f"{len(raw)} documents in one call is more than the limit of {limits.max_documents}.",
            field="documents",
            fix=f"Split them into calls of at most {limits.max_documents} (or raise TASKVEC_MAX_DOCUMENTS).",
        )
    docs, seen, call_bytes = [], set(), 0
    for i, item in enumerate(raw):
        doc = item if isinstance(item, Document) else _document_from_mapping(item, i)
        where = f"documents[{i}]"
        text_bytes = _check_text(doc.text, f"{where}.text")
        if text_bytes > limits.max_text_bytes:
            raise InvalidInputError(
                f"{where}.text is {text_bytes:,} bytes; one document may hold at most {limits.max_text_bytes:,}.",
                field=f"{where}.text",
                fix="Split the text into several documents (or raise TASKVEC_MAX_TEXT_BYTES).",
            )
        call_bytes += text_bytes + _check_metadata(doc.metadata, f"{where}.metadata")
        if limits.max_call_bytes is not None and call_bytes > limits.max_call_bytes:
            raise InvalidInputError(
                f"The documents up to {where} hold {call_bytes:,} bytes of text and metadata; one call may bring "
                f"at most {limits.max_call_bytes:,}.",
                field="documents",
                fix=f"Send documents[{i}:] in further calls (or raise TASKVEC_MAX_CALL_BYTES).",
            )
        _check_identifier(doc.id, f"{where}.id")
        if doc.id in seen:
            raise InvalidInputError(
                f"Document id {doc.id!r} appears twice in this batch.",
                field=f"documents[{i}].id",
                fix="Give each document a unique id (or merge the duplicates).",
            )
        seen.add(doc.id)
        docs.append(doc)
    return docs


def validate_texts(texts: Any, limits: DocumentLimits = DEFAULT_LIMITS) -> list[str]:
    """Check a list of texts to embed without storing (classify, cluster) against the same limits."""
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise InvalidInputError(
            "texts must be a non-empty list of strings.", field="texts", fix='Send ["first text", "second text"].'
        )
    if len(texts) > limits.max_documents:
        raise InvalidInputError(
            f"{len(texts)} texts is more than the limit of {limits.max_documents} per call.",
            field="texts",
            fix=f"Split them into calls of at most {limits.max_documents}.",
        )
    total = 0
    for i, text in enumerate(texts):
        size = _check_text(text, f"texts[{i}]")
        total += size
        if size > limits.max_text_bytes or (limits.max_call_bytes is not None and total > limits.max_call_bytes):
            raise InvalidInputError(
                f"texts[{i}] takes the call past its size limits ({limits.max_text_bytes:,} bytes a text, "
                f"{limits.max_call_bytes or 0:,} a call).",
                field=f"texts[{i}]",
                fix="Send shorter texts, or fewer per call.",
            )
    return list(texts)


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
    doc_id = item.get("id")
    if (doc_id is None or doc_id == "") and isinstance(text, str) and _is_text(text):
        doc_id = Document.content_id(text)  # a bad text is reported by validate_documents, before the id
    elif isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    metadata = item.get("metadata") or {}
    return Document(id=doc_id, text=text, metadata=metadata, parent_id=item.get("parent_id"))


def _check_identifier(doc_id: Any, where: str) -> None:
    if not isinstance(doc_id, str) or not doc_id.strip() or len(doc_id) > MAX_ID_LENGTH or not _is_text(doc_id):
        raise InvalidInputError(
            f"{where} must be a string of valid text, not blank, of at most {MAX_ID_LENGTH} characters.",
            field=where,
            fix="Use a short string id, or omit it to derive one from the text.",
        )


def _is_text(value: str) -> bool:
    """False for strings holding lone surrogates ('\\ud800' from JSON), which no UTF-8 column can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(text: Any, where: str) -> int:
    """Validate one text; its size in UTF-8 bytes."""
    if not isinstance(text, str):
        raise InvalidInputError(f"{where} must be a string.", field=where, fix="Send the document's text as a string.")
    if not text.strip():
        raise InvalidInputError(
            f"{where} is empty or only whitespace.", field=where, fix="Remove empty texts; there is nothing to embed."
        )
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{where} holds a lone surrogate at character {exc.start} (an unpaired \\ud800-\\udfff escape), "
            "which is not text.",
            field=where,
            fix="Send valid Unicode text (decode the source with errors='replace' if it is damaged).",
        ) from exc


def _check_metadata(metadata: Any, where: str) -> int:
    """Validate one document's metadata; its size as JSON in bytes."""
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"{where} must be an object of key/value pairs, not {type(metadata).__name__}.",
            field=where,
            fix='Send metadata as {"key": value}.',
        )
    for key, value in metadata.items():
        path = f"{where}.{key}"
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
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
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT64:
                raise InvalidInputError(
                    f"{path} is an integer beyond the 64-bit range.", field=path, fix="Store it as a string."
                )
            if isinstance(v, str) and not _is_text(v):
                raise InvalidInputError(
                    f"{path} holds a lone surrogate (an unpaired \\ud800-\\udfff escape).",
                    field=path,
                    fix="Send valid Unicode text.",
                )
    size = len(metadata_json(metadata).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidInputError(
            f"{where} is {size:,} bytes as JSON; the limit is {MAX_METADATA_BYTES:,}.",
            field=where,
            fix="Keep metadata to short filterable fields; put long content in the text.",
        )
    return size


def metadata_json(metadata: Mapping[str, Any]) -> str:
    return json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":"))
