"""Hybrid search in the quality harness (``--mode hybrid``): the first stage is the store's own hybrid search on a
temporary LanceDB collection; ``eval retrieval`` reports it against vector search, ``eval panel`` reads the
change on every panel set, and ``--rerank`` reranks a hybrid first stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from data_files import make_beir
from panel_files import make_panel

from taskvec.eval import cli
from taskvec.eval.hybrid import first_stage_rankings
from taskvec.options import KEYWORD_WEIGHT
from taskvec.spaces import EmbeddingSpace

SPACE = EmbeddingSpace("toy", "f" * 16, "retrieval", "", "", None, None, "mean", True, 128, 8)
WORDS = ["zanzibar", "quokka", "marimba", "obsidian", "tundra", "saffron", "gondola", "nebula", "origami", "walrus"]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKVEC_CHECKS_CACHE", str(tmp_path / "cache"))


def test_hybrid_first_stage_is_the_stores_fusion_with_bm25() -> None:
    """Vectors that place each query's document among their first few but seldom first, and queries that share one
    rare word with it: BM25 singles it out and the fusion puts it first every time."""
    rng = np.random.default_rng(0)
    docs = [f"notes about the {w} and other things" for w in WORDS] + [f"filler text {i}" for i in range(30)]
    doc_ids = [f"d{i}" for i in range(len(docs))]
    queries = [f"where is the {w}" for w in WORDS]
    query_vectors = rng.normal(size=(len(queries), 8)).astype(np.float32)
    doc_vectors = rng.normal(size=(len(docs), 8)).astype(np.float32)
    doc_vectors[: len(WORDS)] = query_vectors + rng.normal(size=(len(WORDS), 8))  # near their query, not nearest
    args = (SPACE, queries, query_vectors, docs, doc_vectors, doc_ids, 10)
    vector, hybrid = first_stage_rankings("vector", *args), first_stage_rankings("hybrid", *args)
    assert [r[0] for r in hybrid] == doc_ids[: len(WORDS)]
    assert sum(r[0] == doc_ids[i] for i, r in enumerate(vector)) < len(WORDS) // 2
    assert all(doc_ids[i] in r[:6] for i, r in enumerate(vector))  # the vectors found each; BM25 picked it out
    assert all(len(r) == 10 for r in vector + hybrid)
    with pytest.raises(Exception, match="mode"):
        first_stage_rankings("keyword", *args)


def test_eval_retrieval_hybrid_reports_the_change_against_vector(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    make_beir(tmp_path / "beir")
    base = ["retrieval", "--data", str(tmp_path / "beir"), "--model", str(tiny_model_dir), "--device", "cpu", "--json"]
    assert cli.main(base) == 0
    vector = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli.main([*base, "--mode", "hybrid"]) == 0
    out = capsys.readouterr().out
    record = json.loads(out.strip().splitlines()[-1])
    fused = record["details"]["hybrid"]
    assert record["details"]["mode"] == "hybrid" and vector["details"]["mode"] == "vector"
    assert fused["vector"] == pytest.approx(vector["value"]) and fused["hybrid"] == pytest.approx(record["value"])
    assert fused["change"] == pytest.approx(record["value"] - vector["value"])
    assert f"hybrid (BM25 weight {KEYWORD_WEIGHT}) against vector search: nDCG@10" in out
    assert record["details"]["keyword_weight"] == KEYWORD_WEIGHT and vector["details"]["keyword_weight"] is None
    assert cli.main([*base, "--mode", "hybrid", "--keyword-weight", "0"]) == 0  # all vectors: vector search's figure
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["value"] == pytest.approx(vector["value"])
    assert cli.main([*base, "--keyword-weight", "0.5"]) == 2  # a weight without --mode hybrid: refused by name
    err = capsys.readouterr().err
    assert "(field: --keyword-weight)" in err and "Pass --mode hybrid with it" in err  # the terminal's spelling


def test_two_stages_over_a_hybrid_first_stage(tiny_encoder) -> None:
    """--rerank with --mode hybrid reranks the hybrid search's candidates: the first stage's lists are the hybrid
    rankings, not the vector ones."""
    from taskvec.eval.rerank import rerank_rankings

    class Reverse:  # a reranker that turns each candidate list upside down
        def score(self, query, docs, first_stage=None):
            return np.arange(len(docs), dtype=np.float64), 0

    docs = [f"notes about the {w}" for w in WORDS]
    doc_ids = [f"d{i}" for i in range(len(docs))]
    queries = ["the walrus", "a gondola"]
    task = tiny_encoder.tasks["retrieval"]
    q = tiny_encoder.encode(queries, task, "query").vectors
    d = tiny_encoder.encode(docs, task, "document").vectors
    space = tiny_encoder.space(task)
    stages = rerank_rankings(Reverse(), queries, q, docs, d, doc_ids, 4, same_space=False, mode="hybrid", space=space)
    assert stages.first == first_stage_rankings("hybrid", space, queries, q, docs, d, doc_ids, 4)
    assert stages.reranked == [list(reversed(r)) for r in stages.first]
    assert [r[0] for r in stages.first] == ["d9", "d6"]  # BM25 finds them whatever the random model's vectors say
    with pytest.raises(ValueError, match="space"):
        rerank_rankings(Reverse(), queries, q, docs, d, doc_ids, 4, same_space=False, mode="hybrid")


def test_panel_hybrid_reads_the_change_on_every_retrieval_set(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    root = make_panel(tmp_path / "panel")
    common = ["--panel-root", str(root), "--model", str(tiny_model_dir), "--sample", "6", "--rounds", "40"]
    assert cli.main(["panel", "--task", "retrieval", "--mode", "hybrid", *common, "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["sets"] and "--mode hybrid" in result["command"]
    for row in result["sets"].values():
        assert row["change"] == pytest.approx(row["hybrid"] - row["vector"], abs=2e-5)
        assert row["noise"] >= 0 and row["verdict"] in ("up", "level", "down")
    assert "hybrid panel: task 'retrieval'" in out and "SAMPLE of 6" in out
    # It measures the served task's search: an adapter of one's own is refused, naming the flag.
    assert cli.main(["panel", "--task", "retrieval", "--mode", "hybrid", "--adapter", "none", *common]) == 2
    assert "--adapter" in capsys.readouterr().err
    assert cli.main(["panel", "--task", "similarity", "--mode", "hybrid", *common]) == 2
    assert "--task retrieval" in capsys.readouterr().err


def test_a_query_that_shares_no_word_is_ranked_by_its_vector() -> None:
    """Documents that share no word with the query: BM25 returns nothing and the fusion is the vector ranking."""
    docs, doc_ids = ["alpha beta", "gamma delta", "epsilon zeta"], ["a", "b", "c"]
    vectors = np.eye(3, 8, dtype=np.float32)
    ranked = first_stage_rankings("hybrid", SPACE, ["omega"], vectors[1:2], docs, vectors, doc_ids, 3)
    assert ranked[0][0] == "b" and sorted(ranked[0]) == doc_ids


def test_the_weight_study_reads_the_stores_fusion_and_picks_by_its_rule() -> None:
    """benchmarks/hybrid_weights.py must score search's own fusion (the store's ``fuse`` at the store's weight gives
    what search returns; weight 0 the vector ranking), and pick the weight whose worst set gains most, the lower of
    two within 0.001, or its figures and its pick would describe something else."""
    from helpers import load_benchmark

    from taskvec.options import KEYWORD_WEIGHT
    from taskvec.results import SearchHit
    from taskvec.store.queries import fuse, hybrid_depth

    def hits(ids: np.ndarray, scores: np.ndarray) -> list[SearchHit]:
        return [SearchHit(id=str(i), text="", score=float(s)) for i, s in zip(ids, scores, strict=True)]

    study = load_benchmark("hybrid_weights")
    assert study.fuse is fuse and study.hybrid_depth is hybrid_depth
    rng = np.random.default_rng(7)
    ids = [f"d{i}" for i in range(40)]
    for _ in range(20):
        vector = hits(rng.permutation(ids)[:25], np.sort(rng.random(25))[::-1])
        bm25 = hits(rng.permutation(ids)[:15], np.sort(rng.random(15) * 9)[::-1])
        assert [h.id for h in fuse(vector, bm25, 10, keyword_weight=0.0)] == [h.id for h in vector[:10]]
        assert fuse(vector, bm25, 10) == fuse(vector, bm25, 10, keyword_weight=KEYWORD_WEIGHT)
    gains = {0.0: [0.0, 0.0], 0.1: [0.02, 0.001], 0.2: [0.03, 0.0095], 0.3: [0.05, 0.0102], 0.4: [0.06, -0.01]}
    assert study.pick_weight(gains) == 0.2
    assert study.pick_weight({**gains, 0.2: [0.03, 0.009]}) == 0.3
