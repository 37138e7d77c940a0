"""Blended tasks (taskvec.engine.blend): the bare model's vector and the adapter's side by side, weighted by the
adapter's share, in a space of their own and twice the width."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import make_random_adapter, write_tasks_file

from taskvec.engine import Encoder, EncodeRow, Task
from taskvec.engine.queue import EncodeQueue
from taskvec.errors import InvalidInputError, SpaceMismatchError

TEXTS = ["a dog runs in the park", "stock markets fell sharply", "how do vaccines work?", "the cat sleeps"]


@pytest.fixture(scope="module")
def blend_tasks(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("blend")
    make_random_adapter(tiny_model_dir, root / "grouping-adapter", seed=5)
    return write_tasks_file(
        root / "tasks.toml",
        """
[tasks.grouping]
kind = "clustering"
prompt = "g: "
adapter = "grouping-adapter"
blend = 0.25

[tasks.grouping-alone]
kind = "clustering"
prompt = "g: "
adapter = "grouping-adapter"
""",
    )


@pytest.fixture(scope="module")
def encoder(tiny_model_dir: Path, blend_tasks: Path) -> Encoder:
    return Encoder(tiny_model_dir, tasks_file=blend_tasks, device="cpu", dtype="fp32")


def test_a_blended_vector_is_the_bare_and_the_adapter_vectors_side_by_side(encoder: Encoder) -> None:
    task = encoder.tasks["grouping"]
    assert task.blend == 0.25 and encoder.tasks["grouping-alone"].blend is None
    vectors = encoder.encode(TEXTS, "grouping").vectors
    bare = encoder.encode(TEXTS, Task("bare", "clustering", "no prompt, no adapter")).vectors
    adapted = encoder.encode(TEXTS, "grouping-alone").vectors
    assert vectors.shape == (len(TEXTS), 2 * encoder.dimension)
    assert np.allclose(vectors, np.hstack([np.sqrt(0.75) * bare, np.sqrt(0.25) * adapted]), atol=1e-6)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the promise of the docstring: cosine = (1 - s) * bare cosine + s * adapter cosine
    assert np.allclose(vectors @ vectors.T, 0.75 * bare @ bare.T + 0.25 * adapted @ adapted.T, atol=1e-5)
    assert not np.allclose(bare, adapted, atol=1e-3)  # the random adapter moves the vectors: the test can fail


def test_the_share_is_part_of_the_space_and_plain_spaces_keep_their_ids(encoder: Encoder) -> None:
    blended, alone = encoder.space("grouping"), encoder.space("grouping-alone")
    assert blended.blend == 0.25 and blended.dimension == 2 * alone.dimension
    assert blended.id != alone.id and blended.id != encoder.space(replace(encoder.tasks["grouping"], blend=0.5)).id
    assert "blend" not in alone.to_dict() and blended.to_dict()["blend"] == 0.25
    assert "blended with the bare model (adapter share 0.25)" in blended.describe()
    assert type(blended).from_dict(json.loads(json.dumps(blended.to_dict()))).id == blended.id


def test_blended_and_plain_rows_cannot_share_a_call(encoder: Encoder) -> None:
    with pytest.raises(InvalidInputError) as info:
        encoder.encode_rows([EncodeRow("one", "grouping"), EncodeRow("two", "grouping-alone")])
    assert info.value.field == "task" and "'grouping'" in str(info.value) and "own" in info.value.fix
    # rows of two shares are the same width: they may mix, each with its own share
    half = replace(encoder.tasks["grouping"], name="grouping-half", blend=0.5)
    mixed = encoder.encode_rows([EncodeRow(TEXTS[0], "grouping"), EncodeRow(TEXTS[0], half)]).vectors
    assert np.allclose(mixed[0], encoder.encode(TEXTS[:1], "grouping").vectors[0], atol=1e-6)
    assert np.allclose(mixed[1], encoder.encode(TEXTS[:1], half).vectors[0], atol=1e-6)


def test_the_queue_blends_as_the_encoder_does(encoder: Encoder) -> None:
    queue = EncodeQueue(encoder, max_wait_ms=0)
    try:
        result = queue.submit([EncodeRow(t, "grouping") for t in TEXTS])
    finally:
        queue.close()
    direct = encoder.encode(TEXTS, "grouping")
    assert result.vectors.shape == direct.vectors.shape
    assert np.allclose(result.vectors, direct.vectors, atol=1e-6) and result.space_ids == direct.space_ids


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("0", "strictly between"),
        ("1", "strictly between"),
        ("1.5", "strictly between"),
        ('"x"', "strictly between"),
        ("true", "strictly between"),
    ],
)
def test_a_bad_share_in_a_tasks_file_names_the_field(blend_tasks: Path, tmp_path: Path, value: str, said: str) -> None:
    from taskvec.engine import TaskRegistry
    from taskvec.engine.profiles import profile_for

    adapter = blend_tasks.parent / "grouping-adapter"
    path = write_tasks_file(
        tmp_path / "t.toml", f'[tasks.g]\nkind = "clustering"\nadapter = "{adapter}"\nblend = {value}\n'
    )
    with pytest.raises(InvalidInputError) as info:
        TaskRegistry.from_profile(profile_for("x"), path)
    assert info.value.field == "tasks.g.blend" and said in str(info.value) and "0.25" in info.value.fix


def test_a_share_needs_an_adapter_and_a_new_adapter_drops_the_old_share(blend_tasks: Path, tmp_path: Path) -> None:
    from taskvec.engine import TaskRegistry
    from taskvec.engine.profiles import profile_for

    registry = TaskRegistry.from_profile(profile_for("x"), blend_tasks)
    lonely = write_tasks_file(tmp_path / "a.toml", '[tasks.g]\nkind = "clustering"\nblend = 0.3\n')
    with pytest.raises(InvalidInputError) as info:
        registry.with_file(lonely)
    assert info.value.field == "tasks.g.blend" and "no adapter" in str(info.value)
    adapter = blend_tasks.parent / "grouping-adapter"
    moved = write_tasks_file(tmp_path / "b.toml", f'[tasks.grouping]\nadapter = "{adapter}"\n')
    assert registry["grouping"].blend == 0.25 and registry.with_file(moved)["grouping"].blend is None
    off = write_tasks_file(tmp_path / "c.toml", '[tasks.grouping]\nblend = ""\n')
    assert registry.with_file(off)["grouping"].blend is None
    assert registry.with_file(off)["grouping"].adapter == registry["grouping"].adapter


def test_a_blended_collection_stores_and_searches_wide_vectors(encoder: Encoder, tmp_path: Path) -> None:
    from taskvec.service import TaskvecService
    from taskvec.store import Store

    service = TaskvecService(encoder, Store(tmp_path / "store"))
    service.index("groups", [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)], task="grouping")
    assert service.describe_collection("groups").dimension == 2 * encoder.dimension
    assert service.search(TEXTS[1], "groups", "grouping", limit=2).hits[0].id == "1"
    with pytest.raises(SpaceMismatchError) as info:  # the guard: the adapter alone is another space
        service.search(TEXTS[1], "groups", "grouping-alone", limit=2)
    assert "grouping" in str(info.value)


def test_the_guard_sends_a_task_of_another_width_to_a_collection_of_its_own(encoder: Encoder, tmp_path: Path) -> None:
    """Indexing the collection again cannot be the way out where the requested task's vectors are of another width
    than the collection's (the store refuses the write): the refusal says to use a new collection, and that works."""
    from taskvec.service import TaskvecService
    from taskvec.store import Store

    service = TaskvecService(encoder, Store(tmp_path / "store"))
    docs = [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)]
    service.index("narrow", docs, task="grouping-alone")
    service.index("wide", docs, task="grouping")
    for collection, task in (("narrow", "grouping"), ("wide", "grouping-alone")):
        with pytest.raises(SpaceMismatchError) as refused:
            service.search(TEXTS[1], collection, task, limit=2)
        assert f"index the documents into a new collection with task={task!r}" in refused.value.fix
        assert "index the collection again" not in refused.value.fix
        with pytest.raises(SpaceMismatchError):  # what the advice steers away from
            service.index(collection, docs, task=task)
        service.index(f"{collection}-{task}", docs, task=task)  # what it gives
        assert service.search(TEXTS[1], f"{collection}-{task}", task, limit=1).hits[0].id == "1"


def test_a_pass_counts_for_its_share_only(tmp_path: Path) -> None:
    from taskvec.engine.profiles import panel_passes

    decision = {"adapter": True, "provisional": False}
    (tmp_path / "taskvec_training.json").write_text(json.dumps({"panel": {"decision": decision, "blend": 0.25}}))
    assert panel_passes(tmp_path, 0.25) and not panel_passes(tmp_path) and not panel_passes(tmp_path, 0.5)
    (tmp_path / "taskvec_training.json").write_text(json.dumps({"panel": {"decision": decision}}))
    assert panel_passes(tmp_path) and not panel_passes(tmp_path, 0.25)


def test_the_share_is_chosen_on_validation_by_the_written_rule() -> None:
    """benchmarks/blend_share.py: a share whose unseen sets are down is out, whatever it gains at home."""
    from helpers import load_benchmark

    choose = load_benchmark("blend_share").choose

    def row(change: float, verdict: str) -> dict[str, dict[str, object]]:
        return {"change": change, "verdict": verdict}  # type: ignore[return-value]

    rows = {
        "home": {
            "h": {"0.25_vs_base": row(0.01, "up"), "0.5_vs_base": row(0.03, "up"), "0.75_vs_base": row(0.05, "up")}
        },
        "unseen": {
            "u": {
                "0.25_vs_base": row(0.0, "level"),
                "0.5_vs_base": row(-0.01, "level"),
                "0.75_vs_base": row(-0.02, "down"),
            }
        },
    }
    assert choose(rows, ("0.25", "0.5", "0.75")) == "0.5"
    rows["unseen"]["u"]["0.25_vs_base"] = rows["unseen"]["u"]["0.5_vs_base"] = row(-0.02, "down")
    assert choose(rows, ("0.25", "0.5", "0.75")) is None


def test_a_blended_task_cannot_join_a_collection_of_narrow_vectors(encoder: Encoder, tmp_path: Path) -> None:
    from taskvec.service import TaskvecService
    from taskvec.store import Store

    service = TaskvecService(encoder, Store(tmp_path / "store"))
    service.index("mixed", [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)], task="grouping-alone")
    with pytest.raises(SpaceMismatchError) as info:
        service.index("mixed", [{"id": "new", "text": "another text"}], task="grouping")
    assert info.value.field == "collection" and "blended" in str(info.value) and "own" in info.value.fix
    assert service.describe_collection("mixed").rows == len(TEXTS)  # nothing lost, nothing added


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["checks", "--task", "clustering", "--blend", "0.3"], "Pass --adapter DIR"),
        (["panel", "--task", "clustering", "--adapter", "none", "--blend", "0.3"], "Pass --adapter DIR"),
        (["panel", "--task", "retrieval", "--blend", "0.3", "--mode", "hybrid"], "drop --blend"),
    ],
)
def test_eval_refuses_a_blend_it_would_ignore(args: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before any model loads, naming --blend and the way out."""
    from taskvec.cli import main

    assert main(["eval", *args]) == 2
    err = capsys.readouterr().err
    assert "--blend" in err and said in err


def test_eval_takes_a_share_strictly_between_0_and_1(capsys: pytest.CaptureFixture[str]) -> None:
    from taskvec.cli import main

    with pytest.raises(SystemExit):
        main(["eval", "panel", "--task", "clustering", "--blend", "1"])
    assert "strictly between 0 and 1" in capsys.readouterr().err


async def test_an_agent_clusters_a_blended_collection_over_mcp(encoder: Encoder, tmp_path: Path) -> None:
    """A real in-memory MCP session: index and cluster with a blended task; taskvec://tasks names its share."""
    from helpers import call_ok
    from mcp import Client

    from taskvec.server import build_server
    from taskvec.service import TaskvecService
    from taskvec.store import Store

    service = TaskvecService(encoder, Store(tmp_path / "store"))
    docs = [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)]
    async with Client(build_server(service)) as client:
        await call_ok(client, "index", {"collection": "groups", "documents": docs, "task": "grouping"})
        clusters = await call_ok(client, "cluster", {"collection": "groups", "task": "grouping", "k": 2})
        assert {m["id"] for c in clusters["clusters"] for m in c["members"]} == {d["id"] for d in docs}
        (content,) = (await client.read_resource("taskvec://tasks")).contents
        tasks = {t["name"]: t for t in json.loads(content.text)["tasks"]}
        assert tasks["grouping"]["blend"] == 0.25 and tasks["grouping-alone"]["blend"] is None
    assert service.describe_collection("groups").dimension == 2 * encoder.dimension


def test_a_truncated_blend_is_two_truncated_halves(tiny_model_dir: Path, blend_tasks: Path) -> None:
    """Matryoshka truncation applies to each half: the blended width is twice truncate_dim, still unit-length."""
    short = Encoder(tiny_model_dir, tasks_file=blend_tasks, device="cpu", dtype="fp32", truncate_dim=16)
    vectors = short.encode(TEXTS, "grouping").vectors
    assert vectors.shape == (len(TEXTS), 32) == (len(TEXTS), short.space("grouping").dimension)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    halves = short.encode(TEXTS, Task("bare", "clustering", "b")).vectors, short.encode(TEXTS, "grouping-alone").vectors
    assert np.allclose(vectors, np.hstack([np.sqrt(0.75) * halves[0], np.sqrt(0.25) * halves[1]]), atol=1e-6)


def test_the_upgrade_override_restores_the_old_clustering_space(tmp_path: Path) -> None:
    """README's upgrade note: the override gives back the space clustering had before it was blended (its id then,
    computed from the files alone), and the new default is another space, twice as wide."""
    from taskvec.engine.task_spaces import TaskSpaces

    override = write_tasks_file(tmp_path / "old.toml", '[tasks.clustering]\nprompt = ""\nadapter = ""\n')
    old = TaskSpaces.from_files(None, tasks_file=override)
    new = TaskSpaces.from_files(None)
    assert old is not None and new is not None
    assert old.space("clustering").id == "56071ad3f8f5e380"  # the id before blends existed (a HEAD~ worktree)
    assert new.space("clustering").blend == 0.25 and new.space("clustering").dimension == 768


def test_a_share_without_an_adapter_is_refused_by_the_encoder(encoder: Encoder) -> None:
    """A Task built in code (no tasks file to check it) with a share and no adapter fails before any forward pass."""
    with pytest.raises(InvalidInputError) as info:
        encoder.encode(TEXTS, Task("lonely", "clustering", "no adapter", blend=0.3))
    assert info.value.field == "task" and "'lonely'" in str(info.value) and "no adapter" in str(info.value)
