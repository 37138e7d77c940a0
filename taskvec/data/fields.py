"""The fields of a record: column-name aliases, and checked access that names the file, line, field and fix.

MTEB's and Hugging Face's exports name the same field differently; every alias below is accepted wherever the
field is read, and the first name of each tuple is the one errors mention.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from taskvec.data.records import Row
from taskvec.errors import DataError

TEXT_KEYS = ("text", "sentence", "sentence1")
TEXT1_KEYS = ("text1", "sentence1", "sentence_A")
TEXT2_KEYS = ("text2", "sentence2", "sentence_B")
# A labelled text's label: the Amazon counterfactual TSVs say "is_counterfactual"; topic sets "category" or "class".
LABEL_KEYS = ("label", "is_counterfactual", "category", "class")
# A similarity set's gold score: MTEB's STS sets say "score", GLUE's STS-B "label", stsb_multi_mt "similarity_score",
# SICK "relatedness_score". Spearman ignores the scale, so 0-1 and 0-5 scores both work.
SCORE_KEYS = ("score", "similarity_score", "relatedness_score", "label")
# A text pair's 0/1 label; MTEB's pair-classification records hold a list of them under "labels".
PAIR_LABEL_KEYS = ("label", "labels")


def pick_key(row: Row, keys: tuple[str, ...]) -> str:
    """The first of ``keys`` the record has (a header in other case counts), else the first of ``keys``, so that
    the error names the documented field."""
    record = row[1]
    for key in keys:
        if key in record:
            return key
    lowered = {str(k).strip().lower(): k for k in record}
    return next((lowered[k.lower()] for k in keys if k.lower() in lowered), keys[0])


def expected(keys: tuple[str, ...]) -> str:
    """``'text' (or 'sentence')``: a field and its aliases, for error messages."""
    return repr(keys[0]) + "".join(f" (or {k!r})" for k in keys[1:])


def value(row: Row, key: str, wanted: str) -> Any:
    """The field ``key`` of a record; a missing or null field is an error saying what each record needs."""
    where, record = row
    if key not in record or record[key] is None:
        missing = "a null" if key in record else "no"
        raise DataError(
            f"{where} has {missing} {key!r} field (found: {', '.join(map(str, record)) or 'nothing'}).",
            field=key,
            fix=f"Each record needs {wanted}.",
        )
    return record[key]


def text(row: Row, key: str, wanted: str) -> str:
    found = value(row, key, wanted)
    if not isinstance(found, str) or not found.strip():
        raise DataError(
            f"{row[0]}: field {key!r} must be a non-empty string, got {found!r}.",
            field=key,
            fix="Remove the record or give it text.",
        )
    return found


def number(row: Row, key: str, wanted: str) -> float:
    """A finite number (as a number or as text: CSV cells are text); true/false, NaN and infinities are not."""
    found = value(row, key, wanted)
    try:
        result = float(found) if not isinstance(found, bool) else math.nan
    except (TypeError, ValueError):
        result = math.nan
    if not math.isfinite(result):
        raise DataError(
            f"{row[0]}: field {key!r} must be a finite number, got {found!r}.",
            field=key,
            fix=f"Each record needs {wanted}.",
        )
    return result


def binary(row: Row, key: str, wanted: str) -> float:
    found = number(row, key, wanted)
    if found not in (0.0, 1.0):
        raise DataError(
            f"{row[0]}: field {key!r} must be 0 or 1, got {found!r}.", field=key, fix="Label pairs 1 (match) or 0."
        )
    return found


def label(row: Row, key: str, wanted: str) -> str:
    """A label as text, whether the file stores it as text or as a whole number (``1`` and ``"1"`` are one label).
    A list, object, boolean, fraction or blank is no label: one text has one class here."""
    found = value(row, key, wanted)
    name = str(found).strip() if isinstance(found, str | int) and not isinstance(found, bool) else ""
    if not name:
        raise DataError(
            f"{row[0]}: field {key!r} must be one label (text or a whole number), got {found!r}.",
            field=key,
            fix=f"Each record needs {wanted}; for a text with several labels, one record per label.",
        )
    return name


def list_items(row: Row, keys: tuple[str, ...], wanted: str) -> Iterator[Row]:
    """The record itself, or, where its fields hold lists (MTEB's layouts: one record of parallel lists), one
    record per position."""
    where, record = row
    if not isinstance(record.get(keys[0]), list):
        yield row
        return
    columns = [record.get(k) for k in keys]
    if not all(isinstance(c, list) and len(c) == len(columns[0]) for c in columns):
        raise DataError(
            f"{where}: {', '.join(map(repr, keys))} must all be lists of the same length, or all single values.",
            field=keys[0],
            fix=f"Each record needs {wanted}.",
        )
    for i, values in enumerate(zip(*columns, strict=True)):
        yield f"{where} item {i}", dict(zip(keys, values, strict=True))
