"""Split long documents into overlapping token windows, cutting the text at token boundaries.

A chunk keeps its parent's id in ``parent_id``, gets the id ``<parent>#<n>`` and the metadata key ``chunk`` = n;
documents that fit are untouched. A store keeps one row per id, so a chunk id that is also another document's id would
lose one of them: the call is refused instead (here within a call, taskvec.store.writer against stored rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from taskvec.errors import InvalidInputError
from taskvec.store.documents import CHUNK_KEY, Document

CHUNKING_OFF = "chunking off (chunking.enabled=false; its text is then cut at the model's limit)"


def chunk_documents(
    documents: Sequence[Document], tokenizer: Any, max_tokens: int, overlap: int, *, first: int = 0
) -> tuple[list[Document], int, int]:
    """Return (documents and chunks, documents that were chunked, chunks made). ``first``: the call's index of
    ``documents[0]``, for errors."""
    out: list[Document] = []
    chunked = made = 0
    encodings = tokenizer([d.text for d in documents], add_special_tokens=False, return_offsets_mapping=True)
    step = max(1, max_tokens - overlap)
    for i, (doc, offsets) in enumerate(zip(documents, encodings["offset_mapping"], strict=True), start=first):
        if len(offsets) <= max_tokens:
            out.append(doc)
            continue
        if CHUNK_KEY in doc.metadata:
            raise InvalidInputError(
                f"documents[{i}] is long enough to be split into chunks ({len(offsets)} tokens, {max_tokens} a chunk), "
                f"and its metadata already has the key {CHUNK_KEY!r}, where taskvec numbers each chunk. Nothing "
                "was written.",
                field=f"documents[{i}].metadata.{CHUNK_KEY}",
                fix=f"Rename that metadata key (e.g. 'part'), or index documents[{i}] with {CHUNKING_OFF}.",
            )
        chunked += 1
        starts = range(0, max(1, len(offsets) - overlap), step)
        for n, start in enumerate(starts):
            window = offsets[start : start + max_tokens]
            text = doc.text[window[0][0] : window[-1][1]]
            if not text.strip():
                continue
            meta = {**doc.metadata, CHUNK_KEY: n}
            out.append(replace(doc, id=f"{doc.id}#{n}", text=text, metadata=meta, parent_id=doc.id))
            made += 1
    return out, chunked, made


def check_chunk_ids(documents: Sequence[Document], rows: Sequence[Document]) -> None:
    """Refuse a call in which a chunk's id (``<parent>#<n>``) is the id of another of its documents: both rows
    would be written under one id."""
    position = {doc.id: i for i, doc in enumerate(documents)}
    for row in rows:
        if row.parent_id is not None and row.id in position:
            i, parent = position[row.id], position[row.parent_id]
            raise InvalidInputError(
                f"documents[{i}].id {row.id!r} is also the id of a chunk of documents[{parent}] ({row.parent_id!r}), "
                "which is long enough to be split into chunks (a chunk's id is <id>#<number>); both would be "
                "written under one id. Nothing was written.",
                field=f"documents[{i}].id",
                fix=f"Give documents[{i}] another id, or index documents[{parent}] with {CHUNKING_OFF}.",
            )
