"""Every tool through a real MCP client session on the in-memory transport (``mcp.Client(server)``).

Happy paths assert on structured content; every bad input must come back as an isError result whose text names
the field and a fix, leave the store exactly as it was, and leave the server serving. The tiny random model has
no semantics, so correctness is asserted where it does not need any: a text finds itself (cosine 1).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import anyio
import pytest
from helpers import CALL_TIMEOUT, call_error, call_ok, store_contents
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from taskvec import service as service_module
from taskvec.options import KEYWORD_WEIGHT
from taskvec.server import build_server
from taskvec.service import TaskvecService
from taskvec.store import DocumentLimits, Store, lance_store

DOCS = [
    {"id": "kettle", "text": "Descale the kettle with white vinegar once a month.", "metadata": {"room": "kitchen"}},
    {"id": "basil", "text": "Basil wilts when the pot sits in a cold draught.", "metadata": {"room": "kitchen"}},
    {"id": "chain", "text": "Oil the bicycle chain after every ride in the rain.", "metadata": {"room": "shed"}},
    {"id": "saw", "text": "A blunt saw tears the wood fibres instead of cutting them.", "metadata": {"room": "shed"}},
    {"id": "grout", "text": "Mould in shower grout comes back unless the room is aired.", "metadata": {"room": "bath"}},
    {"id": "tap", "text": "A dripping tap usually needs a new washer, not a new tap.", "metadata": {"room": "bath"}},
]
LABELLED = [  # one example per label: its centroid is the example itself, so the example's own text must win
    {"id": "ex-kitchen", "text": "Simmer the stock for two hours.", "metadata": {"label": "kitchen"}},
    {"id": "ex-garden", "text": "Prune the roses in late winter.", "metadata": {"label": "garden"}},
    {"id": "ex-car", "text": "Check the tyre pressure before a long drive.", "metadata": {"label": "car"}},
]


def docs_args(collection: str, task: str = "retrieval", docs: list[dict[str, Any]] = DOCS) -> dict[str, Any]:
    return {"collection": collection, "task": task, "documents": docs}


# ------------------------------------------------------------------------------------------------ happy paths
async def test_index_then_search_finds_each_document_by_its_own_text(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        indexed = await call_ok(client, "index", docs_args("home"))
        assert (indexed["documents"], indexed["inserted"], indexed["updated"]) == (6, 6, 0)
        assert indexed["task"] == indexed["space"]["task"] == "retrieval"
        for doc in DOCS:
            found = await call_ok(client, "search", {"collection": "home", "query": doc["text"], "limit": 3})
            assert found["task"] == "retrieval" and found["space"]["id"] == indexed["space"]["id"]
            assert len(found["hits"]) == 3
            first = found["hits"][0]
            assert (first["id"], first["text"], first["metadata"]) == (doc["id"], doc["text"], doc["metadata"])
            assert first["score"] == pytest.approx(1.0, abs=1e-4)
        again = await call_ok(client, "index", docs_args("home"))
        assert (again["inserted"], again["updated"]) == (0, 6)  # upsert by id: nothing duplicated


async def test_a_result_leaves_out_the_null_fields_of_listed_items_and_its_text_is_the_same_json(
    tiny_service: TaskvecService,
) -> None:
    docs = [{"id": "a", "text": "Bleed the radiators in autumn.", "metadata": {"room": "hall", "floor": None}}]
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", docs_args("home", docs=docs))
        with anyio.fail_after(CALL_TIMEOUT):
            result = await client.call_tool("search", {"collection": "home", "query": "radiators"})
        (hit,) = result.structured_content["hits"]
        # not a reranked search, not a chunk: those fields do not apply and are absent, not null
        assert set(hit) == {"id", "text", "score", "metadata"}
        assert hit["metadata"] == {"room": "hall", "floor": None}  # the user's own nulls stay
        assert "reranker" in result.structured_content and result.structured_content["reranker"] is None
        (block,) = result.content
        assert json.loads(block.text) == result.structured_content and "\n" not in block.text  # compact


async def test_search_filter_limit_and_hybrid_mode(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", docs_args("home"))
        shed = await call_ok(client, "search", {"collection": "home", "query": "tools", "filter": {"room": "shed"}})
        assert {h["id"] for h in shed["hits"]} == {"chain", "saw"}
        either = {"$or": [{"room": "bath"}, {"room": {"$in": ["kitchen"]}}]}
        found = await call_ok(client, "search", {"collection": "home", "query": "tools", "filter": either, "limit": 3})
        assert len(found["hits"]) == 3 and all(h["metadata"]["room"] in ("bath", "kitchen") for h in found["hits"])
        hybrid = await call_ok(client, "search", {"collection": "home", "query": DOCS[4]["text"], "mode": "hybrid"})
        assert hybrid["mode"] == "hybrid" and hybrid["hits"][0]["id"] == "grout"
        assert hybrid["keyword_weight"] == KEYWORD_WEIGHT and shed["keyword_weight"] is None
        keywords = {"collection": "home", "query": DOCS[4]["text"], "mode": "hybrid", "keyword_weight": 1.0}
        assert (await call_ok(client, "search", keywords))["keyword_weight"] == 1.0
        for bad, needle in (
            ({**keywords, "keyword_weight": 2}, "keyword_weight"),
            ({**keywords, "mode": "vector"}, "mode='hybrid'"),
        ):
            refused = await client.call_tool("search", bad)
            assert refused.is_error and needle in refused.content[0].text


async def test_similar_keeps_only_hits_above_the_threshold(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", docs_args("dupes", "similarity"))
        every = await call_ok(client, "similar", {"collection": "dupes", "text": DOCS[2]["text"]})
        scores = [h["score"] for h in every["hits"]]
        assert every["task"] == "similarity" and every["hits"][0]["id"] == "chain"
        assert len(scores) == 6 and scores == sorted(scores, reverse=True)
        threshold = (scores[0] + scores[1]) / 2
        above = await call_ok(
            client, "similar", {"collection": "dupes", "text": DOCS[2]["text"], "threshold": threshold}
        )
        assert [h["id"] for h in above["hits"]] == ["chain"]


async def test_classify_zero_shot(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        labels = ["kitchen", "garden", "car"]
        result = await call_ok(client, "classify", {"texts": ["garden", "car", "a loose hinge"], "labels": labels})
        assert result["method"] == "zero-shot" and result["task"] == "classification"
        assert result["labels"] == labels
        assert [r["label"] for r in result["results"][:2]] == ["garden", "car"]  # a text that is a label's own text
        for i, row in enumerate(result["results"]):
            assert row["index"] == i and len(row["scores"]) == 3
            assert [s["score"] for s in row["scores"]] == sorted((s["score"] for s in row["scores"]), reverse=True)
            assert row["label"] == row["scores"][0]["label"]
        described = {"kitchen": "cooking and food", "garden": "plants and lawns", "car": "driving and engines"}
        top1 = await call_ok(client, "classify", {"texts": ["a loose hinge"], "labels": described, "top_k": 1})
        assert top1["labels"] == labels and len(top1["results"][0]["scores"]) == 1


async def test_classify_few_shot_from_a_labelled_collection(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", docs_args("examples", "classification", LABELLED))
        texts = [d["text"] for d in LABELLED]
        result = await call_ok(client, "classify", {"texts": texts, "collection": "examples"})
        assert result["method"] == "centroid" and result["labels"] == ["car", "garden", "kitchen"]
        assert [r["label"] for r in result["results"]] == ["kitchen", "garden", "car"]
        knn = await call_ok(client, "classify", {"texts": texts, "collection": "examples", "method": "knn"})
        assert knn["method"] == "knn"
        assert all(sum(s["score"] for s in r["scores"]) == pytest.approx(1.0, abs=1e-4) for r in knn["results"])


async def test_sentiment_is_a_classification_task_with_a_space_of_its_own(tiny_service: TaskvecService) -> None:
    """The built-in sentiment task is listed (kind classification), labels few-shot from a collection indexed with
    it, and the guard keeps it apart from classification: each is its own embedding space."""
    async with Client(build_server(tiny_service)) as client:
        tasks = {t["name"]: t for t in _json_resource(await client.read_resource("taskvec://tasks"))["tasks"]}
        assert tasks["sentiment"]["kind"] == "classification" and "feels" in tasks["sentiment"]["description"]
        assert tasks["sentiment"]["space_id"] != tasks["classification"]["space_id"]
        indexed = await call_ok(client, "index", docs_args("moods", "sentiment", LABELLED))
        assert indexed["space"]["task"] == "sentiment"
        texts = [d["text"] for d in LABELLED]
        result = await call_ok(client, "classify", {"texts": texts, "collection": "moods", "task": "sentiment"})
        assert result["task"] == "sentiment" and [r["label"] for r in result["results"]] == ["kitchen", "garden", "car"]
        refused = await call_error(client, "classify", {"texts": texts, "collection": "moods"})
        assert "task='sentiment'" in refused


async def test_cluster_texts_and_a_collection(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        texts = [d["text"] for d in DOCS]
        given = await call_ok(client, "cluster", {"texts": texts, "k": 2})
        assert (given["k"], given["k_chosen_by"], len(given["clusters"])) == (2, "given", 2)
        assert sum(c["size"] for c in given["clusters"]) == 6
        assert sorted(m["text"] for c in given["clusters"] for m in c["members"]) == sorted(texts)
        assert all(c["representative"] in c["members"] for c in given["clusters"])
        assert [c["size"] for c in given["clusters"]] == sorted((c["size"] for c in given["clusters"]), reverse=True)

        await call_ok(client, "index", docs_args("topics", "clustering"))
        chosen = await call_ok(client, "cluster", {"collection": "topics"})
        assert chosen["k_chosen_by"] == "silhouette" and chosen["task"] == "clustering"
        assert {m["id"] for c in chosen["clusters"] for m in c["members"]} == {d["id"] for d in DOCS}
        shed = await call_ok(client, "cluster", {"collection": "topics", "k": 1, "filter": {"room": "shed"}})
        assert {m["id"] for m in shed["clusters"][0]["members"]} == {"chain", "saw"}


async def test_list_and_describe_collections(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        empty = await call_ok(client, "list_collections")
        assert empty["collections"] == []
        await call_ok(client, "index", docs_args("home"))
        await call_ok(client, "index", docs_args("home", "similarity", DOCS[:2]))
        described = await call_ok(client, "describe_collection", {"collection": "home"})
        assert (described["name"], described["rows"], described["dimension"]) == ("home", 8, 32)
        assert {s["space"]["task"]: s["rows"] for s in described["spaces"]} == {"retrieval": 6, "similarity": 2}
        listed = await call_ok(client, "list_collections")
        assert listed["store"] == tiny_service.store.uri and listed["collections"] == [described]


async def test_delete_removes_documents_from_every_space(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", docs_args("home"))
        await call_ok(client, "index", docs_args("home", "similarity"))
        deleted = await call_ok(client, "delete", {"collection": "home", "ids": ["saw"]})
        assert deleted == {"collection": "home", "deleted": 2}  # one row per space
        for task in ("retrieval", "similarity"):
            found = await call_ok(client, "search", {"collection": "home", "query": DOCS[3]["text"], "task": task})
            assert "saw" not in {h["id"] for h in found["hits"]} and len(found["hits"]) == 5
        by_filter = await call_ok(client, "delete", {"collection": "home", "filter": {"room": "bath"}})
        assert by_filter["deleted"] == 4
        described = await call_ok(client, "describe_collection", {"collection": "home"})
        assert described["rows"] == 6


async def test_delete_by_space_removes_one_space_and_names_the_known_ones(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", docs_args("home"))
        await call_ok(client, "index", docs_args("home", "similarity"))
        described = await call_ok(client, "describe_collection", {"collection": "home"})
        space = {s["space"]["task"]: s["space"]["id"] for s in described["spaces"]}
        text = await call_error(client, "delete", {"collection": "home", "space": "0123456789abcdef"})
        assert "(field: space)" in text and space["similarity"] in text and "describe_collection" in text
        assert (await call_ok(client, "describe_collection", {"collection": "home"}))["rows"] == 12  # nothing lost
        one = await call_ok(client, "delete", {"collection": "home", "space": space["similarity"], "ids": ["saw"]})
        assert one["deleted"] == 1  # ids narrow the space
        rest = await call_ok(client, "delete", {"collection": "home", "space": space["similarity"]})
        assert rest["deleted"] == 5
        described = await call_ok(client, "describe_collection", {"collection": "home"})
        assert {s["space"]["task"]: s["rows"] for s in described["spaces"] if s["rows"]} == {"retrieval": 6}
        found = await call_ok(client, "search", {"collection": "home", "query": DOCS[3]["text"], "task": "retrieval"})
        assert len(found["hits"]) == 6  # the other space is whole


async def test_resources_are_readable(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", docs_args("home"))
        listed = await client.list_resources()
        assert {str(r.uri) for r in listed.resources} == {"taskvec://tasks", "taskvec://collections"}
        templates = await client.list_resource_templates()
        assert [t.uri_template for t in templates.resource_templates] == ["taskvec://collections/{name}"]

        tasks = _json_resource(await client.read_resource("taskvec://tasks"))
        assert {"retrieval", "similarity", "classification", "clustering", "code"} <= {
            t["name"] for t in tasks["tasks"]
        }
        assert all(t["space_id"] for t in tasks["tasks"])
        assert all(t["status"] == "unchecked" and "no held-out panel verdict" in t["why"] for t in tasks["tasks"])
        collections = _json_resource(await client.read_resource("taskvec://collections"))
        assert [c["name"] for c in collections["collections"]] == ["home"]
        one = _json_resource(await client.read_resource("taskvec://collections/home"))
        assert one["rows"] == 6 and one["spaces"][0]["space"]["task"] == "retrieval"

        with pytest.raises(MCPError) as missing:
            await client.read_resource("taskvec://collections/nope")
        assert "'nope' does not exist" in str(missing.value) and "Fix:" in str(missing.value)
        for uri in ("taskvec://collections/", "taskvec://collections/a..b"):  # a bad name: invalid params too
            with pytest.raises(MCPError) as bad:
                await client.read_resource(uri)
            assert bad.value.error.code == INVALID_PARAMS and "Fix:" in str(bad.value), uri
        assert missing.value.error.code == INVALID_PARAMS
        assert (await call_ok(client, "list_collections"))["collections"][0]["name"] == "home"


def _json_resource(result: Any) -> Any:
    (content,) = result.contents
    assert content.mime_type == "application/json"
    return json.loads(content.text)


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # direct dispatch (a callback) and JSON-RPC (a progressToken)
async def test_index_reports_progress_per_block(
    tiny_service: TaskvecService, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setattr(service_module, "ENCODE_STEP", 4)  # a "large" batch without encoding thousands of texts
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    docs = [{"id": f"d{i}", "text": f"note number {i}"} for i in range(10)]
    async with Client(build_server(tiny_service), mode=mode) as client:
        with anyio.fail_after(CALL_TIMEOUT):
            result = await client.call_tool("index", docs_args("big", docs=docs), progress_callback=on_progress)
            assert not result.is_error
            quiet = await client.call_tool("index", docs_args("big", docs=docs))  # no callback: no notifications
            assert not quiet.is_error
    # 9: the commit begins (a slow one beats between 9 and 10 every second), 10: it has landed.
    assert seen[:4] == [(0, 10), (4, 10), (8, 10), (9, 10)] and seen[-1] == (10, 10), seen
    assert all(9 < p < 10 and t == 10 for p, t in seen[4:-1]), seen


async def _index_watching_progress(
    service: TaskvecService, mode: str, collection: str, count: int
) -> list[tuple[float, float, str]]:
    """Index ``count`` small documents through a client session: each progress notification as (time, progress,
    message)."""
    seen: list[tuple[float, float, str]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((time.monotonic(), progress, message or ""))

    docs = [{"id": f"d{i}", "text": f"note number {i}"} for i in range(count)]
    async with Client(build_server(service), mode=mode) as client:
        with anyio.fail_after(CALL_TIMEOUT):
            result = await client.call_tool("index", docs_args(collection, docs=docs), progress_callback=on_progress)
    assert not result.is_error
    return seen


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_slow_step_still_reports_progress_every_second(
    tiny_service: TaskvecService, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Steps of 3.5 s (a large model on a busy machine): notifications keep coming at least every ~second, each
    higher than the last, saying which rows are being encoded; the SDK's request timeout can be reset on them."""
    monkeypatch.setattr(service_module, "ENCODE_STEP", 2)
    real_encode = tiny_service.encode

    def slow_encode(*args: Any, **kwargs: Any) -> Any:
        time.sleep(3.5)
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(tiny_service, "encode", slow_encode)
    seen = await _index_watching_progress(tiny_service, mode, "slow", 4)
    values = [p for _, p, _ in seen]
    assert values == sorted(set(values)) and values[0] == 0 and values[-1] == 4, values  # strictly increasing
    gaps = [later - earlier for (earlier, _, _), (later, _, _) in itertools.pairwise(seen)]
    assert max(gaps) < 2.5, gaps  # a step alone lasts 3.5 s
    heartbeats = [m for _, p, m in seen if p not in (0, 2, 4)]
    assert len(heartbeats) >= 4 and "encoding rows 1-2 of 4 documents" in heartbeats, heartbeats


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_slow_commit_still_reports_progress_every_second(
    tiny_service: TaskvecService, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The one commit of an index (LanceDB's write) made to take 3.5 s: "writing N rows" keeps coming at least
    every ~second while it runs, each higher than the last, and the rows land whole once it returns."""
    commit_began, commit_ended = [], []
    real_create = lance_store.create_with

    def slow_create(*args: Any, **kwargs: Any) -> Any:
        commit_began.append(time.monotonic())
        time.sleep(3.5)
        result = real_create(*args, **kwargs)
        commit_ended.append(time.monotonic())
        return result

    monkeypatch.setattr(lance_store, "create_with", slow_create)
    seen = await _index_watching_progress(tiny_service, mode, "slow", 6)
    assert len(store_contents(tiny_service)["slow"]) == 6
    values = [p for _, p, _ in seen]
    assert values == sorted(set(values)) and values[-1] == 6, values  # strictly increasing, then done
    during = [t for t, _, m in seen if commit_began[0] <= t <= commit_ended[0] and "writing 6 rows" in m]
    assert len(during) >= 2, seen  # a commit alone lasts 3.5 s
    stamps = [commit_began[0], *during, commit_ended[0]]
    assert max(later - earlier for earlier, later in itertools.pairwise(stamps)) < 2.5, seen
    assert seen[-1][2] == "wrote 6 rows into 'slow'"


async def test_tool_calls_run_off_the_event_loop(tiny_service: TaskvecService, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call that blocks its thread until a second call has been answered: on the event loop it would deadlock."""
    first_running, second_answered = threading.Event(), threading.Event()
    real_search = TaskvecService.search

    def blocking_search(self: TaskvecService, *args: Any, **kwargs: Any) -> Any:
        first_running.set()
        assert second_answered.wait(timeout=CALL_TIMEOUT), "the second call was not served while this one ran"
        return real_search(self, *args, **kwargs)

    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", docs_args("home"))
        monkeypatch.setattr(TaskvecService, "search", blocking_search)
        results: dict[str, Any] = {}

        async def slow() -> None:
            results["search"] = await call_ok(client, "search", {"collection": "home", "query": DOCS[0]["text"]})

        async def fast() -> None:
            results["describe"] = await call_ok(client, "describe_collection", {"collection": "home"})
            second_answered.set()

        with anyio.fail_after(CALL_TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(slow)
                assert await anyio.to_thread.run_sync(first_running.wait, CALL_TIMEOUT)
                tg.start_soon(fast)
    assert results["describe"]["rows"] == 6 and results["search"]["hits"][0]["id"] == "kettle"


async def test_a_failed_write_leaves_the_collection_as_it_was(
    tiny_service: TaskvecService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All or nothing: a crash in the third step of a large index call leaves nothing of the first two."""
    monkeypatch.setattr(service_module, "ENCODE_STEP", 1)
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", docs_args("home", docs=DOCS[:2]))
        before = store_contents(tiny_service)
        real_encode, calls = tiny_service.encode, []

        def flaky_encode(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 3:
                raise OSError("disk full")
            return real_encode(*args, **kwargs)

        monkeypatch.setattr(tiny_service, "encode", flaky_encode)
        text = await call_error(client, "index", docs_args("home", docs=DOCS[2:]))
        assert "index" in text and "disk full" not in text  # a crash's own text stays in the server log
        assert len(calls) == 3 and store_contents(tiny_service) == before
        monkeypatch.setattr(tiny_service, "encode", real_encode)
        assert (await call_ok(client, "index", docs_args("home", docs=DOCS[2:])))["inserted"] == 4


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_cancelled_index_writes_nothing(
    tiny_service: TaskvecService, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The client gives up after the first progress report: the server stops at its next step, writing nothing."""
    monkeypatch.setattr(service_module, "ENCODE_STEP", 2)
    real_encode, real_index = tiny_service.encode, TaskvecService.index
    finished, upserts = threading.Event(), []

    def slow_encode(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)
        return real_encode(*args, **kwargs)

    def watched_index(self: TaskvecService, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_index(self, *args, **kwargs)
        finally:
            finished.set()

    async with Client(build_server(tiny_service), mode=mode) as client:
        await call_ok(client, "index", docs_args("home", docs=DOCS[:2]))
        before = store_contents(tiny_service)
        monkeypatch.setattr(tiny_service, "encode", slow_encode)
        monkeypatch.setattr(TaskvecService, "index", watched_index)
        monkeypatch.setattr(tiny_service.store, "upsert", lambda *a, **k: upserts.append(1))
        docs = [{"id": f"n{i}", "text": f"note number {i}"} for i in range(40)]
        started = anyio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            if progress > 0:
                started.set()

        with anyio.fail_after(CALL_TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    lambda: client.call_tool("index", docs_args("home", docs=docs), progress_callback=on_progress)
                )
                await started.wait()
                tg.cancel_scope.cancel()
            assert await anyio.to_thread.run_sync(finished.wait, CALL_TIMEOUT), "the server call never stopped"
    assert upserts == [] and store_contents(tiny_service) == before


# --------------------------------------------------------------------------------------------- bad inputs
@pytest.fixture(scope="module")
def stocked(tiny_encoder: Any, tmp_path_factory: pytest.TempPathFactory) -> TaskvecService:
    """One store for every bad-input case (none may change it): 'home' under retrieval, 'examples' labelled."""
    service = TaskvecService(
        tiny_encoder, Store(tmp_path_factory.mktemp("stocked") / "store"), limits=DocumentLimits(max_documents=8)
    )
    service.index("home", DOCS, "retrieval")
    listed = [{**doc, "metadata": {**doc["metadata"], "tags": [doc["metadata"]["label"], "any"]}} for doc in LABELLED]
    service.index("examples", listed, "classification")
    return service


TOO_MANY_DOCS = [{"text": f"note {i}"} for i in range(9)]
FILTER_FIX = "Write the filter as JSON"
BAD_INPUTS: list[tuple[str, dict[str, Any], str, str]] = [
    # (tool, arguments, the field the error must name, a piece of the fix it must give)
    ("index", {"documents": DOCS}, "collection", "Send collection"),
    ("index", {"collection": "a/b", "documents": DOCS}, "collection", "letters, digits"),
    ("index", {"collection": "new", "documents": DOCS, "task": "sorting"}, "task", "Use one of the known tasks"),
    ("index", {"collection": "home", "documents": []}, "documents", "Send documents"),
    ("index", {"collection": "new", "documents": [{"text": "ok"}, {"text": "  "}]}, "documents[1].text", "Remove empty texts"),
    ("index", {"collection": "home", "documents": TOO_MANY_DOCS}, "documents", "at most 8"),
    ("index", {"collection": "home", "documents": [{"id": "x", "text": "a"}, {"id": "x", "text": "b"}]}, "documents[1].id", "unique id"),
    ("index", {"collection": "home", "documents": [{"text": "a", "metadata": {"who": {"n": 1}}}]}, "documents[0].metadata.who", "Flatten"),
    ("index", {"collection": "home", "documents": [{"text": "a", "meta": {"k": 1}}]}, "documents[0].meta", "Remove documents[0].meta"),
    ("search", {"collection": "nope", "query": "kettle"}, "collection", "list_collections"),
    ("search", {"collection": "home", "query": "kettle", "task": "sorting"}, "task", "Use one of the known tasks"),
    ("search", {"collection": "home", "query": "   "}, "query", "Send the question"),
    ("search", {"collection": "home", "query": "kettle", "filter": {"$near": 1}}, "filter.$near", FILTER_FIX),
    ("search", {"collection": "home", "query": "kettle", "filter": "room = 'shed'"}, "filter", FILTER_FIX),
    ("search", {"collection": "home", "query": "kettle", "limit": 0}, "limit", "How many hits"),
    ("search", {"collection": "home", "query": "kettle", "mode": "fuzzy"}, "mode", "'hybrid'"),
    ("search", {"collection": "home", "query": "kettle", "task": "similarity"}, "task", "task='retrieval'"),
    ("similar", {"collection": "home", "text": "kettle"}, "task", "index the collection again with task='similarity'"),
    ("similar", {"collection": "home", "text": "kettle", "task": "retrieval", "threshold": 1.5}, "threshold", "cosine"),
    ("classify", {"texts": [], "labels": ["a", "b"]}, "texts", "Send texts"),
    ("classify", {"texts": ["fine", ""], "labels": ["a", "b"]}, "texts[1]", "Remove empty texts"),
    ("classify", {"texts": ["t"] * 9, "labels": ["a", "b"]}, "texts", "at most 8"),
    ("classify", {"texts": ["t"], "labels": ["a"]}, "labels", "Add the other labels"),
    ("classify", {"texts": ["t"]}, "labels", "Pass labels=[...] or collection="),
    ("classify", {"texts": ["t"], "labels": ["a", "b"], "collection": "examples"}, "labels", "Pass labels=[...] or"),
    ("classify", {"texts": ["t"], "collection": "nope"}, "collection", "list_collections"),
    ("classify", {"texts": ["t"], "collection": "home"}, "task", "task='retrieval'"),
    ("classify", {"texts": ["t"], "collection": "examples", "label_field": "tag"}, "label_field", "label_field"),
    ("cluster", {"texts": ["a", "b"], "collection": "home"}, "collection", "Pass collection="),
    ("cluster", {"texts": ["a", "b", "c"], "k": 4}, "k", "Lower k"),
    ("cluster", {"texts": ["a", "b"], "k": 0}, "k", "Send k"),
    ("cluster", {"collection": "home"}, "task", "index the collection again with task='clustering'"),
    ("cluster", {"collection": "home", "task": "retrieval", "filter": {"room": {"$like": "s%"}}}, "filter.room.$like", FILTER_FIX),
    ("describe_collection", {"collection": "nope"}, "collection", "list_collections"),
    ("describe_collection", {"collection": "../etc"}, "collection", "letters, digits"),
    ("delete", {"collection": "home"}, "ids", "Pass ids=[...], a metadata filter or a space id"),
    ("delete", {"collection": "nope", "ids": ["kettle"]}, "collection", "list_collections"),
    ("delete", {"collection": "home", "filter": {"room": {"$gt": ["a"]}}}, "filter.room.$gt", "Compare against a string"),
    ("delete", {"collection": "home", "ids": "kettle"}, "ids", "Send ids"),
    ("index", {"collection": "home", "documents": [{"id": "  ", "text": "a"}]}, "documents[0].id", "short string id"),
    ("search", {"collection": "home", "query": "kettle", "limit": True}, "limit", "How many hits"),
    ("search", {"collection": "home", "query": "kettle", "limit": "5"}, "limit", "How many hits"),
    ("search", {"collection": "home", "query": "kettle", "rerank": "false"}, "rerank", "or search without rerank"),
    ("similar", {"collection": "home", "text": "  ", "task": "retrieval"}, "text", "Send the question"),
    ("rerank", {"query": "kettle", "texts": ["a", "b"]}, "task", "tasks TOML file."),
    ("cluster", {"texts": ["a", "b"], "filter": {"room": "shed"}}, "filter", "Leave filter out"),
    ("search", {"collection": "home", "query": "kettle", "filter": {"room": None}}, "filter.room", '{"$exists": false}'),
    ("classify", {"texts": ["t"], "collection": "examples", "label_field": "tags"}, "label_field", "one label per document"),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "arguments", "field", "fix"), BAD_INPUTS, ids=[f"{c[0]}:{c[2]}" for c in BAD_INPUTS])
async def test_bad_input_is_an_actionable_error_that_changes_nothing(
    stocked: TaskvecService, tool: str, arguments: dict[str, Any], field: str, fix: str
) -> None:
    before = store_contents(stocked)
    async with Client(build_server(stocked)) as client:
        text = await call_error(client, tool, arguments)
        assert f"(field: {field})" in text, text
        assert "Fix: " in text and fix in text.split("Fix: ", 1)[1], text
        assert "pydantic" not in text and "Traceback" not in text, text
        assert store_contents(stocked) == before
        listed = await call_ok(client, "list_collections")  # and the server goes on serving
        assert [c["name"] for c in listed["collections"]] == ["examples", "home"]


async def test_guard_refusal_names_the_held_task_and_both_ways_out(stocked: TaskvecService) -> None:
    async with Client(build_server(stocked)) as client:
        text = await call_error(client, "search", {"collection": "home", "query": "kettle", "task": "similarity"})
    assert text.count("Refused") == 1 and "collection 'home'" in text
    assert "indexed with task(s) 'retrieval', not 'similarity'" in text  # what it holds, what was asked
    assert "search with task='retrieval'" in text  # way out 1: the held task
    assert "index the collection again with task='similarity'" in text  # way out 2: index for this task too


async def test_unknown_arguments_are_refused_not_ignored(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        await call_ok(client, "index", docs_args("home"))
        text = await call_error(client, "search", {"collection": "home", "query": "tools", "filters": {"room": "x"}})
        assert "filters" in text and "Fix:" in text  # a misspelt filter must not run an unfiltered search


async def test_index_answers_the_ids_it_wrote_and_a_page_past_the_end_is_empty(tiny_service: TaskvecService) -> None:
    async with Client(build_server(tiny_service)) as client:
        indexed = await call_ok(client, "index", docs_args("home", docs=[DOCS[0], {"text": "No id given."}]))
        assert indexed["ids"][0] == "kettle" and len(indexed["ids"]) == 2
        derived = await call_ok(client, "get_documents", {"collection": "home", "ids": indexed["ids"][1:]})
        assert [d["text"] for d in derived["documents"]] == ["No id given."] and derived["missing"] == []
        for offset in (2, 2**32, 2**63):  # past the end, however far: an empty last page
            page = await call_ok(client, "get_documents", {"collection": "home", "offset": offset})
            assert (page["documents"], page["next_offset"]) == ([], None)


async def test_an_unexpected_failure_says_which_tool_once(
    tiny_service: TaskvecService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("a bug")

    monkeypatch.setattr(tiny_service.store, "collection_names", broken)
    async with Client(build_server(tiny_service)) as client:
        text = await call_error(client, "list_collections", {})
    assert text.count("Error executing tool list_collections") == 1 and "failed unexpectedly (OverflowError)" in text
    assert "a bug" not in text
