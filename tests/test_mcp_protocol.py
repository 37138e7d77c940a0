"""The protocol around the tools, through real client sessions in memory: prompts, client logging, cursors, and
what settings change in the server (read-only mode, a default collection, description overrides)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import anyio
import pytest
from helpers import CALL_TIMEOUT, call_error, call_ok
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from test_server_start import held_back

from taskvec.config import Settings
from taskvec.errors import TaskvecError
from taskvec.server import build_server
from taskvec.service import TaskvecService
from taskvec.store import Store

DOCS = [{"id": "kettle", "text": "Descale the kettle with vinegar."}, {"id": "bike", "text": "Oil the chain."}]
WRITE_TOOLS = {"index", "delete", "drop_collection"}


# ---------------------------------------------------------------------------------------------------- prompts
async def test_prompts_spell_out_a_workflow_with_the_right_tasks(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service, Settings(default_collection="papers"))) as client:
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(listed) == {"index_and_search", "find_near_duplicates", "answer_from_collection"}
        assert {a.name for a in listed["index_and_search"].arguments or []} == {"documents", "question", "collection"}
        result = await client.get_prompt("index_and_search", {"documents": "a.md, b.md", "question": "Why?"})
        text = result.messages[0].content.text  # type: ignore[union-attr]
        assert "`index` tool with collection='papers', task='retrieval'" in text and "Why?" in text
        assert "`search` with collection='papers', task='retrieval'" in text
        duplicates = await client.get_prompt("find_near_duplicates", {"text": "x", "collection": "notes"})
        assert "task='similarity'" in duplicates.messages[0].content.text  # type: ignore[union-attr]
        for name, arguments, says in [
            ("answer_from_collection", {}, "needs the argument(s) question"),
            ("summarise", {}, "Unknown prompt 'summarise'. Fix: get one of answer_from_collection, "),
        ]:
            with pytest.raises(MCPError) as refused:
                await client.get_prompt(name, arguments)
            assert refused.value.error.code == INVALID_PARAMS and says in str(refused.value), refused.value


# ---------------------------------------------------------------------------------------------------- logging
class Received:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str | None]] = []
        self.arrived = anyio.Event()

    async def __call__(self, params: Any) -> None:
        self.messages.append((params.level, str(params.data), params.logger))
        self.arrived.set()


def warn_during_search(monkeypatch: pytest.MonkeyPatch) -> None:
    real = TaskvecService.search

    def search(self: TaskvecService, *args: Any, **kwargs: Any) -> Any:
        logging.getLogger("taskvec.service").warning("the search index is being rebuilt")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TaskvecService, "search", search)


async def test_set_level_sends_the_records_of_a_call_to_its_client(
    tiny_service: TaskvecService, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_service.index("home", DOCS, "retrieval")
    warn_during_search(monkeypatch)
    received = Received()
    async with Client(build_server(tiny_service), mode="legacy", logging_callback=received) as client:
        assert client.server_capabilities.logging is not None
        await call_ok(client, "search", {"collection": "home", "query": "kettle"})
        assert received.messages == []  # nothing until the client asks
        await client.set_logging_level("error")
        await call_ok(client, "search", {"collection": "home", "query": "kettle"})
        assert received.messages == []  # a warning is below error
        await client.set_logging_level("debug")
        await call_ok(client, "search", {"collection": "home", "query": "kettle"})
    assert ("warning", "the search index is being rebuilt", "taskvec.service") in received.messages
    assert any(level == "debug" and "search answered in" in text for level, text, _ in received.messages)


async def test_a_modern_request_opts_in_to_its_own_records(
    tiny_service: TaskvecService, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_service.index("home", DOCS, "retrieval")
    warn_during_search(monkeypatch)
    quiet, asked = Received(), Received()
    async with Client(build_server(tiny_service), logging_callback=quiet) as client:
        await call_ok(client, "search", {"collection": "home", "query": "kettle"})
    async with Client(build_server(tiny_service), logging_callback=asked, log_level="warning") as client:
        await call_ok(client, "search", {"collection": "home", "query": "kettle"})
    assert quiet.messages == [] and asked.messages == [
        ("warning", "the search index is being rebuilt", "taskvec.service")
    ]


async def test_records_outside_calls_reach_clients_that_set_a_level(tiny_service: TaskvecService) -> None:
    release = threading.Event()
    received = Received()
    async with Client(build_server(held_back(tiny_service, release)), mode="legacy", logging_callback=received) as c:
        await c.set_logging_level("info")
        release.set()  # the model "finishes loading" with no call running
        with anyio.fail_after(CALL_TIMEOUT):
            await received.arrived.wait()
    assert any(level == "info" and text.startswith("model loaded") for level, text, _ in received.messages)


# ---------------------------------------------------------------------------------------------------- cursors
@pytest.mark.parametrize("listing", ["list_tools", "list_prompts", "list_resources", "list_resource_templates"])
async def test_a_cursor_the_server_never_issued_is_invalid_params(tiny_service: TaskvecService, listing: str) -> None:
    async with Client(build_server(tiny_service), mode="legacy") as client:
        first = await getattr(client, listing)()
        assert first.next_cursor is None  # everything in one page
        with pytest.raises(MCPError) as refused:
            await getattr(client, listing)(cursor="page-2", cache_mode="bypass")
    assert refused.value.error.code == -32602 and "without a cursor" in str(refused.value)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_unknown_tool_is_a_protocol_error_listing_the_tools(tiny_service: TaskvecService, mode: str) -> None:
    async with Client(build_server(tiny_service), mode=mode) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("serach", {"collection": "home", "query": "kettle"})
    assert refused.value.error.code == -32602  # the spec's "unknown tool", not an isError result
    assert "Unknown tool 'serach'" in str(refused.value) and "search" in str(refused.value).split("Fix:")[1]


# ------------------------------------------------------------------------------------------------- read-only
async def test_a_read_only_server_offers_no_write_and_refuses_one_by_name(tiny_service: TaskvecService) -> None:
    tiny_service.index("home", DOCS, "retrieval")
    async with Client(build_server(tiny_service, Settings(read_only=True))) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert not names & WRITE_TOOLS and {"search", "get_documents", "list_collections"} <= names
        for tool, arguments in [
            ("index", {"collection": "home", "documents": DOCS}),
            ("drop_collection", {"collection": "home"}),
        ]:
            text = await call_error(client, tool, arguments)
            assert f"Tool {tool!r} is not offered: this taskvec server is read-only (TASKVEC_READ_ONLY)" in text
        assert "index_and_search" not in {p.name for p in (await client.list_prompts()).prompts}
        assert (await call_ok(client, "search", {"collection": "home", "query": "kettle"}))["hits"]
    assert tiny_service.store.collection_names() == ["home"]


def test_a_read_only_store_refuses_every_write_and_creates_nothing(tiny_service: TaskvecService, tmp_path: Any) -> None:
    tiny_service.index("home", DOCS, "retrieval")
    store = Store(tiny_service.store.uri, read_only=True)
    for write in (
        lambda: store.delete("home", ids=["bike"]),
        lambda: store.drop("home"),
        lambda: store.optimize("home"),
    ):
        with pytest.raises(TaskvecError, match="open read-only"):
            write()
    assert store.get("home").documents and store.describe("home").rows == 2
    assert Store(tmp_path / "never", read_only=True).collection_names() == [] and not (tmp_path / "never").exists()


# ----------------------------------------------------------------------------------- default collection etc.
async def test_a_default_collection_makes_the_argument_optional(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service, Settings(default_collection="home"))) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        search = tools["search"].input_schema
        assert "collection" not in search["required"] and search["properties"]["collection"]["default"] == "home"
        assert "collection" in tools["drop_collection"].input_schema["required"]  # never implied for a drop
        await call_ok(client, "index", {"documents": DOCS})
        found = await call_ok(client, "search", {"query": DOCS[1]["text"]})
        assert found["collection"] == "home" and found["hits"][0]["id"] == "bike"
        assert (await call_ok(client, "describe_collection", {}))["rows"] == 2
        other = await call_ok(client, "search", {"collection": "home", "query": "chain"})
        assert other["collection"] == "home"
        text = await call_error(client, "drop_collection", {})
        assert "(field: collection)" in text


async def test_descriptions_can_be_replaced_per_tool(tiny_service: TaskvecService) -> None:
    wording = "Search the team's runbooks. Use task='retrieval'."
    async with Client(build_server(tiny_service, Settings(tool_descriptions={"search": wording}))) as client:
        tools = {t.name: t.description for t in (await client.list_tools()).tools}
    assert tools["search"] == wording and tools["similar"] and tools["similar"] != wording


def test_descriptions_come_from_json_or_a_toml_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TASKVEC_TOOL_DESCRIPTIONS", raising=False)
    monkeypatch.delenv("TASKVEC_CONFIG", raising=False)
    (tmp_path / "taskvec.toml").write_text('[tool_descriptions]\nsearch = "From the file."\n')
    assert Settings().tool_descriptions == {"search": "From the file."}
    monkeypatch.setenv("TASKVEC_TOOL_DESCRIPTIONS", '{"search": "From the variable.", "similar": "Also."}')
    assert Settings().tool_descriptions == {"search": "From the variable.", "similar": "Also."}  # per tool
