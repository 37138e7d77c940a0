"""A tool's ``outputSchema`` in the form clients validate fastest, accepting exactly the documents pydantic's does.

MCP clients check every structured result against the tool's ``outputSchema`` (the Python SDK does, with
``jsonschema``, on each call). Pydantic writes an optional field as ``anyOf: [{type: string}, {type: null}]`` and
each nested model as a ``$ref`` into ``$defs``: a validator then tries the first branch of every null field, builds
an error when it fails, tries the second, and resolves a reference per list item. A search result of ten hits pays
that forty times. The same constraints written as ``type: [string, null]``, with the models inlined, validate in
half the time (benchmarks/concurrency.py measures the call's overhead; tests/test_tool_schemas.py checks that both
forms accept and reject the same documents).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

_NULL = {"type": "null"}


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema (as the SDK would publish it) with ``$defs`` inlined and nullable scalars as type
    lists. Result models are trees, never recursive: a reference to a model being inlined is a bug, raised."""
    schema = model.model_json_schema(schema_generator=GenerateJsonSchema)
    defs = schema.pop("$defs", {})
    return _simplify(schema, defs, ())


def _simplify(node: Any, defs: dict[str, Any], inlining: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_simplify(item, defs, inlining) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        if name in inlining:
            raise ValueError(f"{name} refers to itself: a recursive output model cannot be inlined")
        target = _simplify(defs[name], defs, (*inlining, name))
        return {**target, **{k: _simplify(v, defs, inlining) for k, v in node.items() if k != "$ref"}}
    out = {key: _simplify(value, defs, inlining) for key, value in node.items()}
    branches = out.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2 and _NULL in branches:
        other = branches[0] if branches[1] == _NULL else branches[1]
        if set(other) == {"type"} and isinstance(other["type"], str):  # a nullable scalar: one type check
            del out["anyOf"]
            out["type"] = [other["type"], "null"]
        else:  # a nullable object: null is the usual value and the cheap branch, so it goes first
            out["anyOf"] = [_NULL, other]
    return out
