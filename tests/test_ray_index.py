"""Bulk indexing on Ray (``taskvec index --ray``): a real local Ray, the tiny model, a real LanceDB store.

The Ray path must store exactly what the single-process path stores (ids, chunks, texts, space, vectors), survive a
worker killed mid-run without losing or doubling a row, and fail before writing anything when its workers cannot
finish or make vectors in another space.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from helpers import make_random_adapter, write_tasks_file

from taskvec.cli import main
from taskvec.errors import SpaceMismatchError, WorkerError
from taskvec.ingest.ray_index import EncoderWorker, RayEncoderPool

COLUMNS = ["key", "id", "text", "metadata", "parent_id", "task", "space_id"]


def corpus_file(path: Path, n: int) -> Path:
    """``n`` documents, every fifth long enough for the tiny model (64 tokens) to chunk."""
    lines = []
    for i in range(n):
        text = f"note {i} about topic {i % 7}: " + ("a longer passage of words " * 12 if i % 5 == 0 else "short")
        lines.append(json.dumps({"id": f"d{i}", "text": text, "topic": i % 7}))
    path.write_text("\n".join(lines))
    return path


def rows_of(store: Path, collection: str) -> pa.Table:
    import lancedb

    return lancedb.connect(str(store)).open_table(collection).to_arrow().sort_by("key")


def assert_same_rows(ray_rows: pa.Table, local_rows: pa.Table) -> None:
    """Same rows (keys unique: nothing doubled), same columns, vectors equal to float rounding."""
    assert ray_rows.num_rows == local_rows.num_rows
    assert len(set(ray_rows["key"].to_pylist())) == ray_rows.num_rows
    for column in COLUMNS:
        assert ray_rows[column].to_pylist() == local_rows[column].to_pylist(), column
    ray_vectors = np.array(ray_rows["vector"].to_pylist(), dtype=np.float32)
    local_vectors = np.array(local_rows["vector"].to_pylist(), dtype=np.float32)
    np.testing.assert_allclose(ray_vectors, local_vectors, atol=1e-5)


# ------------------------------------------------------------------------------------------ no Ray installed
@pytest.fixture()
def cli_env(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny model in fp32 (exact on every CPU) and a store under tmp_path; returns the store."""
    store = tmp_path / "store"
    for key, value in {
        "TASKVEC_MODEL": str(tiny_model_dir),
        "TASKVEC_STORE": str(store),
        "TASKVEC_DTYPE": "fp32",
        "HF_HUB_OFFLINE": "1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return store


def test_ray_without_ray_installed_says_how_to_install_it(cli_env: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError, as where it is absent
    corpus = corpus_file(tmp_path / "c.jsonl", 3)
    assert main(["index", str(corpus), "-c", "docs", "--ray", "-q"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "--ray needs Ray" in err and "pip install 'taskvec[ray]'" in err and "Fix:" in err
    assert not cli_env.exists()  # refused before anything was read, loaded or written


def test_ray_workers_needs_ray(cli_env: Path, tmp_path: Path, capsys) -> None:
    corpus = corpus_file(tmp_path / "c.jsonl", 3)
    assert main(["index", str(corpus), "-c", "docs", "--ray-workers", "2", "-q"]) == 2
    assert "--ray-workers needs --ray" in capsys.readouterr().err
    assert not cli_env.exists()


# ------------------------------------------------------------------------------------------------ real Ray
@pytest.mark.slow
def test_cli_ray_path_stores_the_rows_the_single_process_path_stores(
    cli_env: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """`taskvec index --ray --ray-workers 2` (starting its own local Ray) against `taskvec index`, with a task
    that has a LoRA adapter: the workers load it from the same tasks file."""
    import ray

    assert not ray.is_initialized()
    make_random_adapter(tiny_model_dir, tmp_path / "lora", seed=3)
    tasks = write_tasks_file(
        tmp_path / "tasks.toml", '[tasks.notes]\nkind = "retrieval"\nprompt = "note: "\nadapter = "lora"\n'
    )
    monkeypatch.setenv("TASKVEC_TASKS_FILE", str(tasks))
    corpus = corpus_file(tmp_path / "c.jsonl", 300)
    assert main(["index", str(corpus), "-c", "local", "-t", "notes", "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main(["index", str(corpus), "-c", "onray", "-t", "notes", "--ray", "--ray-workers", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    on_ray = json.loads(out)  # stdout is the result alone: Ray's own output stays off it
    assert "on 2 Ray workers" in err  # progress on stderr, as the normal path's
    assert not ray.is_initialized()  # the local Ray it started is shut down
    assert on_ray["space"]["id"] == local["space"]["id"] and on_ray["space"]["adapter"] == "lora"
    for field in ("documents", "rows_written", "inserted", "chunked_documents", "chunks", "truncated"):
        assert on_ray[field] == local[field], field
    assert local["chunks"] > 0 and local["rows_written"] > 300  # chunking ran, and the rows span several blocks
    assert_same_rows(rows_of(cli_env, "onray"), rows_of(cli_env, "local"))


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A local Ray of two CPUs for this module's pools (which join it, and leave it running)."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def pool(tiny_model_dir: Path, worker_class: type, *, workers: int = 2, retries: int = 3) -> RayEncoderPool:
    """Workers of the tiny model in fp32 (the driver's encoder), 16 rows a block. Each worker start imports torch
    and loads the model: seconds on a shared machine, hence one worker where one shows the point."""
    options = {"model": str(tiny_model_dir), "device": "cpu", "dtype": "fp32"}
    return RayEncoderPool(options, workers=workers, block_rows=16, retries=retries, worker_class=worker_class)


def documents(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"d{i}", "text": f"document {i} on subject {i % 5}", "metadata": {"n": i}} for i in range(offset, n)]


def crashing(marker: Path | None) -> type:
    """A worker whose process dies (os._exit, as kill -9 would) on its first block: once in all (the first to
    create ``marker``), or on every block when ``marker`` is None. Defined here, so Ray ships it by value."""

    class Crashing(EncoderWorker):
        def encode(self, texts: list[str], task: str) -> tuple[str, np.ndarray, int]:
            if marker is None:
                os._exit(1)
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return super().encode(texts, task)
            os._exit(1)

    return Crashing


@pytest.mark.slow
def test_a_killed_worker_is_restarted_and_its_block_retried(ray_cluster, tiny_service, tiny_model_dir, tmp_path):
    marker = tmp_path / "crashed"
    docs = documents(64)
    with pool(tiny_model_dir, crashing(marker)) as encode_rows:
        on_ray = tiny_service.index("onray", docs, "retrieval", encode_rows=encode_rows)
    assert marker.exists()  # a worker did die mid-run
    local = tiny_service.index("local", docs, "retrieval")
    assert on_ray.rows_written == local.rows_written == 64 and on_ray.inserted == 64
    assert_same_rows(rows_of(tmp_path / "store", "onray"), rows_of(tmp_path / "store", "local"))


@pytest.mark.slow
def test_a_worker_dead_past_its_retries_fails_the_run_and_writes_nothing(
    ray_cluster, tiny_service, tiny_model_dir, tmp_path
) -> None:
    tiny_service.index("docs", documents(10), "retrieval")
    before = rows_of(tmp_path / "store", "docs")
    dying = pool(tiny_model_dir, crashing(None), workers=1, retries=0)  # retried blocks: the test above
    with dying as encode_rows, pytest.raises(WorkerError) as failed:
        tiny_service.index("docs", documents(40, offset=5), "retrieval", encode_rows=encode_rows)
    assert "Nothing was written" in str(failed.value) and "Fix:" in str(failed.value)
    assert rows_of(tmp_path / "store", "docs").equals(before)


def other_space() -> type:
    """A worker whose encoder is not the driver's (another model or adapter on its node)."""

    class OtherSpace(EncoderWorker):
        def encode(self, texts: list[str], task: str) -> tuple[str, np.ndarray, int]:
            _, vectors, truncated = super().encode(texts, task)
            return "another-space", vectors, truncated

    return OtherSpace


@pytest.mark.slow
def test_vectors_from_another_space_are_refused(ray_cluster, tiny_service, tiny_model_dir, tmp_path) -> None:
    other = pool(tiny_model_dir, other_space(), workers=1)
    with other as encode_rows, pytest.raises(SpaceMismatchError, match="another-space"):
        tiny_service.index("docs", documents(20), "retrieval", encode_rows=encode_rows)
    assert not tiny_service.store.exists("docs")
