"""Writing a collection: every call is one LanceDB commit, so a crash leaves the old table or the new one.

An upsert is a single ``merge_insert`` on the row key (``<space_id>:<id>``) that also deletes, in the same commit,
every other row of the same documents in the same space and in stale versions of it: chunks a re-chunked document
no longer has, and vectors made with older weights. A first write creates the table with its rows and the space's
description in one commit. Nothing is ever undone by restoring an older version, since that would erase what other
writers committed meanwhile; a failed call simply never commits. Callers hold the collection's write lock
(``taskvec.store.locks``) around these functions.

Maintenance (compaction, old versions, index refresh) runs under the same lock once a collection has gathered
enough small fragments, and on demand (``taskvec optimize``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from taskvec.errors import InvalidInputError, SpaceMismatchError, StoreBusyError
from taskvec.spaces import EmbeddingSpace
from taskvec.store.documents import CHUNK_ID, Document, metadata_json
from taskvec.store.filters import METADATA_COLUMN

log = logging.getLogger(__name__)

SPACES_KEY = b"taskvec.spaces"
# A random id per created table, in the schema's metadata: it tells a re-created collection from the one dropped
# under its name, which can have the same version number and, on a local disk, reuse the freed folder's inode.
TABLE_ID_KEY = b"taskvec.table_id"
VERSION_RETENTION = timedelta(hours=1)  # old versions a reader may still be on; older ones are cleaned up
OPTIMIZE_AT_FRAGMENTS = 32  # compact a collection once it has this many small fragments
CONFLICT_ATTEMPTS = 5  # commits tried before a write gives up (LanceDB retries inside each attempt too)
# Lance file format of new collections. 2.2 (LanceDB 0.40's default) reads a few rows of a column that holds one
# value throughout (task, space_id, an empty metadata) 7-10x slower than 2.1, 2.7-5.4 ms for 10 rows of a million
# against 0.3-0.8, and the rest alike (docs/results/file_format.md): that was a large part of a search through the
# vector index (docs/scaling.md). A collection keeps the format it was created in; both read and write alike.
FILE_FORMAT = "2.1"
_T = TypeVar("_T")


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    updated: int
    removed: int = 0  # older rows of the written documents dropped in the same commit (old chunks, stale vectors)


def table_schema(
    dimension: int, spaces: dict[str, EmbeddingSpace] | None = None, table_id: str | None = None
) -> pa.Schema:
    """The collection's columns; ``spaces`` describes each space in the vector column's metadata, and ``table_id``
    (a new collection's) goes in the schema's."""
    metadata = {SPACES_KEY: _spaces_payload(spaces)} if spaces else None
    return pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("id", pa.string(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field(METADATA_COLUMN, pa.json_()),
            pa.field("parent_id", pa.string()),
            pa.field("task", pa.string(), nullable=False),
            pa.field("space_id", pa.string(), nullable=False),
            pa.field("written_at", pa.timestamp("us", tz="UTC")),
            pa.field("vector", pa.list_(pa.float32(), dimension), metadata=metadata),
        ],
        metadata={TABLE_ID_KEY: table_id.encode()} if table_id else None,
    )


def table_id(table: Any) -> str | None:
    """The id the collection was created with (None for one created before ids were written)."""
    raw = (table.schema.metadata or {}).get(TABLE_ID_KEY)
    return raw.decode() if raw else None


def described_spaces(table: Any) -> dict[str, EmbeddingSpace]:
    raw = (table.schema.field("vector").metadata or {}).get(SPACES_KEY)
    if not raw:
        return {}
    return {sid: EmbeddingSpace.from_dict(d) for sid, d in json.loads(raw).items()}


def dimension_of(schema: pa.Schema) -> int:
    return schema.field("vector").type.list_size


def rows_table(documents: Sequence[Document], vectors: np.ndarray, space: EmbeddingSpace) -> pa.Table:
    now = datetime.now(UTC)
    n = len(documents)
    columns = {
        "key": [f"{space.id}:{d.id}" for d in documents],
        "id": [d.id for d in documents],
        "text": [d.text for d in documents],
        METADATA_COLUMN: pa.array([metadata_json(d.metadata) for d in documents], type=pa.json_()),
        "parent_id": [d.parent_id for d in documents],
        "task": [space.task] * n,
        "space_id": [space.id] * n,
        "written_at": pa.array([now] * n, type=pa.timestamp("us", tz="UTC")),
        "vector": pa.FixedSizeListArray.from_arrays(
            pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel()), space.dimension
        ),
    }
    return pa.table(columns, schema=table_schema(space.dimension))


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def space_clause(space_id: str) -> str:
    """The predicate selecting one embedding space's rows."""
    return f"space_id = {quote(space_id)}"


# ------------------------------------------------------------------------------------------------- upsert
def create_with(db: Any, name: str, batch: pa.Table, space: EmbeddingSpace) -> WriteResult:
    """A new collection with its first rows and its space description: one commit."""
    schema = table_schema(space.dimension, {space.id: space}, table_id=uuid.uuid4().hex)
    options = {"new_table_data_storage_version": FILE_FORMAT}  # merged into the connection's storage options
    table = db.create_table(name, data=batch.cast(schema), schema=schema, storage_options=options)
    ensure_text_index(table)
    return WriteResult(inserted=batch.num_rows, updated=0)


def upsert_into(table: Any, batch: pa.Table, space: EmbeddingSpace, documents: Sequence[str]) -> WriteResult:
    """Insert or replace the rows of ``documents`` (source ids) in ``space``, in one commit."""
    dim = dimension_of(table.schema)
    if dim != space.dimension:
        if space.blend is not None or dim == 2 * space.dimension:  # taskvec.engine.blend: twice the model's width
            raise SpaceMismatchError(
                f"Collection {table.name!r} stores {dim}-dimensional vectors; task {space.task!r} makes "
                f"{space.dimension}: one of them is a blended task (the bare model's vector and the adapter's side "
                "by side), which cannot share a collection with unblended tasks. Nothing was written.",
                field="collection",
                fix=f"Index task {space.task!r} into a collection of its own, or run the blended task unblended "
                'with a tasks file ([tasks.NAME] blend = "").',
            )
        raise SpaceMismatchError(
            f"Collection {table.name!r} stores {dim}-dimensional vectors; this space makes {space.dimension}.",
            field="collection",
            fix="Index into a new collection for this model, or delete the old collection first.",
        )
    refuse_chunk_id_clashes(table, batch, space)
    spaces = _describe(table, space)
    replaced = [space.id, *(sid for sid, s in spaces.items() if space.is_stale_version_of(s))]
    # Old rows of these documents that the new rows do not overwrite by key: leftover chunks and stale vectors.
    superseded = (
        f"space_id IN ({', '.join(map(quote, replaced))}) "
        f"AND coalesce(parent_id, id) IN ({', '.join(map(quote, documents))})"
    )

    def merge() -> Any:
        return (
            table.merge_insert("key")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(superseded)
            .execute(batch)
        )

    result = retry_conflicts(merge, table.name)
    ensure_text_index(table)
    return WriteResult(
        inserted=int(result.num_inserted_rows),
        updated=int(result.num_updated_rows),
        removed=int(result.num_deleted_rows),
    )


def refuse_chunk_id_clashes(table: Any, batch: pa.Table, space: EmbeddingSpace) -> None:
    """Refuse rows that would replace, by key, a stored row of the other kind: a chunk (``<parent>#<n>``) over a
    document stored under that id on its own, or a document over a chunk of another stored document. Each would
    silently lose the stored one. (A chunk over a chunk of the same document, or a document over itself, is an update.)
    """
    ids, parents = batch.column("id").to_pylist(), batch.column("parent_id").to_pylist()
    chunks = [i for i, p in zip(ids, parents, strict=True) if p is not None]
    plain = [i for i, p in zip(ids, parents, strict=True) if p is None and CHUNK_ID.search(i)]
    if not chunks and not plain:
        return
    sources = sorted({p or i for i, p in zip(ids, parents, strict=True)})  # their old chunks go in this write
    clauses = [f"(parent_id IS NULL AND id IN ({', '.join(map(quote, chunks))}))"] if chunks else []
    if plain:
        clauses.append(
            f"(parent_id IS NOT NULL AND id IN ({', '.join(map(quote, plain))}) "
            f"AND parent_id NOT IN ({', '.join(map(quote, sources))}))"
        )
    where = f"{space_clause(space.id)} AND ({' OR '.join(clauses)})"
    clash = table.search().where(where).select(["id", "parent_id"]).limit(1).to_list()
    if not clash:
        return
    stored_id, stored_parent = clash[0]["id"], clash[0]["parent_id"]
    where_stored = f"in collection {table.name!r} (task {space.task!r})"
    if stored_parent is None:
        parent = parents[ids.index(stored_id)]
        raise InvalidInputError(
            f"Document {parent!r} is long enough to be split into chunks, and its chunk would take the id "
            f"{stored_id!r}, which a document stored on its own has {where_stored}: one would replace the other. "
            "Nothing was written.",
            field="documents.id",
            fix=f"Index {parent!r} under another id, or with chunking off (chunking.enabled=false; its text is then "
            f"cut at the model's limit), or delete the stored {stored_id!r} first if it should go.",
        )
    raise InvalidInputError(
        f"Document id {stored_id!r} is the id of a chunk of the stored document {stored_parent!r} {where_stored} "
        "(a chunk's id is <id>#<number>): writing it would replace that chunk. Nothing was written.",
        field="documents.id",
        fix=f"Give the document another id, or delete {stored_parent!r} first if it should go.",
    )


def _describe(table: Any, space: EmbeddingSpace) -> dict[str, EmbeddingSpace]:
    """The collection's spaces, ``space`` added to its description first if new (a metadata-only commit).

    Described before its rows are written: a crash in between leaves a described space with no rows, which every
    reader ignores, never rows that no description explains.
    """
    spaces = described_spaces(table)
    if space.id not in spaces:
        spaces[space.id] = space
        # Through LanceDB's table API (not the lance dataset) so remote URIs (db://) work the same.
        retry_conflicts(
            lambda: table.update_field_metadata(
                {"path": "vector", "metadata": {SPACES_KEY.decode(): _spaces_payload(spaces).decode()}}
            ),
            table.name,
        )
    return spaces


def _spaces_payload(spaces: dict[str, EmbeddingSpace]) -> bytes:
    return json.dumps({sid: s.to_dict() for sid, s in spaces.items()}).encode()


# ------------------------------------------------------------------------------------------------- delete
def delete_where(table: Any, where: str) -> int:
    """Delete the rows matching ``where`` in one commit; the number deleted."""
    result = retry_conflicts(lambda: table.delete(where), table.name)
    return int(getattr(result, "num_deleted_rows", 0) or 0)


# -------------------------------------------------------------------------------------------- maintenance
def ensure_text_index(table: Any) -> None:
    """The full-text index hybrid search needs, built at write time so that searches never write.

    Rows added after it are still found (LanceDB scans unindexed rows); ``optimize`` folds them into the index.
    """
    if any(index.index_type == "FTS" for index in table.list_indices()):
        return
    from lancedb.index import FTS

    retry_conflicts(lambda: table.create_index("text", config=FTS()), table.name)


def optimize(table: Any, *, delete_unverified: bool) -> dict[str, Any]:
    """Compact small fragments, fold new rows into the indexes, and drop versions older than the retention.

    With ``delete_unverified``, files that no version references (left by a crashed write) are deleted too, however
    young: only for a caller that holds the collection's write lock and its build lock (``taskvec.store.locks``), so
    that no taskvec write or index build of it has files not yet committed. Without it LanceDB keeps such files
    until they are a week old.
    """
    before = table.stats()
    versions_before = len(table.list_versions())
    ensure_text_index(table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        retry_conflicts(
            lambda: table.optimize(cleanup_older_than=VERSION_RETENTION, delete_unverified=delete_unverified),
            table.name,
        )
    after = table.stats()
    return {
        "fragments_before": before["fragment_stats"]["num_fragments"],
        "fragments_after": after["fragment_stats"]["num_fragments"],
        "versions_before": versions_before,
        "versions_after": len(table.list_versions()),
        "rows": after["num_rows"],
    }


def needs_optimize(table: Any) -> bool:
    return table.stats()["fragment_stats"]["num_small_fragments"] >= OPTIMIZE_AT_FRAGMENTS


def retry_conflicts(operation: Callable[[], _T], name: str) -> _T:
    """Run a commit, retrying (with backoff) when another writer's commit conflicts with it."""
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            return operation()
        except (RuntimeError, OSError, ValueError) as exc:
            if "conflict" not in str(exc).lower():
                raise
            log.info("commit conflict on %r (attempt %d): %s", name, attempt + 1, exc)
            time.sleep(0.05 * 2**attempt)
    raise StoreBusyError(
        f"Collection {name!r} kept changing under this write ({CONFLICT_ATTEMPTS} conflicting commits).",
        field="collection",
        fix="Retry in a moment; nothing of this call was written.",
    )
