"""The tool interface as a client sees it (``tools/list``), checked in as tests/snapshots/tools.json.

An interface change must be deliberate: regenerate the snapshot with ``TASKVEC_UPDATE_SNAPSHOTS=1 pytest
tests/test_tool_schemas.py`` and commit the diff with the change that caused it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import TOOL_NAMES
from mcp import Client

from taskvec.server import build_server
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
