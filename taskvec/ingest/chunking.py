"""Split long documents into overlapping token windows, cutting the text at token boundaries.

A chunk keeps its parent's id in ``parent_id`` and gets the id ``<parent>#<n>``; documents that fit are untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from taskvec.store.documents import Document


def chunk_documents(
    documents: Sequence[Document], tokenizer: Any, max_tokens: int, overlap: int
) -> tuple[list[Document], int, int]:
    """Return (documents and chunks, documents that were chunked, chunks made)."""
    out: list[Document] = []
    chunked = made = 0
    encodings = tokenizer([d.text for d in documents], add_special_tokens=False, return_offsets_mapping=True)
    step = max(1, max_tokens - overlap)
    for doc, offsets in zip(documents, encodings["offset_mapping"], strict=True):
        if len(offsets) <= max_tokens:
            out.append(doc)
            continue
        chunked += 1
        starts = range(0, max(1, len(offsets) - overlap), step)
        for n, start in enumerate(starts):
            window = offsets[start : start + max_tokens]
            text = doc.text[window[0][0] : window[-1][1]]
            if not text.strip():
                continue
            meta = {**doc.metadata, "chunk": n}
            out.append(replace(doc, id=f"{doc.id}#{n}", text=text, metadata=meta, parent_id=doc.id))
            made += 1
    return out, chunked, made
