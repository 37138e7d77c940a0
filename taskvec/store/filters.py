"""Metadata filters: a small JSON language compiled to a LanceDB (DataFusion SQL) predicate.

Agents write JSON far more reliably than SQL, and a structured filter cannot escape into other columns (such as
``space_id``, which the guard relies on). The language::

    {"lang": "en"}                                  equality; several keys in one object are ANDed
    {"year": {"$gte": 2020, "$lt": 2025}}           $eq $ne $gt $gte $lt $lte
    {"tag": {"$in": ["a", "b"]}}                    $in $nin (values of one type)
    {"draft": {"$exists": false}}                   key present or not
    {"$or": [{...}, {...}]}, {"$and": [...]}, {"$not": {...}}

Typing: a condition matches only values of its operand's type. ``{"year": {"$gte": 2020}}`` skips a row whose
``year`` is ``"n/a"`` instead of failing the whole query: values are read as JSON text (``json_extract``, which never
fails) and compared as numbers through ``TRY_CAST``, as strings by their JSON text, as booleans by ``true``/``false``.
LanceDB's typed getters (``json_get_int`` ...) raise on the first row of another type, which made one odd row break
every numeric filter of a collection. An equality or ``$in`` on a string, number or boolean also matches a stored
list that contains the value (MongoDB's rule), and ``$ne``/``$nin``/``$not`` keep rows that lack the key.

Every compiled condition is two-valued (``(...) IS TRUE``), so ``$not`` never meets SQL's NULL.

Limits: a filter is bounded in size, depth, list length, string length and number range (constants below), and
each refusal names the limit. Unbounded filters let one request hold a collection's write lock for minutes.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from taskvec.errors import InvalidInputError

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,127}")
METADATA_COLUMN = "metadata"

MAX_FILTER_CHARS = 65_536  # the filter as JSON text
MAX_FILTER_DEPTH = 16  # objects and lists inside one another, the filter itself counted as 1
MAX_FILTER_CONDITIONS = 256  # values compared in one filter, in all: list items of $in/$nin included
MAX_STRING_CHARS = 4096  # one string operand
MAX_SAFE_INTEGER = 2**53  # numbers compare as doubles: exact up to here, as in JSON and JavaScript

_COMPARISONS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_OPERATORS = sorted([*_COMPARISONS, "$in", "$nin", "$exists"])

FILTER_HELP = (
    'Write the filter as JSON over metadata keys, e.g. {"lang": "en"}, {"year": {"$gte": 2020}}, '
    '{"tag": {"$in": ["a", "b"]}}, {"$or": [{...}, {...}]}. Operators: ' + ", ".join(_OPERATORS) + ", $and, $or, $not."
)


def parse_filter(raw: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """Accept a dict or its JSON text; ``None`` or an empty object mean no filter."""
    if raw is None or raw == "" or raw == {}:
        return None
    if isinstance(raw, str):
        if len(raw) > MAX_FILTER_CHARS:
            raise _too_big(f"The filter is {len(raw)} characters long; the limit is {MAX_FILTER_CHARS}.", "filter")
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InvalidInputError(f"The filter is not valid JSON ({exc}).", field="filter", fix=FILTER_HELP) from exc
    if not isinstance(raw, dict):
        raise InvalidInputError("The filter must be a JSON object.", field="filter", fix=FILTER_HELP)
    return raw


def compile_filter(raw: str | dict[str, Any] | None) -> str | None:
    """The SQL predicate for a filter, or None for no filter. Raises InvalidInputError naming the bad part."""
    parsed = parse_filter(raw)
    if parsed is None:
        return None
    _check_size(parsed)
    return _compile_object(parsed, "filter")


# ------------------------------------------------------------------------------------------------ limits
def _check_size(parsed: dict[str, Any]) -> None:
    """Refuse an oversized filter before compiling it: walk it once, iteratively (no recursion to overflow)."""
    conditions = 0
    stack: list[tuple[Any, str, int]] = [(parsed, "filter", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list) and depth > MAX_FILTER_DEPTH:
            raise _too_big(f"{path} is nested {depth} levels deep; the limit is {MAX_FILTER_DEPTH}.", path)
        if isinstance(node, dict):
            stack.extend((v, f"{path}.{k}", depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            if len(node) > MAX_FILTER_CONDITIONS:  # named here, before its items are counted
                raise _too_big(
                    f"{path} has {len(node)} items; a filter holds at most {MAX_FILTER_CONDITIONS} values in all.", path
                )
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node))
        else:
            conditions += 1
            if conditions > MAX_FILTER_CONDITIONS:
                raise _too_big(f"The filter has more than {MAX_FILTER_CONDITIONS} values.", "filter")


def _too_big(message: str, path: str) -> InvalidInputError:
    return InvalidInputError(
        message, field=path, fix="Simplify the filter (fewer or shallower conditions), or split the request."
    )


# ---------------------------------------------------------------------------------------------- compiling
def _compile_object(obj: Any, where: str) -> str:
    if not isinstance(obj, dict) or not obj:
        raise InvalidInputError(f"{where} must be a non-empty JSON object.", field=where, fix=FILTER_HELP)
    parts = []
    for key, value in obj.items():
        path = f"{where}.{key}"
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise InvalidInputError(f"{path} must be a non-empty list of filters.", field=path, fix=FILTER_HELP)
            joiner = " AND " if key == "$and" else " OR "
            parts.append("(" + joiner.join(_compile_object(v, f"{path}[{i}]") for i, v in enumerate(value)) + ")")
        elif key == "$not":
            parts.append(f"(NOT {_compile_object(value, path)})")
        elif key.startswith("$"):
            raise InvalidInputError(f"{path}: unknown operator {key!r} at this level.", field=path, fix=FILTER_HELP)
        else:
            _check_key(key, path)
            parts.append(_compile_condition(key, value, path))
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _compile_condition(key: str, value: Any, path: str) -> str:
    if not isinstance(value, dict):
        return _equals(key, [value], path)
    if not value:
        raise InvalidInputError(f"{path} has an empty condition.", field=path, fix=FILTER_HELP)
    parts = []
    for op, operand in value.items():
        where = f"{path}.{op}"
        if op == "$eq":
            parts.append(_equals(key, [operand], where))
        elif op == "$ne":
            parts.append(f"(NOT {_equals(key, [operand], where)})")
        elif op in _COMPARISONS:
            parts.append(_ordering(key, _COMPARISONS[op], operand, where))
        elif op in ("$in", "$nin"):
            if not isinstance(operand, list) or not operand:
                raise InvalidInputError(f"{where} must be a non-empty list.", field=where, fix=FILTER_HELP)
            sql = _equals(key, operand, where)
            parts.append(sql if op == "$in" else f"(NOT {sql})")
        elif op == "$exists":
            if not isinstance(operand, bool):
                raise InvalidInputError(f"{where} must be true or false.", field=where, fix=FILTER_HELP)
            parts.append(_exists(key) if operand else f"(NOT {_exists(key)})")
        else:
            raise InvalidInputError(f"{path}: unknown operator {op!r}.", field=where, fix=FILTER_HELP)
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _equals(key: str, operands: list[Any], path: str) -> str:
    """The stored value equals one of ``operands`` (all of one type), or is a list containing one."""
    kinds = {_kind(v, path) for v in operands}
    if len(kinds) > 1 and kinds != {"number"}:
        raise InvalidInputError(
            f"{path} mixes value types {sorted(kinds)}.", field=path, fix="Use values of one type in a list."
        )
    kind = kinds.pop()
    value = _json_value(key)
    if kind == "number":
        same = f"TRY_CAST({value} AS DOUBLE) IN ({', '.join(_number(v, path) for v in operands)})"
    else:  # strings and booleans: compare the stored JSON text with the operand's (serde_json writes the same)
        same = f"{value} IN ({', '.join(_literal(json.dumps(v, ensure_ascii=False)) for v in operands)})"
    contained = [
        f"json_array_contains({METADATA_COLUMN}, {_literal(_path(key))}, {_literal(_array_item(v))})" for v in operands
    ]
    return "((" + " OR ".join([same, *contained]) + ") IS TRUE)"


def _ordering(key: str, op: str, operand: Any, path: str) -> str:
    kind = _kind(operand, path)
    value = _json_value(key)
    if kind == "number":
        return f"((TRY_CAST({value} AS DOUBLE) {op} {_number(operand, path)}) IS TRUE)"
    if kind == "string":
        # The JSON text without its quotes: exact for strings without quotes, backslashes or control characters
        # (ISO dates, names), which JSON escapes.
        return f"((starts_with({value}, '\"') AND btrim({value}, '\"') {op} {_literal(operand)}) IS TRUE)"
    raise InvalidInputError(f"{path}: booleans compare only with equality.", field=path, fix="Use $eq or $ne.")


def _kind(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise _too_big(f"{path} is a string of {len(value)} characters; the limit is {MAX_STRING_CHARS}.", path)
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise InvalidInputError(
                f"{path} holds a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not text.",
                field=path,
                fix="Send valid Unicode text.",
            )
        return "string"
    if value is None:
        raise InvalidInputError(
            f"{path}: null cannot be compared with.",
            field=path,
            fix='To select documents without that key use {"$exists": false}, with it {"$exists": true}; '
            "otherwise compare against a string, number or boolean.",
        )
    raise InvalidInputError(
        f"{path}: {type(value).__name__} values cannot be compared.",
        field=path,
        fix="Compare against a string, number or boolean.",
    )


def _number(value: int | float, path: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"{path} is not a finite number.", field=path, fix="Use a finite number.")
    if abs(value) > MAX_SAFE_INTEGER:
        raise InvalidInputError(
            f"{path} is {value!r}, beyond ±2^53, where numbers compare inexactly.",
            field=path,
            fix="Store and filter such identifiers as strings.",
        )
    return repr(float(value))


def _array_item(value: Any) -> str:
    """``json_array_contains`` takes the item as text: a string as itself, a number or boolean as its JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _path(key: str) -> str:
    return f'$["{key}"]'  # bracket form: '$.my-key' is not a valid JSONPath


def _json_value(key: str) -> str:
    return f"json_extract({METADATA_COLUMN}, {_literal(_path(key))})"


def _exists(key: str) -> str:
    return f"(json_exists({METADATA_COLUMN}, {_literal(_path(key))}) IS TRUE)"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _check_key(key: str, path: str) -> None:
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInputError(
            f"{path}: {key!r} is not a valid metadata key.",
            field=path,
            fix="Metadata keys start with a letter or _ and hold letters, digits, _ or - (at most 128).",
        )
