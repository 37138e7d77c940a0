"""What README's write guarantees promise, tried as a crashing machine, a second writer and a hostile client would.

- kill -9 at random moments of `taskvec index`: the collection is exactly the old one or the new one;
- chunk boundaries and re-chunking: a document keeps exactly its newest chunk set;
- two processes writing one collection at once: every acknowledged write is there, no key twice, no lost table;
- a seeded fuzz of hostile MCP messages over stdio: every request answered, no traceback, nothing changed;
- oversized and pathological input refused by its limit, with the memory of the server bounded.

The long versions (more kills, more fuzz calls) carry the ``slow`` marker: `make test` (CI) runs them, a plain
`pytest` does not.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fuzz_calls import fuzz_messages
from helpers import TASKVEC_SCRIPT, RawStdioServer, below_the_bar, default_sigint, server_env
from test_store import RETRIEVAL, unit

from taskvec import service as service_module
from taskvec.errors import InvalidInputError
from taskvec.options import ChunkingOptions
from taskvec.service import TaskvecService
from taskvec.store import Document, DocumentLimits, Store
from taskvec.store.filters import compile_filter
from taskvec.store.writer import OPTIMIZE_AT_FRAGMENTS

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
]


def long_text(seed: int, words: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(words))


def table_rows(store_path: Path | str, name: str) -> set[tuple[str, str]]:
    """(key, text) of every row: enough to tell one complete state of a collection from another."""
    store = Store(store_path)
    if not store.exists(name):
        return set()
    table = store.db.open_table(name).to_arrow().select(["key", "text"]).to_pylist()
    return {(r["key"], r["text"]) for r in table}


# ------------------------------------------------------------------------------------------------ kill -9
@pytest.fixture(scope="module")
def kill_setup(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store holding 'c' (80 documents, some chunked), a corpus that replaces half of them and adds 300 more,
    and the collection's rows before and after a complete `taskvec index` of that corpus."""
    from taskvec.engine import Encoder

    root = tmp_path_factory.mktemp("kill")
    before_store = root / "before"
    service = TaskvecService(Encoder(tiny_model_dir, device="cpu"), Store(before_store))
    old = [{"id": f"d{i}", "text": long_text(i, 20 + 60 * (i % 3))} for i in range(80)]
    service.index("c", old, "retrieval")
    corpus = root / "corpus.jsonl"
    new = [{"id": f"d{i}", "text": long_text(1000 + i, 10 + 50 * (i % 4))} for i in range(40, 380)]
    corpus.write_text("\n".join(json.dumps(d) for d in new))
    setup = {
        "root": root,
        "before_store": before_store,
        "corpus": corpus,
        "env": server_env(tiny_model_dir, before_store),
    }
    after = kill_during_index(setup, root / "after", "complete", random.Random(0))  # measures the write's window
    before = table_rows(before_store, "c")
    assert len(after) > len(before) and before != after
    return {**setup, "before": before, "after": after}


def kill_during_index(setup: dict[str, Any], store: Path | str, phase: str, rng: random.Random) -> set[tuple[str, str]]:
    """Run `taskvec index` on ``store`` and kill -9 it in ``phase``; the rows left. A local ``store`` starts as a
    copy of the old store; a remote one must hold the old state already."""
    if isinstance(store, Path):
        shutil.copytree(setup["before_store"], store)
    command = [str(TASKVEC_SCRIPT), "index", str(setup["corpus"]), "-c", "c", "--chunk-tokens", "24"]
    command += ["--chunk-overlap", "4"]
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}  # a remote store's endpoint and keys
    process = subprocess.Popen(
        command,
        env={**setup["env"], **aws, "TASKVEC_STORE": str(store), "PYTHONUNBUFFERED": "1"},  # results as printed
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = {"encoding": threading.Event(), "writing": threading.Event(), "written": threading.Event()}

    def watch(stream: Any, marks: dict[bytes, str]) -> None:  # the progress bar (stderr) and result (stdout)
        buffer = b""
        while chunk := stream.read1(4096):
            buffer = (buffer + chunk)[-4096:]
            for mark, event in marks.items():
                if mark in buffer:
                    seen[event].set()

    for stream, marks in (
        (process.stderr, {b"encoded": "encoding", b"writing": "writing"}),
        (process.stdout, {b"indexed": "written"}),
    ):
        threading.Thread(target=watch, args=(stream, marks), daemon=True).start()
    if phase == "complete":  # no kill: the run must reach the new state; how long its write took is kept
        assert seen["writing"].wait(300), "the run never reached its write"
        writing = time.monotonic()
        assert seen["written"].wait(300) and process.wait(timeout=300) == 0
        setup["write_window"] = time.monotonic() - writing  # from "writing" to the printed result
        return table_rows(store, "c")
    if phase == "start":
        time.sleep(rng.uniform(0.5, 4.0))
    elif phase == "encoding":
        assert seen["encoding"].wait(120), "the run never started encoding"
        time.sleep(rng.uniform(0.0, 0.5))
    else:  # around the commit
        assert seen["writing"].wait(180), "the run never reached its write"
        # Anywhere from the write's first moment to a little past its end (the complete run's write took
        # ``write_window``): before, during and after the commit.
        time.sleep(rng.uniform(0.0, 1.2 * setup.get("write_window", 0.2)))
    process.kill()
    process.wait(timeout=60)
    return table_rows(store, "c")


def check_kills(setup: dict[str, Any], runs: int, seed: int) -> None:
    rng = random.Random(seed)
    outcomes = []
    for run in range(runs):
        phase = ["start", "encoding", "writing"][run % 3]
        rows = kill_during_index(setup, setup["root"] / f"seed-{seed}-run-{run}", phase, rng)
        assert rows in (setup["before"], setup["after"]), f"run {run} ({phase}) left a partial write"
        outcomes.append((phase, "after" if rows == setup["after"] else "before"))
    print(f"kill -9 outcomes: {outcomes}")


def test_kill_during_index_leaves_old_or_new(kill_setup: dict[str, Any]) -> None:
    check_kills(kill_setup, runs=3, seed=1)


@pytest.mark.slow
def test_kill_during_index_leaves_old_or_new_many_times(kill_setup: dict[str, Any]) -> None:
    check_kills(kill_setup, runs=24, seed=2)


def test_after_a_kill_the_store_opens_and_takes_writes(kill_setup: dict[str, Any], tiny_encoder: Any) -> None:
    store = kill_setup["root"] / "reopened"
    rows = kill_during_index(kill_setup, store, "writing", random.Random(3))
    assert rows in (kill_setup["before"], kill_setup["after"])
    service = TaskvecService(tiny_encoder, Store(store))
    service.index("c", [{"id": "fresh", "text": "written after the crash"}], "retrieval")
    assert service.search("written after the crash", "c", limit=1).hits[0].id == "fresh"


def test_kill_during_index_on_s3_leaves_old_or_new(kill_setup: dict[str, Any], s3_endpoint: str) -> None:
    """The same on object storage (a local S3-compatible server): old or new, never part, no lock file needed."""
    from conftest import new_bucket

    from taskvec.engine import Encoder

    encoder = Encoder(kill_setup["env"]["TASKVEC_MODEL"], device="cpu")
    old = [{"id": f"d{i}", "text": long_text(i, 20 + 60 * (i % 3))} for i in range(80)]  # as kill_setup's
    outcomes = []
    for run, phase in enumerate(["complete", "encoding", "writing"]):
        uri = f"s3://{new_bucket(s3_endpoint)}/db"
        TaskvecService(encoder, Store(uri)).index("c", old, "retrieval")
        assert table_rows(uri, "c") == kill_setup["before"]
        rows = kill_during_index(kill_setup, uri, phase, random.Random(run))
        assert rows in (kill_setup["before"], kill_setup["after"]), f"{phase}: a partial write on S3"
        assert phase != "complete" or rows == kill_setup["after"]
        outcomes.append((phase, "after" if rows == kill_setup["after"] else "before"))
    print(f"kill -9 on S3: {outcomes}")


# --------------------------------------------------------------------------------------- chunk boundaries
def test_chunks_that_straddle_encode_steps_all_land(tiny_service: TaskvecService, monkeypatch) -> None:
    """Chunks of one document encoded in different steps are written together (once lost at block edges)."""
    monkeypatch.setattr(service_module, "ENCODE_STEP", 5)
    docs = [{"id": f"d{i}", "text": long_text(i, 40 + 37 * (i % 5))} for i in range(60)]
    chunking = ChunkingOptions(max_tokens=16, overlap=4)
    result = tiny_service.index("c", docs, "retrieval", chunking=chunking)
    table = tiny_service.store.db.open_table("c")
    assert result.chunked_documents > 30 and table.count_rows() == result.rows_written == result.inserted
    parents = table.to_arrow().column("parent_id").to_pylist()
    for doc in docs:  # every chunked document keeps every chunk: ids <id>#0 .. #n-1 with no gap
        n = parents.count(doc["id"])
        if n:
            ids = {i for i, p in zip(table.to_arrow().column("id").to_pylist(), parents, strict=True) if p == doc["id"]}
            assert ids == {f"{doc['id']}#{k}" for k in range(n)}


def test_reindexing_with_another_chunk_size_leaves_no_stale_chunk(tiny_service: TaskvecService) -> None:
    docs = [{"id": f"d{i}", "text": long_text(i, 30 + 25 * (i % 4))} for i in range(40)]
    small = tiny_service.index("c", docs, "retrieval", chunking=ChunkingOptions(max_tokens=16, overlap=4))
    whole = tiny_service.index("c", docs, "retrieval")  # the model's limit: fewer, longer chunks
    table = tiny_service.store.db.open_table("c")
    assert table.count_rows() == whole.rows_written < small.rows_written
    assert whole.removed == small.rows_written - whole.updated
    unchunked = tiny_service.index("c", docs, "retrieval", chunking=ChunkingOptions(enabled=False))
    assert tiny_service.store.db.open_table("c").count_rows() == unchunked.rows_written == len(docs)


# ---------------------------------------------------------------------------------------- two processes
@pytest.mark.parametrize("scenario", ["new-ids", "same-ids", "new-space", "create"])
def test_two_processes_writing_at_once_lose_nothing(scenario: str, tmp_path: Path) -> None:
    store_path = tmp_path / "store"
    if scenario in ("new-ids", "same-ids", "new-space"):  # the collection exists before the race
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("store_writer.py")),
                str(store_path),
                "seed",
                scenario,
                "1",
                "0",
            ],
            check=True,
            capture_output=True,
        )
    rounds, start = 12, time.time() + 3.0
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("store_writer.py")),
                str(store_path),
                who,
                scenario,
                str(rounds),
                str(start),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("A", "B")
    ]
    records = []
    for writer in writers:
        out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
        records += [json.loads(line) for line in out.splitlines()]
    errors = [r["error"] for r in records if "error" in r]
    assert not errors, errors
    store = Store(store_path)
    by_collection: dict[str, list[dict]] = {}
    for record in records:
        by_collection.setdefault(record["collection"], []).append(record)
    for collection, acknowledged in by_collection.items():
        assert store.exists(collection), f"{collection} vanished"
        keys = store.db.open_table(collection).to_arrow().column("key").to_pylist()
        assert len(keys) == len(set(keys)), f"{collection}: a key stored twice"
        for record in acknowledged:
            assert set(record["keys"]) <= set(keys), f"{collection}: an acknowledged write is missing"
        spaces = store.spaces(collection)
        assert {r["space"] for r in acknowledged} <= {sid for sid, (_, n) in spaces.items() if n > 0}


def test_upkeep_keeps_the_files_of_an_index_build_that_is_running(tmp_path: Path) -> None:
    """An index build (a write starts one in the background, without the write lock) writes its files before it
    commits them. The upkeep after many small writes deletes files no version references, so it must keep them
    while a build runs anywhere (stress runs saw it destroy a running build); `optimize` waits for the build and
    then deletes what nothing references (what a crashed write or build left)."""
    writer, builder = Store(str(tmp_path / "store")), Store(str(tmp_path / "store"))
    writer.upsert("c", [Document("first", "the first note")], unit(1), RETRIEVAL)
    in_flight = tmp_path / "store" / "c.lance" / "_indices" / "5f0c4f1e-0000-4000-8000-000000000000" / "index.idx"
    in_flight.parent.mkdir(parents=True)
    in_flight.write_bytes(b"an index file its build has not committed yet")
    with builder._locks.building("c"):  # another process's build, running
        for i in range(OPTIMIZE_AT_FRAGMENTS):
            writer.upsert("c", [Document(f"n{i}", f"note number {i}")], unit(1, 10 + i), RETRIEVAL)
        fragments = writer.db.open_table("c").stats()["fragment_stats"]["num_small_fragments"]
        assert fragments < OPTIMIZE_AT_FRAGMENTS  # the upkeep ran (and compacted)...
        assert in_flight.exists()  # ...and kept the build's file
    writer.optimize("c")  # no build runs now
    assert not in_flight.exists()
    assert writer.describe("c").rows == OPTIMIZE_AT_FRAGMENTS + 1


def test_optimize_waits_for_a_running_index_build(tmp_path: Path) -> None:
    """`taskvec optimize` builds indexes too: it waits for a build another process runs rather than race its commit
    (which stress runs saw refused after five conflicting commits)."""
    writer, builder = Store(str(tmp_path / "store")), Store(str(tmp_path / "store"))
    writer.upsert("c", [Document("first", "the first note")], unit(1), RETRIEVAL)
    holding, released = threading.Event(), threading.Event()

    def build() -> None:
        with builder._locks.building("c"):
            holding.set()
            time.sleep(1.0)
            released.set()

    thread = threading.Thread(target=build)
    thread.start()
    assert holding.wait(30)
    writer.optimize("c")
    assert released.is_set()  # optimize ran after the build let go
    thread.join()


# -------------------------------------------------------------------------------------------- hostile input
def test_pathological_filters_are_refused_before_lancedb() -> None:
    for op in ("$not", "$and", "$or"):
        node: dict[str, Any] = {"lang": "en"}
        for _ in range(44):
            node = {op: node} if op == "$not" else {op: [node]}
        with pytest.raises(InvalidInputError, match=r"nested .* levels deep; the limit is 16"):
            compile_filter(node)
    with pytest.raises(InvalidInputError, match="200000 items; a filter holds at most 256 values in all"):
        compile_filter({"tag": {"$in": list(range(200_000))}})
    with pytest.raises(InvalidInputError, match="beyond ±2\\^53"):
        compile_filter({"n": {"$gt": 10**30}})
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        compile_filter({"s": "\ud800"})


def test_the_deepest_allowed_filter_runs_fast_on_a_real_table(tiny_service: TaskvecService) -> None:
    """The depth limit keeps LanceDB's evaluation small: 15 nested $not (it was exponential: 44 took > 100 s)."""
    tiny_service.index("c", [{"text": "one", "metadata": {"lang": "en"}}, {"text": "two", "metadata": {}}])
    node: dict[str, Any] = {"lang": "en"}
    for _ in range(15):
        node = {"$not": node}
    hits = tiny_service.search("one", "c", filter=node).hits
    assert [h.text for h in hits] == ["two"]  # 15 negations of "lang is en": the row without lang
    assert tiny_service.delete("c", filter=node).deleted == 1


def test_a_type_mismatch_in_one_row_does_not_break_filters(tiny_service: TaskvecService) -> None:
    tiny_service.index(
        "c",
        [
            {"id": "a", "text": "one", "metadata": {"year": 2021, "tags": ["x", "y"]}},
            {"id": "b", "text": "two", "metadata": {"year": "n/a", "tags": "x"}},
            {"id": "c", "text": "three", "metadata": {"year": 2019.5}},
        ],
    )

    def ids(flt: dict) -> set[str]:
        return {h.id for h in tiny_service.search("one", "c", filter=flt).hits}

    assert ids({"year": {"$gte": 2020}}) == {"a"}
    assert ids({"year": {"$lt": 2020}}) == {"c"}
    assert ids({"year": "n/a"}) == {"b"}
    assert ids({"year": {"$ne": 2021}}) == {"b", "c"}
    assert ids({"tags": "x"}) == {"a", "b"}  # a list holding the value matches, as in MongoDB
    assert ids({"tags": {"$in": ["y"]}}) == {"a"}


def test_a_call_over_the_byte_limit_is_refused_and_writes_nothing(tiny_encoder: Any, tmp_path: Path) -> None:
    limits = DocumentLimits(max_documents=100, max_text_bytes=1000, max_call_bytes=5000)
    service = TaskvecService(tiny_encoder, Store(tmp_path / "db"), limits=limits)
    with pytest.raises(InvalidInputError, match="at most 1,000") as one:
        service.index("c", [{"text": "x" * 1001}])
    assert one.value.field == "documents[0].text"
    with pytest.raises(InvalidInputError, match="at most 5,000") as call:
        service.index("c", [{"text": f"{i} " + "y" * 900} for i in range(6)])
    assert call.value.field == "documents" and "documents[5:]" in (call.value.fix or "")
    assert not service.store.exists("c")


# ---------------------------------------------------------------------------------------------- over stdio
def run_fuzz(tiny_model_dir: Path, tmp_path: Path, count: int, seed: int) -> None:
    from taskvec.engine import Encoder

    store_path = tmp_path / "store"
    seeded = TaskvecService(Encoder(tiny_model_dir, device="cpu"), Store(store_path))
    seeded.index("home", [{"id": f"h{i}", "text": f"home note {i}", "metadata": {"lang": "en"}} for i in range(6)])
    seeded.index("spare", [{"id": "s1", "text": "dropped by the one well-formed drop, at the end"}])
    before = table_rows(store_path, "home")
    server = RawStdioServer(server_env(tiny_model_dir, store_path), tmp_path / "stderr.log")
    try:
        server.initialize()
        kinds: dict[str, int] = {}
        for line, request_id, kind in fuzz_messages(seed, count):
            server.send_line(line)
            answer = server.wait_answer(request_id)
            kinds[kind] = kinds.get(kind, 0) + 1
            tool = json.loads(line).get("params", {}).get("name") if kind != "wire" else None
            kinds[tool] = kinds.get(tool, 0) + 1
            text = json.dumps(answer)
            assert "Traceback" not in text and 'File "' not in text, text[:500]
            if "error" in answer:
                assert answer["error"]["message"].strip(), answer
                continue
            result = answer["result"]
            if result.get("isError"):
                message = result["content"][0]["text"]
                assert "Fix:" in message, f"an error without a fix: {message[:300]} for {line[:300]!r}"
                continue
            assert kind != "bad-write", f"a broken write succeeded: {line[:300]!r}"
        assert server.request("tools/list")["result"]["tools"]  # still serving
        assert kinds.get("bad-write", 0) > count // 10 and kinds.get("wire", 0) > 0
        assert kinds.get("drop_collection", 0) > count // 20 and kinds.get("get_documents", 0) > count // 20, kinds
        # No fuzzed drop took a collection; the one well-formed drop takes exactly the one it names.
        assert set(Store(store_path).collection_names()) == {"home", "spare"}
        dropped = server.request("tools/call", {"name": "drop_collection", "arguments": {"collection": "spare"}})
        assert dropped["result"]["structuredContent"] == {"collection": "spare", "dropped_rows": 1}, dropped
        strays = [line for line in server.lines if not line.startswith(b"{")]
        assert not strays, strays[:3]
    finally:
        code = server.close()
    assert code == 0, (tmp_path / "stderr.log").read_text()[-2000:]
    assert table_rows(store_path, "home") == before
    assert set(Store(store_path).collection_names()) == {"home"}


def test_fuzzed_calls_over_stdio_are_all_answered(tiny_model_dir: Path, tmp_path: Path) -> None:
    run_fuzz(tiny_model_dir, tmp_path, count=300, seed=11)


@pytest.mark.slow
def test_thousands_of_fuzzed_calls_over_stdio(tiny_model_dir: Path, tmp_path: Path) -> None:
    run_fuzz(tiny_model_dir, tmp_path, count=3000, seed=12)


@pytest.mark.slow
def test_a_memory_bomb_over_stdio_is_refused_with_bounded_memory(tiny_model_dir: Path, tmp_path: Path) -> None:
    """2,048 documents of 100 KB in one message (200 MB): refused at the wire, the server's peak memory bounded."""
    server = RawStdioServer(server_env(tiny_model_dir, tmp_path / "store"), tmp_path / "stderr.log")
    try:
        server.initialize()
        idle = server.peak_rss_mb()
        text = "w" * 100_000
        documents = ",".join(f'{{"id": "b{i}", "text": "{text}"}}' for i in range(2048))
        server.send_line(
            b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "index", "arguments": '
            b'{"collection": "bomb", "documents": [' + documents.encode() + b"]}}}"
        )
        answer = server.wait_answer(7, timeout=300)
        assert answer["error"]["code"] == -32600 and "at most" in answer["error"]["message"]
        smaller = ",".join(f'{{"id": "b{i}", "text": "{text}"}}' for i in range(400))  # 40 MB: past the call limit
        server.send_line(
            b'{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "index", "arguments": '
            b'{"collection": "bomb", "documents": [' + smaller.encode() + b"]}}}"
        )
        refused = server.wait_answer(8, timeout=300)["result"]
        assert refused["isError"] and "TASKVEC_MAX_CALL_BYTES" in refused["content"][0]["text"]
        growth = server.peak_rss_mb() - idle
        print(f"peak RSS growth {growth:.0f} MB over an idle {idle:.0f} MB")
        assert growth < 1024, f"the server grew by {growth:.0f} MB for refused calls"
    finally:
        server.close()
    assert not Store(tmp_path / "store").exists("bomb")


def test_the_server_answers_bad_lines_at_once(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The SDK drops what it cannot parse; our stdio answers each with a JSON-RPC error naming the problem."""
    server = RawStdioServer(server_env(tiny_model_dir, tmp_path / "store"), tmp_path / "stderr.log")
    try:
        server.initialize()
        server.send_line(
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search", "arguments": '
            b'{"collection": "c", "query": "\\ud800"}}}'
        )
        assert "lone surrogate" in server.wait_answer(1)["error"]["message"]
        deep: dict[str, Any] = {"lang": "en"}
        for _ in range(100):
            deep = {"$and": [deep]}
        params = {"name": "search", "arguments": {"collection": "c", "query": "x", "filter": deep}}
        server.send_line(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}).encode())
        assert "nests" in server.wait_answer(2)["error"]["message"]
        server.send_line(b'{"jsonrpc": "2.0", "id": 3, "method": ')
        assert server.wait_answer(3)["error"]["code"] == -32700
        server.send_line(b'{"jsonrpc": "2.0", "id": "s4", "method": 5}')
        assert server.wait_answer("s4")["error"]["code"] == -32600
        assert server.request("tools/list")["result"]["tools"]
    finally:
        assert server.close() == 0
    assert os.path.getsize(tmp_path / "stderr.log") > 0  # each refusal is logged on stderr


# `taskvec index` with its one commit made to last 3 s (LanceDB's write, wrapped in this test's own process), so
# that a Ctrl-C can land inside it.
_SLOW_COMMIT = """
import sys, time
from taskvec.cli import main
from taskvec.store import lance_store

def slowly(write):
    def slow(*args, **kwargs):
        time.sleep(3)
        return write(*args, **kwargs)
    return slow

lance_store.create_with = slowly(lance_store.create_with)
lance_store.upsert_into = slowly(lance_store.upsert_into)
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("moment", ["encoding", "commit"])
def test_ctrl_c_stops_index_with_one_line_and_exit_130(kill_setup: dict[str, Any], moment: str) -> None:
    """Ctrl-C while encoding: nothing written. Ctrl-C while the commit runs: it lands whole, and the line says
    so. Either way exactly one line below the bar (no notice from the handler, no traceback, nothing from a
    thread or library at exit), nothing on stdout, exit 130. (While the model loads: test_cli_verbs.py.)"""
    store = kill_setup["root"] / f"interrupted-{moment}"
    shutil.copytree(kill_setup["before_store"], store)
    index = ["index", str(kill_setup["corpus"]), "-c", "c", "--chunk-tokens", "24", "--chunk-overlap", "4"]
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_COMMIT, *index],
        env={**os.environ, **kill_setup["env"], "TASKVEC_STORE": str(store)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=default_sigint,
    )
    assert process.stderr is not None
    seen, mark = b"", b"encoded" if moment == "encoding" else b"writing"  # "writing": the commit begins
    while mark not in seen:
        chunk = process.stderr.read1(4096)
        assert chunk, f"the run ended before {moment}: {seen.decode(errors='replace')[-1000:]}"
        seen += chunk
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    text = (seen + err).decode(errors="replace")
    assert process.returncode == 130 and out == b"", text[-2000:]
    (line,) = below_the_bar(text, "index c")
    expected = (
        r"taskvec: interrupted: nothing was written; the collection is as it was\."
        if moment == "encoding"
        else r"taskvec: interrupted as the write committed: all \d+ rows are in 'c'( \(`taskvec optimize` builds its indexes\))?\."
    )
    assert re.fullmatch(expected, line), text[-2000:]
    assert table_rows(store, "c") == kill_setup["before" if moment == "encoding" else "after"]
