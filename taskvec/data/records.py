"""Reading files as records: JSON Lines, CSV, TSV and Parquet rows, and the non-blank lines of a text file.

Every record comes with where it was read (``file:line``), so any error about it can name the place to fix.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from taskvec.errors import DataError

RECORD_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv", ".parquet")
TEXT_ENCODING = "utf-8-sig"  # UTF-8, a byte-order mark at the start skipped (spreadsheet exports write one)
Row = tuple[str, dict[str, Any]]  # ("file:line", fields)


def source_name(path: Path) -> str:
    """``folder/file``: how a file is named in training records and model cards."""
    return f"{path.parent.name}/{path.name}"


def require_file(path: Path) -> None:
    """A missing file is a data error (naming the file), not an OSError from deep inside a reader."""
    if not path.is_file():
        raise DataError(
            f"{path} does not exist or is not a file.",
            field=str(path),
            fix="Check the path, or point at the folder that holds the data set's files.",
        )


def read_records(path: Path, *, quoting: bool = True) -> Iterator[Row]:
    """The records of a .jsonl/.ndjson, .csv, .tsv or .parquet file, each with where it came from.

    CSV and TSV use standard CSV quoting, as pandas and Hugging Face datasets read them: the Amazon counterfactual
    TSVs quote the sentences that contain quotes, and MTEB's copy holds the unquoted text. ``quoting=False`` keeps
    quote characters as text instead: how training and the adapter checks have always read those TSVs (4% of the
    Amazon sentences differ), kept so that the shipped adapters' recorded commands still reproduce them.
    """
    require_file(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        yield from _jsonl(path)
    elif suffix in (".csv", ".tsv"):
        csv.field_size_limit(sys.maxsize)  # whole documents sit in one field
        with path.open(encoding=TEXT_ENCODING, newline="") as f, _utf8_only(path):
            reader = csv.DictReader(
                f, delimiter="\t" if suffix == ".tsv" else ",", quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE
            )
            for record in reader:
                yield f"{path}:{reader.line_num}", record
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        number = 0
        for batch in pq.ParquetFile(path).iter_batches():
            for record in batch.to_pylist():
                number += 1
                yield f"{path}:row {number}", record
    else:
        raise DataError(
            f"{path} is not a records file.", field=str(path), fix=f"Use one of: {', '.join(RECORD_SUFFIXES)}."
        )


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its line end) for every non-blank line of a UTF-8 text file."""
    require_file(path)
    with path.open(encoding=TEXT_ENCODING) as f, _utf8_only(path):
        for number, line in enumerate(f, 1):
            if line.strip():
                yield number, line.rstrip("\r\n")


@contextlib.contextmanager
def _utf8_only(path: Path) -> Iterator[None]:
    """A file that is not UTF-8 refused as data, naming the line, instead of a UnicodeDecodeError's traceback."""
    try:
        yield
    except UnicodeDecodeError:
        number, byte = _first_undecodable(path)
        raise DataError(
            f"{path} is not UTF-8 text: byte {byte:#04x} on line {number} does not decode.",
            field=str(path),
            fix=f"Save the file as UTF-8 (from Latin-1, say: iconv -f latin1 -t utf-8 {path} > utf8-copy).",
        ) from None


def _first_undecodable(path: Path) -> tuple[int, int]:
    """(line number, byte) of the first byte that is not UTF-8 (a reader decodes blocks, not lines)."""
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, line[exc.start]
    return 0, 0


def _jsonl(path: Path) -> Iterator[Row]:
    for number, line in read_lines(path):
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{where} is not valid JSON ({exc.msg}).",
                field=str(path),
                fix="Write one JSON object per line (fix or remove that line).",
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{where} holds a {type(record).__name__}, not a JSON object.",
                field=str(path),
                fix="Write one JSON object per line.",
            )
        yield where, record
