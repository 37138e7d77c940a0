"""Read documents from files and folders into ``{"id", "text", "metadata"}`` dicts.

Records (JSONL, CSV/TSV, Parquet, read by :mod:`taskvec.data.records`) give one document per row: the text column
(default ``text``, with a ``title`` column prepended when present, as BEIR does), the id column (``id`` or ``_id``),
and every other scalar column as metadata. Plain text and Markdown files are one document each, with the path as id.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from taskvec.data.records import RECORD_SUFFIXES, read_records
from taskvec.errors import InvalidInputError

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst")
SUPPORTED_SUFFIXES = RECORD_SUFFIXES + TEXT_SUFFIXES
_ID_FIELDS = ("id", "_id")


def read_documents(paths: Sequence[Path], *, text_field: str = "text") -> Iterator[dict[str, Any]]:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
            for file in files:
                yield from _read_file(file, text_field, root=path)
        elif path.is_file():
            yield from _read_file(path, text_field, root=path.parent)
        else:
            raise InvalidInputError(f"{str(path)!r} does not exist.", field="paths", fix="Check the path.")


def _read_file(path: Path, text_field: str, root: Path) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        text = path.read_text(encoding="utf-8", errors="replace")
        if text.strip():
            meta: dict[str, Any] = {"source": str(path)}
            title = _markdown_title(text) if suffix in (".md", ".markdown") else None
            if title:
                meta["title"] = title
            yield {"id": str(path.relative_to(root)) if path != root else path.name, "text": text, "metadata": meta}
        return
    if suffix not in RECORD_SUFFIXES:
        raise InvalidInputError(
            f"{str(path)!r} has an unsupported type {suffix!r}.",
            field="paths",
            fix=f"Use one of: {', '.join(SUPPORTED_SUFFIXES)}.",
        )
    for where, record in read_records(path):
        yield _document_from_record(record, text_field, where, path)


def _document_from_record(record: dict[str, Any], text_field: str, where: str, path: Path) -> dict[str, Any]:
    if text_field not in record:
        raise InvalidInputError(
            f"{where} has no {text_field!r} field (fields: {', '.join(map(str, record))}).",
            field="text_field",
            fix="Pass --text-field with the name of the column that holds the text.",
        )
    text = str(record[text_field] or "")
    title = record.get("title")
    if title and text_field != "title":
        text = f"{title} {text}"
    doc_id = next((str(record[f]) for f in _ID_FIELDS if record.get(f) not in (None, "")), None)
    skip = {text_field, "title", *_ID_FIELDS}
    metadata = {k: v for k, v in record.items() if k not in skip and _is_metadata(v)}
    metadata.setdefault("source", str(path))
    if title:
        metadata["title"] = str(title)
    return {"id": doc_id, "text": text, "metadata": metadata}


def _is_metadata(value: Any) -> bool:
    """A field kept as metadata: a non-empty scalar, or a list of scalars (a filter's equality matches its items);
    objects and nested lists are left out, as the store's metadata cannot filter on them."""
    if isinstance(value, list):
        return bool(value) and all(_is_scalar(item) for item in value)
    return _is_scalar(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value != ""


def _markdown_title(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None
