"""Metadata filters: a small JSON language compiled to a LanceDB (DataFusion SQL) predicate.

Agents write JSON far more reliably than SQL, and a structured filter cannot escape into other columns (such as
``space_id``, which the guard relies on). The language::

    {"lang": "en"}                                  equality; several keys in one object are ANDed
    {"year": {"$gte": 2020, "$lt": 2025}}           $eq $ne $gt $gte $lt $lte
    {"tag": {"$in": ["a", "b"]}}                    $in $nin (values of one type)
    {"draft": {"$exists": false}}                   key present or not
    {"$or": [{...}, {...}]}, {"$and": [...]}, {"$not": {...}}

Metadata is stored as a Lance JSON column; values are read with the typed getter that matches the filter value.
"""

from __future__ import annotations

import json
import re
from typing import Any

from taskvec.errors import InvalidInputError

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")
_COMPARISONS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_OPERATORS = sorted([*_COMPARISONS, "$in", "$nin", "$exists"])
METADATA_COLUMN = "metadata"

FILTER_HELP = (
    'Write the filter as JSON over metadata keys, e.g. {"lang": "en"}, {"year": {"$gte": 2020}}, '
    '{"tag": {"$in": ["a", "b"]}}, {"$or": [{...}, {...}]}. Operators: ' + ", ".join(_OPERATORS) + ", $and, $or, $not."
)


def parse_filter(raw: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """Accept a dict or its JSON text; ``None`` or an empty object mean no filter."""
    if raw is None or raw == "" or raw == {}:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"The filter is not valid JSON ({exc}).", field="filter", fix=FILTER_HELP) from exc
    if not isinstance(raw, dict):
        raise InvalidInputError("The filter must be a JSON object.", field="filter", fix=FILTER_HELP)
    return raw


def compile_filter(raw: str | dict[str, Any] | None) -> str | None:
    """The SQL predicate for a filter, or None for no filter. Raises InvalidInputError naming the bad part."""
    parsed = parse_filter(raw)
    return None if parsed is None else _compile_object(parsed, "filter")


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
            parts.append(f"NOT ({_compile_object(value, path)})")
        elif key.startswith("$"):
            raise InvalidInputError(f"{path}: unknown operator {key!r} at this level.", field=path, fix=FILTER_HELP)
        else:
            _check_key(key, path)
            parts.append(_compile_condition(key, value, path))
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _compile_condition(key: str, value: Any, path: str) -> str:
    if not isinstance(value, dict):
        return _comparison(key, "=", value, path)
    if not value:
        raise InvalidInputError(f"{path} has an empty condition.", field=path, fix=FILTER_HELP)
    parts = []
    for op, operand in value.items():
        if op in _COMPARISONS:
            parts.append(_comparison(key, _COMPARISONS[op], operand, f"{path}.{op}"))
        elif op in ("$in", "$nin"):
            if not isinstance(operand, list) or not operand:
                raise InvalidInputError(f"{path}.{op} must be a non-empty list.", field=f"{path}.{op}", fix=FILTER_HELP)
            kinds = {_kind(v, f"{path}.{op}") for v in operand}
            if len(kinds) > 1 and kinds != {"int", "float"}:
                raise InvalidInputError(
                    f"{path}.{op} mixes value types {sorted(kinds)}.",
                    field=f"{path}.{op}",
                    fix="Use values of one type in a list.",
                )
            kind = "float" if "float" in kinds else kinds.pop()
            values = ", ".join(_literal(v) for v in operand)
            sql = f"{_getter(kind, key)} IN ({values})"
            parts.append(sql if op == "$in" else f"({_exists(key)} AND NOT {sql})")
        elif op == "$exists":
            if not isinstance(operand, bool):
                raise InvalidInputError(
                    f"{path}.$exists must be true or false.", field=f"{path}.$exists", fix=FILTER_HELP
                )
            parts.append(_exists(key) if operand else f"NOT {_exists(key)}")
        else:
            raise InvalidInputError(f"{path}: unknown operator {op!r}.", field=f"{path}.{op}", fix=FILTER_HELP)
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _comparison(key: str, op: str, value: Any, path: str) -> str:
    kind = _kind(value, path)
    if kind == "bool" and op not in ("=", "!="):
        raise InvalidInputError(f"{path}: booleans compare only with equality.", field=path, fix="Use $eq or $ne.")
    sql = f"{_getter(kind, key)} {op} {_literal(value)}"
    # SQL's three-valued logic would drop rows that lack the key from a != test; "not equal" should keep them.
    return f"({sql} OR NOT {_exists(key)})" if op == "!=" else sql


def _kind(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    raise InvalidInputError(
        f"{path}: {type(value).__name__} values cannot be compared.",
        field=path,
        fix="Compare against a string, number or boolean.",
    )


def _getter(kind: str, key: str) -> str:
    return f"json_get_{kind}({METADATA_COLUMN}, {_literal(key)})"


def _exists(key: str) -> str:
    return f"json_exists({METADATA_COLUMN}, {_literal('$.' + key)})"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _check_key(key: str, path: str) -> None:
    if not KEY_PATTERN.match(key):
        raise InvalidInputError(
            f"{path}: {key!r} is not a valid metadata key.",
            field=path,
            fix="Metadata keys start with a letter or _ and hold letters, digits, _ or - (at most 128).",
        )
