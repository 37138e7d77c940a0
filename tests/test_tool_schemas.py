"""The tool interface as a client sees it (``tools/list``), checked in as tests/snapshots/tools.json.

An interface change must be deliberate: regenerate the snapshot with ``TASKVEC_UPDATE_SNAPSHOTS=1 pytest
tests/test_tool_schemas.py`` and commit the diff with the change that caused it.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import TOOL_NAMES
from jsonschema import Draft202012Validator
from mcp import Client
from pydantic import BaseModel

from taskvec.results import (
    ClassifyResult,
    LabelScore,
    RerankerInfo,
    SearchHit,
    SearchResult,
    SpaceInfo,
    TextClassification,
)
from taskvec.server import build_server
from taskvec.server.schemas import output_schema
from taskvec.service import TaskvecService

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"
FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
READ_ONLY = {
    "search", "classify", "cluster", "similar", "rerank", "list_collections", "describe_collection", "get_documents",
}  # fmt: skip


@pytest.fixture()
async def listed_tools(tiny_service: TaskvecService) -> list[dict[str, Any]]:
    async with Client(build_server(tiny_service)) as client:
        result = await client.list_tools()
    return [
        {k: v for k, v in tool.model_dump(mode="json", by_alias=True).items() if k in FIELDS} for tool in result.tools
    ]


def test_list_tools_matches_the_snapshot(listed_tools: list[dict[str, Any]]) -> None:
    current = json.dumps(listed_tools, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("TASKVEC_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), f"No snapshot at {SNAPSHOT}: run with TASKVEC_UPDATE_SNAPSHOTS=1 to write it."
    expected = json.loads(SNAPSHOT.read_text())
    changed = sorted(
        {t["name"] for t in listed_tools if t not in expected} | {t["name"] for t in expected if t not in listed_tools}
    )
    assert listed_tools == expected, (
        f"The MCP tool interface changed ({', '.join(changed)}). If that is deliberate, rewrite {SNAPSHOT.name} with "
        "TASKVEC_UPDATE_SNAPSHOTS=1 pytest tests/test_tool_schemas.py and commit the diff; otherwise undo the change."
    )


def test_every_tool_is_fully_described(listed_tools: list[dict[str, Any]]) -> None:
    names = [t["name"] for t in listed_tools]
    assert names == list(TOOL_NAMES)
    for tool in listed_tools:
        assert tool["title"] and len(tool["description"]) > 60, tool["name"]
        assert tool["inputSchema"]["type"] == "object" and tool["outputSchema"]["type"] == "object", tool["name"]
        for name, prop in tool["inputSchema"].get("properties", {}).items():
            assert prop.get("description"), f"{tool['name']}.{name} has no description"


def test_annotations_say_what_each_tool_may_change(listed_tools: list[dict[str, Any]]) -> None:
    annotations = {t["name"]: t["annotations"] for t in listed_tools}
    for name in READ_ONLY:
        assert annotations[name]["readOnlyHint"] is True, name
        assert annotations[name]["destructiveHint"] is False, name
    for name in ("delete", "drop_collection"):
        assert annotations[name]["readOnlyHint"] is False and annotations[name]["destructiveHint"] is True, name
    assert annotations["index"]["readOnlyHint"] is False and annotations["index"]["destructiveHint"] is False
    assert annotations["index"]["idempotentHint"] is True  # upsert by id
    assert all(a["openWorldHint"] is False for a in annotations.values())  # a local store, nothing beyond it
    assert all(a["title"] for a in annotations.values())


def _documents() -> list[tuple[type[BaseModel], dict[str, Any]]]:
    """Results as tools return them, with every optional field both empty and set (a reranked search fills the
    nullable nested model and the nullable scalars of its hits)."""
    space = SpaceInfo(id="s1", task="retrieval", description="a space", model="m")
    reranker = RerankerInfo(
        id="r1", task="rerank", kind="adapter", description="d", model="m", model_fingerprint="f", adapter="a"
    )
    hit = SearchHit(id="1", text="t", score=0.5, metadata={"year": 2020, "tags": ["a"]})
    reranked = SearchHit(id="2", text="u", score=0.4, parent_id="p", rerank_score=1.5, first_stage_rank=3)
    search = {"collection": "c", "query": "q", "task": "retrieval", "mode": "vector", "space": space}
    classified = TextClassification(index=0, text="t", label="a", score=0.9, scores=[LabelScore(label="a", score=0.9)])
    return [
        (SearchResult, SearchResult(**search, hits=[hit, hit]).model_dump(mode="json")),
        (SearchResult, SearchResult(**search, hits=[reranked], reranker=reranker, candidates=20).model_dump(mode="json")),
        (ClassifyResult, ClassifyResult(task="t", method="knn", space=space, labels=["a"], results=[classified]).model_dump(mode="json")),
    ]  # fmt: skip


def _variants(document: Any) -> Iterator[Any]:
    """The document, then each way of breaking one place of it: a value nulled, given the wrong type, or removed."""
    yield document
    if isinstance(document, dict):
        items: list[tuple[Any, Any]] = list(document.items())
    elif isinstance(document, list):
        items = list(enumerate(document))
    else:
        return
    for key, value in items:
        for replacement in (None, "text", 7, 0.5, [], {}, *_variants(value)):
            if replacement is value:
                continue
            changed = copy.deepcopy(document)
            changed[key] = replacement
            yield changed
        if isinstance(document, dict):
            yield {k: v for k, v in document.items() if k != key}


@pytest.mark.parametrize("case", range(3))
def test_published_output_schemas_accept_exactly_what_pydantic_s_accept(case: int) -> None:
    model, document = _documents()[case]
    published, pydantic_own = output_schema(model), model.model_json_schema()
    fast, reference = Draft202012Validator(published), Draft202012Validator(pydantic_own)
    variants = list(_variants(document))
    verdicts = [(fast.is_valid(v), reference.is_valid(v)) for v in variants]
    assert len(verdicts) > 100 and {r for _, r in verdicts} == {True, False}  # the variants probe both ways
    assert all(f == r for f, r in verdicts), [v for v, (f, r) in zip(variants, verdicts, strict=True) if f != r][:3]


def test_output_schemas_have_no_references_or_nullable_unions_of_scalars(listed_tools: list[dict[str, Any]]) -> None:
    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for tool in listed_tools:
        nodes = list(walk(tool["outputSchema"]))
        assert not [n for n in nodes if "$ref" in n or "$defs" in n], tool["name"]
        unions = [n["anyOf"] for n in nodes if "anyOf" in n]
        assert all(u[0] == {"type": "null"} and "properties" in u[1] for u in unions), (tool["name"], unions)


def test_no_listed_item_requires_a_field_that_may_be_null(listed_tools: list[dict[str, Any]]) -> None:
    """Results leave out a listed item's null fields (server/registry.py ``tool_result``); a field that is both
    nullable and required in an item would then be missing where clients require it."""

    def nullable(prop: dict[str, Any]) -> bool:
        kinds = prop.get("type")
        return (isinstance(kinds, list) and "null" in kinds) or {"type": "null"} in prop.get("anyOf", [])

    for tool in listed_tools:
        for name, prop in tool["outputSchema"]["properties"].items():
            item = prop.get("items") if prop.get("type") == "array" else None
            if isinstance(item, dict) and "properties" in item:
                bad = [f for f in item.get("required", []) if nullable(item["properties"][f])]
                assert not bad, f"{tool['name']}.{name}[] requires {bad}, which may be null: give them a default"
