"""Rerank tasks: a CrossEncoder folder scored as sentence-transformers scores it, the residual rerank adapter on the
shared backbone, pairs through the encode queue, and reranked search, the rerank tool and their bad-input rules."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_tasks_file
from model_families import HIDDEN

from taskvec.engine import Encoder
from taskvec.engine.encoder import EncodeRow
from taskvec.engine.queue import EncodeQueue
from taskvec.engine.rerank import (
    HEAD_FILE,
    RERANK_CONFIG,
    AdapterReranker,
    CrossEncoderReranker,
    ScoreHead,
    build_reranker,
)
from taskvec.errors import InvalidInputError, ModelLoadError
from taskvec.service import TaskvecService
from taskvec.store import DocumentLimits, Store

QUERY = "how do vaccines teach the immune system?"
TEXTS = [
    "Vaccines teach the immune system to recognise a pathogen.",
    "The quick brown fox jumps over the lazy dog.",
    "A considerably longer sentence that goes on and on about nothing in particular, " * 3,
    "query passage search document",
    "short",
]


def save_tiny_cross_encoder(folder: Path, *, seed: int = 0, activation: str | None = None) -> Path:
    """A 2-layer random BERT sequence classifier (one label), saved by sentence-transformers' CrossEncoder."""
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from taskvec.engine.model_files import bundled_default_model_path

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=HIDDEN, num_hidden_layers=2, intermediate_size=64, num_attention_heads=2,
        max_position_embeddings=128, num_labels=1, type_vocab_size=2,
    )  # fmt: skip
    raw = folder.parent / f"{folder.name}-raw"
    BertForSequenceClassification(config).save_pretrained(raw)
    AutoTokenizer.from_pretrained(str(bundled_default_model_path())).save_pretrained(raw)
    kwargs = {"activation_fn": getattr(torch.nn, activation)()} if activation else {}
    model = CrossEncoder(str(raw), device="cpu", max_length=48, **kwargs)
    model.save_pretrained(str(folder))
    return folder


def save_rerank_adapter(model_dir: Path, out: Path, *, seed: int, head_scale: float = 1.0) -> Path:
    """A rerank adapter with random LoRA weights and a random head (``head_scale`` 0: the untrained zero head)."""
    from peft import LoraConfig, TaskType, get_peft_model
    from safetensors.torch import save_file
    from transformers import AutoModel

    torch.manual_seed(seed)
    lora = LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, r=4, lora_alpha=8, target_modules=["query", "value"])
    lora.init_lora_weights = False
    get_peft_model(AutoModel.from_pretrained(str(model_dir)), lora).save_pretrained(str(out))
    head = ScoreHead(HIDDEN)
    with torch.no_grad():
        head.linear.weight.normal_(std=head_scale)
        head.linear.bias.fill_(0.1 * head_scale)
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(out / HEAD_FILE))
    config = {"hidden_size": HIDDEN, "pooling": "mean", "residual_task": "retrieval", "max_seq_length": 64}
    (out / RERANK_CONFIG).write_text(json.dumps(config))
    return out


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_cross_encoder(tmp_path_factory.mktemp("ce") / "tiny-cross-encoder")


@pytest.fixture(scope="module")
def rerank_tasks(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, cross_encoder_dir: Path) -> Path:
    """A tasks file for the tiny model: a retrieval adapter, a trained-looking rerank adapter, a zero-head one and
    a CrossEncoder task."""
    from helpers import make_random_adapter

    root = tmp_path_factory.mktemp("rerank-tasks")
    make_random_adapter(tiny_model_dir, root / "retrieval", seed=1)
    save_rerank_adapter(tiny_model_dir, root / "rerank", seed=2)
    save_rerank_adapter(tiny_model_dir, root / "zero", seed=3, head_scale=0.0)
    return write_tasks_file(
        root / "tasks.toml",
        f"""
[tasks.retrieval]
adapter = "retrieval"
[tasks.rerank]
kind = "rerank"
adapter = "rerank"
[tasks.untrained]
kind = "rerank"
adapter = "zero"
[tasks.ce]
kind = "rerank"
model = "{cross_encoder_dir}"
""",
    )


@pytest.fixture(scope="module")
def rerank_encoder(tiny_model_dir: Path, rerank_tasks: Path) -> Encoder:
    return Encoder(tiny_model_dir, tasks_file=rerank_tasks, device="cpu", dtype="fp32")  # compared with fp32 references


@pytest.fixture()
def service(rerank_encoder: Encoder, tmp_path: Path) -> TaskvecService:
    svc = TaskvecService(rerank_encoder, Store(tmp_path / "store"), limits=DocumentLimits(max_documents=16))
    svc.index("docs", [{"id": f"d{i}", "text": t} for i, t in enumerate(TEXTS)], task="retrieval")
    return svc


# ----------------------------------------------------------------------------------------- CrossEncoder
@pytest.mark.parametrize("activation", [None, "Identity"])
def test_cross_encoder_folder_matches_sentence_transformers_predict(
    tmp_path: Path, tiny_encoder: Encoder, activation: str | None
) -> None:
    from sentence_transformers import CrossEncoder

    from taskvec.engine.tasks import Task

    folder = save_tiny_cross_encoder(tmp_path / "ce", seed=5, activation=activation)
    expected = CrossEncoder(str(folder), device="cpu").predict([(QUERY, t) for t in TEXTS], batch_size=2)
    reranker = CrossEncoderReranker(Task("ce", "rerank", "", model=folder), torch.device("cpu"))
    scores, truncated = reranker.score(QUERY, TEXTS)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert truncated == 1  # the long text is cut at the folder's 48 tokens, as sentence-transformers cuts it
    if activation is None:  # sigmoid by default, as CrossEncoder.predict does for one label
        assert ((scores > 0) & (scores < 1)).all()
    assert reranker.identity.kind == "cross-encoder" and len(reranker.identity.model_fingerprint) == 16


def test_cross_encoder_identity_changes_with_its_weights(tmp_path: Path, tiny_encoder: Encoder) -> None:
    from taskvec.engine.tasks import Task

    a = save_tiny_cross_encoder(tmp_path / "a", seed=1)
    b = save_tiny_cross_encoder(tmp_path / "b", seed=2)
    ids = {
        CrossEncoderReranker(Task("ce", "rerank", "", model=f), torch.device("cpu")).identity.model_fingerprint
        for f in (a, b)
    }
    assert len(ids) == 2


# --------------------------------------------------------------------------------------- rerank adapter
def test_an_untrained_head_ranks_exactly_as_the_first_stage(service: TaskvecService) -> None:
    plain = service.search(QUERY, "docs", limit=5)
    reranked = service.search(QUERY, "docs", limit=5, rerank="untrained", candidates=5)
    assert [h.id for h in reranked.hits] == [h.id for h in plain.hits]
    for hit, first in zip(reranked.hits, plain.hits, strict=True):
        assert hit.score == pytest.approx(first.score, abs=1e-6)
        assert hit.rerank_score == pytest.approx(first.score, abs=1e-5)  # cosine + a zero head


def test_rerank_adapter_shares_the_backbone_and_scores_cosine_plus_head(rerank_encoder: Encoder) -> None:
    from peft import PeftModel
    from safetensors.torch import load_file

    reranker = build_reranker(rerank_encoder, rerank_encoder.tasks["rerank"])
    assert isinstance(reranker, AdapterReranker)
    rerank_encoder.encode(["warm"], "retrieval")  # the retrieval adapter is on the same backbone
    assert len(rerank_encoder.loaded_adapters) >= 2
    scores, _ = reranker.score(QUERY, TEXTS)
    # The same pairs through a PeftModel of the rerank adapter alone, and the head by hand.
    from transformers import AutoModel, AutoTokenizer

    folder = rerank_encoder.tasks["rerank"].adapter
    alone = PeftModel.from_pretrained(AutoModel.from_pretrained(str(rerank_encoder.model_path)), str(folder)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(rerank_encoder.model_path))
    batch = tokenizer([QUERY] * len(TEXTS), TEXTS, truncation=True, max_length=64, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = alone(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    head = load_file(str(folder / HEAD_FILE))
    by_hand = ((states * mask).sum(1) / mask.sum(1)) @ head["linear.weight"][0] + head["linear.bias"][0]
    q = rerank_encoder.encode_query(QUERY, "retrieval")
    d = rerank_encoder.encode_document(TEXTS, "retrieval")
    np.testing.assert_allclose(scores, d @ q + by_hand.numpy(), atol=1e-5)


def test_reranked_search_returns_limit_hits_with_both_scores(service: TaskvecService) -> None:
    plain = service.search(QUERY, "docs", limit=5)
    result = service.search(QUERY, "docs", limit=2, rerank=True, candidates=5)
    assert len(result.hits) == 2 and result.candidates == 5
    assert result.reranker is not None and result.reranker.task == "rerank" and result.reranker.adapter == "rerank"
    first_rank = {h.id: i for i, h in enumerate(plain.hits, 1)}
    scores = [h.rerank_score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    for hit in result.hits:
        assert hit.first_stage_rank == first_rank[hit.id]
        assert hit.score == pytest.approx(next(h.score for h in plain.hits if h.id == hit.id), abs=1e-6)
    # The reranker reorders: the random head is far from zero, so the order is not the first stage's.
    full = service.search(QUERY, "docs", limit=5, rerank=True, candidates=5)
    assert [h.id for h in full.hits] != [h.id for h in plain.hits]


def test_hybrid_search_composes_with_rerank(service: TaskvecService) -> None:
    hybrid = service.search(QUERY, "docs", limit=5, mode="hybrid")
    result = service.search(QUERY, "docs", limit=3, mode="hybrid", rerank="untrained", candidates=5)
    # In hybrid mode the first-stage score is a fused rank, so the residual cosine is computed by the reranker.
    cosines = {h.id: h.score for h in service.search(QUERY, "docs", limit=5).hits}
    assert {h.id for h in result.hits} <= {h.id for h in hybrid.hits}
    for hit in result.hits:
        assert hit.rerank_score == pytest.approx(cosines[hit.id], abs=1e-5)
        assert hit.score == pytest.approx(next(h.score for h in hybrid.hits if h.id == hit.id))


def test_rerank_with_a_cross_encoder_task(service: TaskvecService, cross_encoder_dir: Path) -> None:
    from sentence_transformers import CrossEncoder

    result = service.rerank(QUERY, TEXTS, "ce", limit=3)
    expected = CrossEncoder(str(cross_encoder_dir), device="cpu").predict([(QUERY, t) for t in TEXTS])
    assert [r.index for r in result.results] == np.argsort(-expected, kind="stable")[:3].tolist()
    for r in result.results:
        assert r.text == TEXTS[r.index] and r.score == pytest.approx(float(expected[r.index]), abs=1e-5)
    assert result.reranker.kind == "cross-encoder" and result.reranker.model == cross_encoder_dir.name


# ----------------------------------------------------------------------------------------------- queue
def test_pairs_through_the_queue_equal_direct_scores_and_share_passes(rerank_encoder: Encoder) -> None:
    reranker = build_reranker(rerank_encoder, rerank_encoder.tasks["rerank"])
    direct, _ = reranker.score(QUERY, TEXTS)
    queue = EncodeQueue(rerank_encoder, max_wait_ms=50, workers=1)
    try:
        results: dict[str, np.ndarray] = {}

        def pairs(key: str) -> None:
            results[key] = reranker.score(QUERY, TEXTS, queue=queue)[0]

        def vectors() -> None:
            results["vectors"] = queue.submit([EncodeRow(t, "retrieval") for t in TEXTS]).vectors

        threads = [threading.Thread(target=pairs, args=(k,)) for k in ("a", "b")] + [threading.Thread(target=vectors)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        np.testing.assert_allclose(results["a"], direct, atol=1e-5)
        np.testing.assert_allclose(results["b"], direct, atol=1e-5)
        np.testing.assert_allclose(results["vectors"], rerank_encoder.encode(TEXTS, "retrieval").vectors, atol=1e-5)
        # 2 x 5 pairs + 2 x 6 rows of residual cosines + 5 vectors: far fewer passes than requests' rows
        assert queue.stats.forward_calls < queue.stats.rows
    finally:
        queue.close()


# --------------------------------------------------------------------------------------- bad input
def test_bad_rerank_inputs_name_the_field(service: TaskvecService) -> None:
    cases = [
        (lambda: service.search(QUERY, "docs", rerank=True, candidates=0), "candidates"),
        (lambda: service.search(QUERY, "docs", rerank=True, candidates=10_000), "candidates"),
        (lambda: service.search(QUERY, "docs", rerank="retrieval"), "rerank"),
        (lambda: service.search(QUERY, "docs", task="rerank"), "task"),
        (lambda: service.index("docs", [{"id": "x", "text": "y"}], task="rerank"), "task"),
        (lambda: service.rerank("", TEXTS), "query"),
        (lambda: service.rerank(QUERY, []), "texts"),
        (lambda: service.rerank(QUERY, ["ok", "  "]), "texts[1]"),
        (lambda: service.rerank(QUERY, ["t"] * 17), "texts"),  # over the service's 16 documents per call
    ]
    for call, field in cases:
        with pytest.raises(InvalidInputError) as info:
            call()
        assert info.value.field == field and info.value.fix


def test_no_rerank_task_is_a_clear_error(tiny_service: TaskvecService) -> None:
    with pytest.raises(InvalidInputError) as info:
        tiny_service.rerank(QUERY, TEXTS)
    assert info.value.field == "task" and "tasks TOML" in (info.value.fix or "")  # the rerank tool's argument
    assert "search without rerank" not in (info.value.fix or "")
    with pytest.raises(InvalidInputError) as searched:
        tiny_service.search(QUERY, "anything", rerank="false")
    assert searched.value.field == "rerank" and "search without rerank" in (searched.value.fix or "")


def test_tasks_file_checks_rerank_tasks(tmp_path: Path, tiny_model_dir: Path) -> None:
    from taskvec.engine.tasks import TaskRegistry

    registry = TaskRegistry({})
    bad = {
        'kind = "rerank"': "model",  # neither model nor adapter
        f'kind = "rerank"\nmodel = "{tmp_path}"': "model",  # no config.json
        f'kind = "retrieval"\nmodel = "{tiny_model_dir}"': "model",  # model on an embedding task
    }
    for body, field in bad.items():
        path = write_tasks_file(tmp_path / "t.toml", f"[tasks.x]\n{body}\n")
        with pytest.raises(InvalidInputError) as info:
            registry.with_file(path)
        assert info.value.field == f"tasks.x.{field}"


def test_a_rerank_adapter_folder_without_its_head_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    from helpers import make_random_adapter

    from taskvec.engine.tasks import Task

    encoder = Encoder(tiny_model_dir, device="cpu")
    folder = make_random_adapter(tiny_model_dir, tmp_path / "plain", seed=0)
    with pytest.raises(ModelLoadError) as info:
        build_reranker(encoder, Task("r", "rerank", "", adapter=folder))
    assert "taskvec train --task rerank" in (info.value.fix or "")


# ------------------------------------------------------------------------------------------------ MCP
async def test_rerank_tool_and_reranked_search_over_mcp(service: TaskvecService) -> None:
    from helpers import call_error, call_ok
    from mcp import Client

    from taskvec.server import build_server

    async with Client(build_server(service)) as client:
        ranked = await call_ok(client, "rerank", {"query": QUERY, "texts": TEXTS, "task": "untrained", "limit": 2})
        assert [r["index"] for r in ranked["results"]] == [0, 3]  # the first stage's order: the head is zero
        assert ranked["reranker"]["task"] == "untrained" and ranked["reranker"]["id"]
        found = await call_ok(client, "search", {"collection": "docs", "query": QUERY, "limit": 3, "rerank": True})
        assert len(found["hits"]) == 3 and all(h["rerank_score"] is not None for h in found["hits"])
        assert found["reranker"]["adapter"] == "rerank" and found["candidates"] == 5
        for arguments, field in [
            ({"query": QUERY, "texts": []}, "texts"),
            ({"query": QUERY, "texts": TEXTS, "limit": 0}, "limit"),
            ({"query": QUERY, "text": TEXTS}, "texts"),  # the missing field is named first
            ({"query": QUERY, "texts": ["fine", ""]}, "texts[1]"),
            ({"query": QUERY, "texts": TEXTS, "task": "retrieval"}, "task"),  # the rerank tool's own argument
        ]:
            text = await call_error(client, "rerank", arguments)
            assert f"(field: {field})" in text and "Fix:" in text, text
        text = await call_error(client, "search", {"collection": "docs", "query": QUERY, "rerank": 1.5})
        assert "(field: rerank" in text
        text = await call_error(client, "search", {"collection": "docs", "query": QUERY, "candidates": 201})
        assert "(field: candidates)" in text


# ------------------------------------------------------------------------------------------------ eval
def test_eval_retrieval_two_stages(rerank_encoder: Encoder, tmp_path: Path) -> None:
    from taskvec.data.beir import RetrievalData
    from taskvec.eval.runners import run_retrieval

    data = RetrievalData(
        name="toy",
        layout="beir",
        doc_ids=[f"d{i}" for i in range(len(TEXTS))],
        docs=TEXTS,
        queries={"q0": QUERY, "q1": "a fox and a dog"},
        qrels={"q0": {"d0": 1}, "q1": {"d1": 1}},
    )
    task = rerank_encoder.tasks["retrieval"]
    one = run_retrieval(rerank_encoder, task, data)
    zero = str(rerank_encoder.tasks["untrained"].adapter)
    level = run_retrieval(rerank_encoder, task, data, rerank=zero, candidates=4)
    two = level.details["rerank"]
    # An untrained head: the reranked lists are the first stage's, and so are the figures.
    assert two["first_stage"] == two["reranked"] == pytest.approx(one.value)
    assert two["change"] == 0 and two["change_std"] == 0 and two["candidates"] == 4
    moved = run_retrieval(rerank_encoder, task, data, rerank="rerank", candidates=5).details["rerank"]
    assert moved["first_stage"] == pytest.approx(one.value) and 0 <= moved["reranked"] <= 1
    assert moved["queries_better"] + moved["queries_worse"] <= 2


# ------------------------------------------------------------------------------------- stdio, CLI, eval CLI
async def test_reranked_search_and_the_rerank_tool_over_stdio(
    tiny_model_dir: Path, rerank_tasks: Path, tmp_path: Path
) -> None:
    """`taskvec serve` over stdio with the rerank tasks: reranked search and the rerank tool through a client
    session, and nothing but JSON-RPC on stdout."""
    import sys

    import anyio
    from helpers import CALL_TIMEOUT, STARTUP_TIMEOUT, StdioRecording, call_ok, is_jsonrpc, recorded_stdio, server_env
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = server_env(tiny_model_dir, tmp_path / "store", TASKVEC_TASKS_FILE=str(rerank_tasks))
    params = StdioServerParameters(command=sys.executable, args=["-m", "taskvec.cli", "serve"], env=env)
    recording, log = StdioRecording(), tmp_path / "stderr.log"
    documents = [{"id": f"d{i}", "text": t} for i, t in enumerate(TEXTS)]
    search = {"collection": "docs", "query": QUERY, "limit": 5}
    try:
        with log.open("wb") as stderr, anyio.fail_after(STARTUP_TIMEOUT + 6 * CALL_TIMEOUT):
            transport = recorded_stdio(params, recording, stderr)
            async with Client(transport, mode="legacy", read_timeout_seconds=STARTUP_TIMEOUT) as client:
                await call_ok(client, "index", {"collection": "docs", "documents": documents, "task": "retrieval"})
                plain = await call_ok(client, "search", search)
                zero = await call_ok(client, "search", {**search, "rerank": "untrained"})
                # A zero head adds nothing: the reranked list is the first stage's, scores and all.
                assert [h["id"] for h in zero["hits"]] == [h["id"] for h in plain["hits"]]
                assert [h["first_stage_rank"] for h in zero["hits"]] == [1, 2, 3, 4, 5]
                assert [h["rerank_score"] for h in zero["hits"]] == pytest.approx([h["score"] for h in plain["hits"]])
                moved = await call_ok(client, "search", {**search, "limit": 3, "rerank": True, "candidates": 5})
                assert moved["reranker"]["adapter"] == "rerank" and moved["candidates"] == 5
                scores = [h["rerank_score"] for h in moved["hits"]]
                assert len(scores) == 3 and scores == sorted(scores, reverse=True)
                ranked = await call_ok(client, "rerank", {"query": QUERY, "texts": TEXTS, "task": "ce"})
                assert sorted(r["index"] for r in ranked["results"]) == list(range(len(TEXTS)))
                assert ranked["reranker"]["kind"] == "cross-encoder"
    except Exception as exc:
        raise AssertionError(f"stdio session failed; the server's stderr:\n{log.read_text()[-3000:]}") from exc
    assert recording.returncode == 0, f"the server did not stop cleanly on EOF:\n{log.read_text()[-3000:]}"
    strays = [line for line in recording.lines if not is_jsonrpc(line)]
    assert not strays, f"stdout carried non-MCP output: {strays[:5]}"


def test_cli_search_rerank_and_the_rerank_command(
    tiny_model_dir: Path, rerank_tasks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from taskvec.cli import main

    for key, value in {
        "TASKVEC_MODEL": str(tiny_model_dir),
        "TASKVEC_STORE": str(tmp_path / "store"),
        "TASKVEC_TASKS_FILE": str(rerank_tasks),
        "TASKVEC_CACHE_DIR": str(tmp_path / "cache"),
    }.items():
        monkeypatch.setenv(key, value)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(TEXTS)))
    assert main(["index", str(corpus), "-c", "docs", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["search", QUERY, "-c", "docs", "--rerank", "--candidates", "4", "-k", "2", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found["hits"]) == 2 and found["candidates"] == 4 and found["reranker"]["task"] == "rerank"
    assert all(h["rerank_score"] is not None and 1 <= h["first_stage_rank"] <= 4 for h in found["hits"])
    assert main(["search", QUERY, "-c", "docs", "--rerank", "untrained", "-k", "2"]) == 0
    assert "first stage" in capsys.readouterr().out  # the human listing shows both scores and the first rank
    assert main(["rerank", QUERY, *TEXTS[:3], "--task", "ce", "--json"]) == 0
    assert sorted(r["index"] for r in json.loads(capsys.readouterr().out)["results"]) == [0, 1, 2]
    assert main(["rerank", QUERY, "text", "--task", "retrieval"]) == 2  # not a rerank task: exit 2 with the fix
    assert "Fix:" in capsys.readouterr().err


def test_eval_cli_retrieval_with_rerank(tiny_model_dir: Path, rerank_tasks: Path, tmp_path: Path, capsys) -> None:
    """`taskvec eval retrieval --rerank` on a BEIR folder: a zero-head reranker leaves nDCG@10 as it was."""
    from data_files import make_beir

    from taskvec.eval import cli

    make_beir(tmp_path / "beir")
    zero = rerank_tasks.parent / "zero"
    argv = ["retrieval", "--data", str(tmp_path / "beir"), "--model", str(tiny_model_dir), "--device", "cpu"]
    argv += ["--tasks-file", str(rerank_tasks), "--rerank", str(zero), "--candidates", "5", "--json"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "retrieval + rerank over the top 5" in out
    record = json.loads(out.strip().splitlines()[-1])
    two = record["details"]["rerank"]
    assert two["change"] == 0 and two["first_stage"] == pytest.approx(record["value"])
