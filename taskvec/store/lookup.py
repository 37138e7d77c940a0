"""Reading documents back without a query: by id (with their chunks), or a page of them (a peek).

A collection holds one row per document per embedding space; these reads merge a document's rows into one
``StoredDocument`` that lists the tasks it has vectors in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from taskvec.errors import InvalidInputError
from taskvec.store.documents import CHUNK_ID
from taskvec.store.filters import METADATA_COLUMN
from taskvec.store.writer import quote

MAX_IDS = 1024  # ids one read may name
MAX_PAGE = 1000  # documents one read may return
PEEK_SIZE = 10  # documents a read with no ids returns unless told otherwise
_COLUMNS = ["id", "text", METADATA_COLUMN, "parent_id", "task"]


@dataclass
class StoredDocument:
    id: str
    text: str
    metadata: dict[str, Any]
    parent_id: str | None
    tasks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    documents: list[StoredDocument]
    missing: list[str]  # ids asked for that match no document or chunk
    next_offset: int | None  # where the next page starts; None when this one is the last


def ids_clause(ids: Sequence[str]) -> str:
    """The rows of these documents and of their chunks, in every space."""
    if isinstance(ids, str) or not all(isinstance(i, str) for i in ids):
        raise InvalidInputError("ids must be a list of strings.", field="ids", fix='Send ["id1", "id2"].')
    quoted = ", ".join(map(quote, ids))
    return f"(id IN ({quoted}) OR parent_id IN ({quoted}))"


def check_page(ids: Sequence[str] | None, limit: int | None, offset: int) -> None:
    if ids is not None:
        ids_clause(ids)
        if not 1 <= len(ids) <= MAX_IDS:
            raise InvalidInputError(
                f"ids holds {len(ids)} ids; one read takes 1 to {MAX_IDS}.",
                field="ids",
                fix=f"Send between 1 and {MAX_IDS} ids per call, or leave ids out to page through the collection.",
            )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE):
        raise InvalidInputError(
            f"limit must be an integer in 1..{MAX_PAGE}, got {limit!r}.", field="limit", fix="Ask for fewer documents."
        )
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(
            f"offset must be a whole number >= 0, got {offset!r}.",
            field="offset",
            fix="Pass 0, or the next_offset of the page before.",
        )


def read_page(
    table: Any,
    *,
    ids: Sequence[str] | None,
    predicate: str | None,
    limit: int | None,
    offset: int,
    spaces: int,
) -> Page:
    """Documents by ``ids`` (each with its chunks, in the order asked), or a page of every document in scan order.

    A page reads at most ``(offset + limit) * spaces`` rows: each document has at most one row per space, so that
    many rows hold at least ``offset + limit`` documents when the collection has them.
    """
    clauses = [f"({predicate})"] if predicate else []
    if ids is not None:
        clauses.append(ids_clause(ids))
        docs = _merge(_scan(table, " AND ".join(clauses), None))
        order = {doc_id: i for i, doc_id in reversed(list(enumerate(ids)))}
        docs.sort(key=lambda d: (order.get(d.parent_id or d.id, len(order)), _chunk_number(d.id), d.id))
        found = {d.id for d in docs} | {d.parent_id for d in docs if d.parent_id}
        missing = [i for i in dict.fromkeys(ids) if i not in found]
        end = len(docs) if limit is None else offset + limit
        return Page(docs[offset:end], missing, end if end < len(docs) else None)
    size = PEEK_SIZE if limit is None else limit
    rows_held = table.count_rows()
    if offset >= rows_held:  # past the last document (each has a row at least): an empty last page, no scan
        return Page([], [], None)
    budget = (offset + size) * max(spaces, 1)
    rows = _scan(table, " AND ".join(clauses) or None, budget)
    docs = _merge(rows)[offset : offset + size]
    if docs:  # the page's documents may have rows of other spaces past the rows read: list every task
        every = _scan(table, f"id IN ({', '.join(quote(d.id) for d in docs)})", None)
        tasks = {d.id: d.tasks for d in _merge(every)}
        for doc in docs:
            doc.tasks = tasks.get(doc.id, doc.tasks)
    more = len(rows) >= budget and len(docs) == size
    return Page(docs, [], offset + size if more else None)


def _scan(table: Any, condition: str | None, limit: int | None) -> list[dict[str, Any]]:
    query = table.search().select(_COLUMNS)
    if condition:
        query = query.where(condition)
    return query.limit(limit if limit is not None else max(table.count_rows(), 1)).to_list()


def _merge(rows: list[dict[str, Any]]) -> list[StoredDocument]:
    """One document per id, in the order first seen, with the tasks of all its rows."""
    docs: dict[str, StoredDocument] = {}
    for row in rows:
        doc = docs.get(row["id"])
        if doc is None:
            meta = row.get(METADATA_COLUMN)
            if isinstance(meta, bytes | str):
                meta = json.loads(meta) if meta else {}
            doc = docs[row["id"]] = StoredDocument(row["id"], row["text"], meta or {}, row.get("parent_id"))
        if row["task"] not in doc.tasks:
            doc.tasks.append(row["task"])
    for doc in docs.values():
        doc.tasks.sort()
    return list(docs.values())


def _chunk_number(doc_id: str) -> int:
    match = CHUNK_ID.search(doc_id)
    return int(match.group(1)) if match else -1
