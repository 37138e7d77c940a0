"""The collection verbs an agent was missing, through a real client session in memory: reading documents back
(``get_documents``), dropping a collection (``drop_collection``), and what ``taskvec://tasks`` says of adapters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import call_error, call_ok, make_random_adapter, store_contents, write_tasks_file
from mcp import Client

from taskvec.engine import Encoder
from taskvec.server import build_server
from taskvec.service import TaskvecService
from taskvec.store import Store
from taskvec.task_list import task_list

DOCS = [
    {"id": "kettle", "text": "Descale the kettle with vinegar.", "metadata": {"room": "kitchen"}},
    {"id": "chain", "text": "Oil the bicycle chain after rain.", "metadata": {"room": "shed"}},
    {"id": "tap", "text": "A dripping tap needs a new washer.", "metadata": {"room": "bath"}},
]


async def test_get_documents_by_id_and_as_a_peek(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", {"collection": "home", "documents": DOCS})
        await call_ok(client, "index", {"collection": "home", "documents": DOCS[:1], "task": "similarity"})
        got = await call_ok(client, "get_documents", {"collection": "home", "ids": ["tap", "gone", "kettle"]})
        assert [d["id"] for d in got["documents"]] == ["tap", "kettle"] and got["missing"] == ["gone"]
        assert got["documents"][1] == {
            "id": "kettle",
            "text": DOCS[0]["text"],
            "metadata": {"room": "kitchen"},
            "tasks": ["retrieval", "similarity"],
        }  # no parent_id: a listed item's null fields (it is no chunk) are left out of the result
        first = await call_ok(client, "get_documents", {"collection": "home", "limit": 2})
        rest = await call_ok(
            client, "get_documents", {"collection": "home", "limit": 2, "offset": first["next_offset"]}
        )
        assert first["next_offset"] == 2 and rest["next_offset"] is None
        assert sorted(d["id"] for d in first["documents"] + rest["documents"]) == ["chain", "kettle", "tap"]
        shed = await call_ok(client, "get_documents", {"collection": "home", "filter": {"room": "shed"}})
        assert [d["id"] for d in shed["documents"]] == ["chain"]


async def test_drop_collection_removes_it_and_its_name_is_free_again(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", {"collection": "home", "documents": DOCS})
        await call_ok(client, "index", {"collection": "home", "documents": DOCS, "task": "clustering"})
        dropped = await call_ok(client, "drop_collection", {"collection": "home"})
        assert dropped == {"collection": "home", "dropped_rows": 6}
        assert (await call_ok(client, "list_collections"))["collections"] == []
        text = await call_error(client, "drop_collection", {"collection": "home"})
        assert "'home' does not exist" in text and "list_collections" in text
        again = await call_ok(client, "index", {"collection": "home", "documents": DOCS[:1]})
        assert again["inserted"] == 1


async def test_delete_everything_points_at_drop_collection(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", {"collection": "home", "documents": DOCS})
        text = await call_error(client, "delete", {"collection": "home"})
    assert "to remove the whole collection, use drop_collection" in text


BAD = [
    ("get_documents", {"collection": "nope"}, "collection", "list_collections"),
    ("get_documents", {"collection": "home", "ids": []}, "ids", "Send ids"),
    ("get_documents", {"collection": "home", "limit": 0}, "limit", "Send limit"),
    ("get_documents", {"collection": "home", "offset": -1}, "offset", "Send offset"),
    (
        "get_documents",
        {"collection": "home", "filter": {"room": {"$near": 1}}},
        "filter.room.$near",
        "Write the filter",
    ),
    ("drop_collection", {"collection": "../home"}, "collection", "letters, digits"),
    ("drop_collection", {}, "collection", "Send collection"),
]


@pytest.mark.parametrize(("tool", "arguments", "field", "fix"), BAD, ids=[f"{b[0]}:{b[2]}" for b in BAD])
async def test_bad_input_names_the_field_and_changes_nothing(
    tiny_service: TaskvecService, tool: str, arguments: dict[str, Any], field: str, fix: str
) -> None:
    tiny_service.index("home", DOCS, "retrieval")
    before = store_contents(tiny_service)
    async with Client(build_server(tiny_service)) as client:
        text = await call_error(client, tool, arguments)
    assert f"(field: {field})" in text and fix in text.split("Fix: ", 1)[1], text
    assert store_contents(tiny_service) == before


# ------------------------------------------------------------------------------------------ adapters' names
async def test_tasks_resource_names_adapters_relative_to_the_tasks_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    make_random_adapter(tiny_model_dir, tmp_path / "config" / "adapters" / "tickets", seed=1)
    tasks = write_tasks_file(
        tmp_path / "config" / "tasks.toml", '[tasks.tickets]\nkind = "classification"\nadapter = "adapters/tickets"\n'
    )
    encoder = Encoder(tiny_model_dir, tasks_file=tasks, device="cpu")
    service = TaskvecService(encoder, Store(tmp_path / "store"), tasks_file=tasks)
    async with Client(build_server(service)) as client:
        listed = json.loads((await client.read_resource("taskvec://tasks")).contents[0].text)
    adapters = {t["name"]: t["adapter"] for t in listed["tasks"]}
    assert adapters["tickets"] == "adapters/tickets" and str(tmp_path) not in json.dumps(listed)


@pytest.mark.real_model
def test_shipped_adapters_are_named_not_located(real_encoder: Encoder) -> None:
    adapters = {t.name: t.adapter for t in task_list(real_encoder.spaces).tasks}
    # Only adapters that run are listed: similarity's and retrieval's passed the ship rule, classification's did not
    # (docs/panel.md), and code has none.
    assert adapters["similarity"] == "all-MiniLM-L6-v2/similarity (shipped)"
    assert adapters["retrieval"] == "all-MiniLM-L6-v2/retrieval (shipped)"
    assert adapters["classification"] is None and adapters["code"] is None
