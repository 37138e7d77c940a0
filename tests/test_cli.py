"""The command line, run as a user would: a subprocess per command, on a tiny model and a temporary store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskvec.cli import main
from taskvec.engine.tasks import BUILTIN_TASKS


@pytest.fixture()
def env(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "TASKVEC_MODEL": str(tiny_model_dir),
        "TASKVEC_STORE": str(tmp_path / "store"),
        "HF_HUB_OFFLINE": "1",
        "TASKVEC_CACHE_DIR": str(tmp_path / "cache"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return values


@pytest.fixture()
def run(env: dict[str, str], capsys: pytest.CaptureFixture[str]):
    """``taskvec ARGS`` in this process (loading torch once); returns (exit code, stdout, stderr)."""

    def _run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        assert (code == 0) == ok, err
        return subprocess.CompletedProcess(args, code, out, err)

    return _run


def test_entry_point_as_a_subprocess(env: dict[str, str], tmp_path: Path) -> None:
    """The installed script itself: results on stdout, errors on stderr with exit code 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "taskvec.cli", "search", "x", "-c", "missing"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "does not exist" in proc.stderr and "Fix:" in proc.stderr


def test_a_store_out_of_reach_is_one_line_before_any_encoding(run, tmp_path: Path, monkeypatch) -> None:
    """An object store whose endpoint refuses connections: exit 69 with the store named and the fix, no traceback,
    and the corpus never encoded (the store is reached first)."""
    import socket

    from taskvec.service import TaskvecService

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    encoded: list[int] = []
    real_encode = TaskvecService.encode
    monkeypatch.setattr(TaskvecService, "encode", lambda *a, **k: encoded.append(1) or real_encode(*a, **k))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "1", "text": "Vaccines train the immune system."}))
    failed = run("index", str(corpus), "-c", "demo", "-q", "--store", "s3://bucket/db", ok=False)
    assert failed.returncode == 69 and encoded == []
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert "Cannot open the store 's3://bucket/db'" in failed.stderr and "Fix: Check TASKVEC_STORE" in failed.stderr


def test_index_search_collections_tasks(run, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(
            json.dumps(d)
            for d in [
                {"id": "1", "text": "Vaccines train the immune system.", "lang": "en"},
                {"id": "2", "text": "Le marché boursier a chuté.", "lang": "fr"},
            ]
        )
    )
    indexed = json.loads(run("index", str(corpus), "-c", "demo", "-t", "retrieval", "-q", "--json").stdout)
    assert indexed["inserted"] == 2 and indexed["task"] == "retrieval"
    found = json.loads(
        run("search", "Vaccines train the immune system.", "-c", "demo", "--json", "--filter", '{"lang": "en"}').stdout
    )
    assert [h["id"] for h in found["hits"]] == ["1"]
    listing = json.loads(run("collections", "--json").stdout)
    assert listing["collections"][0]["name"] == "demo"
    assert listing["collections"][0]["spaces"][0]["space"]["id"] == indexed["space"]["id"]
    tasks = run("tasks").stdout
    assert "retrieval" in tasks and "clustering" in tasks
    # the tiny model has no panel verdicts: every built-in task says so
    assert tasks.count("runs: unchecked - no held-out panel verdict") == len(BUILTIN_TASKS)
    assert "sentiment [classification]" in tasks
    deleted = json.loads(run("delete", "-c", "demo", "--ids", "2", "--json").stdout)
    assert deleted["deleted"] == 1


def test_errors_exit_2_with_a_fix(run, tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "1", "text": "hello"}))
    run("index", str(corpus), "-c", "demo", "-q")
    refused = run("search", "hello", "-c", "demo", "-t", "similarity", ok=False)
    assert refused.returncode == 2 and "--task retrieval" in refused.stderr and "Fix:" in refused.stderr
    assert refused.stdout == ""
    unknown = run("search", "hello", "-c", "demo", "-t", "nope", ok=False)
    assert "Known tasks" in unknown.stderr
    bad_name = run("index", str(corpus), "-c", "../escape", "-q", ok=False)
    assert "not allowed" in bad_name.stderr
    unweighed = run("search", "hello", "-c", "demo", "--keyword-weight", "0.5", ok=False)
    assert "Fix: Pass --mode hybrid with it, or leave --keyword-weight out." in unweighed.stderr
    weighed = json.loads(
        run("search", "hello", "-c", "demo", "--mode", "hybrid", "--keyword-weight", "0.9", "--json").stdout
    )
    assert weighed["keyword_weight"] == 0.9 and [h["id"] for h in weighed["hits"]] == ["1"]
    bad_filter = run("search", "hello", "-c", "demo", "--filter", "{oops", ok=False)
    assert "not valid JSON" in bad_filter.stderr


def test_bad_settings_and_paths_are_one_line_before_any_model(run, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TASKVEC_ANN_THRESHOLD", "many")
    bad = run("collections", ok=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "TASKVEC_ANN_THRESHOLD" in bad.stderr
    assert "Fix:" in bad.stderr
    monkeypatch.delenv("TASKVEC_ANN_THRESHOLD")
    missing = run("index", str(tmp_path / "nope.jsonl"), "-c", "demo", ok=False)
    assert "No such file or folder" in missing.stderr and "nope.jsonl" in missing.stderr


def test_index_takes_its_chunking_defaults_from_the_settings(run, monkeypatch, tmp_path: Path) -> None:
    corpus = tmp_path / "long.jsonl"
    corpus.write_text(json.dumps({"id": "long", "text": " ".join(f"word{i}" for i in range(120))}))
    monkeypatch.setenv("TASKVEC_CHUNK_TOKENS", "16")
    monkeypatch.setenv("TASKVEC_CHUNK_OVERLAP", "4")
    small = json.loads(run("index", str(corpus), "-c", "chunks", "-q", "--json").stdout)
    bigger = json.loads(run("index", str(corpus), "-c", "chunks", "-q", "--json", "--chunk-tokens", "40").stdout)
    assert small["chunks"] > bigger["chunks"] > 1 and bigger["removed"] == small["chunks"] - bigger["updated"]
    documents = json.loads(run("search", "word7", "-c", "chunks", "--json").stdout)
    assert documents["per_document"] is True and [h["parent_id"] for h in documents["hits"]] == ["long"]
    chunks = json.loads(run("search", "word7", "-c", "chunks", "--json", "--all-chunks").stdout)
    assert chunks["per_document"] is False and len(chunks["hits"]) == bigger["chunks"]


def test_classify_and_cluster(run, tmp_path: Path) -> None:
    zero = json.loads(run("classify", "a football match", "--labels", "sports,cooking", "--json").stdout)
    assert zero["method"] == "zero-shot" and len(zero["results"]) == 1
    examples = tmp_path / "ex.jsonl"
    examples.write_text(
        "\n".join(
            json.dumps({"text": t, "label": lab})
            for t, lab in [
                ("goal scored in the final minute", "sports"),
                ("whisk the eggs with sugar", "cooking"),
                ("the striker was injured", "sports"),
                ("bake for twenty minutes", "cooking"),
            ]
        )
    )
    run("index", str(examples), "-c", "ex", "-t", "classification", "-q")
    few = json.loads(run("classify", "whisk the eggs with sugar", "-c", "ex", "--json").stdout)
    assert few["results"][0]["label"] == "cooking"
    run("index", str(examples), "-c", "ex", "-t", "clustering", "-q")
    clusters = json.loads(run("cluster", "-c", "ex", "--k", "2", "--json").stdout)
    assert sum(c["size"] for c in clusters["clusters"]) == 4


def test_index_builds_the_vector_index_a_large_collection_needs(run, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TASKVEC_ANN_THRESHOLD", "256")  # stands for the default 100,000 rows
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(json.dumps({"id": str(i), "text": f"note {i} about topic {i % 7}"}) for i in range(300))
    )
    run("index", str(corpus), "-c", "big", "-t", "retrieval", "-q")
    report = json.loads(run("optimize", "big", "--json").stdout)["big"]
    assert "vector_idx" in report["indexes"] and report["indexes_built"] == []  # built by the index command
    assert report["rows"] == 300
    text = run("optimize", "big").stdout
    assert "indexes " in text and "vector_idx" in text
