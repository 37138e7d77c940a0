"""benchmarks/chunk_sizes.py and benchmarks/document_hits.py (docs/chunking.md) run end to end on the tiny model:
the figures are made for the run asked for, and the rules and the document accounting are those the docs state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_files import write_jsonl
from helpers import load_benchmark

from taskvec.results import SearchHit

chunk_sizes = load_benchmark("chunk_sizes")
document_hits = load_benchmark("document_hits")
WORDS = [
    "copper",
    "kettle",
    "polished",
    "iron",
    "pear",
    "ripens",
    "plum",
    "orchard",
    "bronze",
    "anvil",
    "cherry",
    "blossom",
]


def long_beir(folder: Path, split: str) -> Path:
    """Twelve documents of about 120 words (the tiny model reads 64 tokens), each query a sentence of its own."""
    rng = np.random.default_rng(0)
    docs = [{"_id": f"d{i}", "title": "", "text": " ".join(rng.choice(WORDS, 120))} for i in range(12)]
    write_jsonl(folder / "corpus.jsonl", docs)
    queries = [{"_id": f"q{i}", "text": " ".join(docs[i]["text"].split()[80:100])} for i in range(8)]
    write_jsonl(folder / "queries.jsonl", queries)
    (folder / "qrels").mkdir(parents=True)
    lines = "".join(f"q{i}\td{i}\t1\n" for i in range(8))
    (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + lines)
    return folder


def test_best_chunk_scores_take_each_documents_maximum() -> None:
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    rows = np.array([[0.2, 0.9], [0.8, 0.1], [0.5, 0.5], [0.1, 0.3], [0.9, 0.0]])
    starts = np.array([0, 2, 3])  # documents of 2, 1 and 2 rows
    np.testing.assert_allclose(chunk_sizes.best_chunk_scores(queries, rows, starts), [[0.8, 0.5, 0.9], [0.9, 0.5, 0.3]])


def test_the_pick_is_the_best_smallest_gain_and_the_fewest_rows_on_a_tie() -> None:
    gains = {"64": [0.03, -0.01], "128": [0.02, 0.004], "192": [0.01, 0.0035], "254": [0.0, 0.0]}
    rows = {"64": 400, "128": 200, "192": 150, "254": 100}
    assert chunk_sizes.pick(gains, rows) == "192"  # 128's +0.004 ties 192's +0.0035; 192 makes fewer rows
    assert chunk_sizes.pick({"64": [0.05, -0.002], "254": [0.0, 0.0]}, rows) == "254"
    layered = {"254+96": [0.02, 0.0005], "254": [0.0, 0.0]}
    assert chunk_sizes.pick(layered, {"254+96": 300, "254": 100}) == "254"  # a gain within the tie is not worth rows


def test_chunk_sizes_runs_on_validation_queries(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = long_beir(tmp_path / "set", "train")
    out = tmp_path / "sizes.json"
    report = chunk_sizes.main(
        [
            "--unseen",
            str(folder),
            "--sizes",
            "16",
            "32",
            "--overlap",
            "4",
            "--model",
            str(tiny_model_dir),
            "--json-out",
            str(out),
            "--layered",
        ]
    )
    (figures,) = report["sets"].values()
    d = report["default"]
    found = figures["candidates"]
    assert set(found) == {"16", "32", str(d), f"{d}+16", f"{d}+32"} and figures["queries"] == 8
    assert not figures["carved"] and found[str(d)]["change"] == 0.0
    assert found["16"]["rows"] > found["32"]["rows"] > found[str(d)]["rows"] > 12
    assert found[f"{d}+16"]["rows"] == found["16"]["rows"] + found[str(d)]["rows"]
    assert report["picked"] in found and out.is_file()
    with pytest.raises(SystemExit):  # chunks sharing more tokens than they hold
        chunk_sizes.main(["--unseen", str(folder), "--sizes", "16", "--model", str(tiny_model_dir)])


def test_shown_documents_spend_a_place_on_a_repeat() -> None:
    hits = [
        SearchHit(id="a#0", text="", score=0.9, parent_id="a"),
        SearchHit(id="a#1", text="", score=0.8, parent_id="a"),
        SearchHit(id="b", text="", score=0.7),
    ]
    assert document_hits.shown_documents(hits) == ["a", document_hits.REPEAT, "b"]


@pytest.mark.parametrize("chunk_tokens", [None, 20])
def test_document_hits_reads_three_ways(tiny_model_dir: Path, tmp_path: Path, chunk_tokens: int | None) -> None:
    folder = long_beir(tmp_path / "set", "test")
    sized = ["--chunk-tokens", str(chunk_tokens), "--chunk-overlap", "4"] if chunk_tokens else []
    report = document_hits.main(["--data", str(folder), "--model", str(tiny_model_dir), *sized])
    (figures,) = report.values()
    assert figures["chunked_documents"] == figures["truncated_documents"] == 12
    assert figures["rows"] > 24 and figures["chunk_tokens"] == chunk_tokens
    for mode in ("vector", "hybrid"):
        row = figures["modes"][mode]
        assert {"truncated", "chunks", "documents"} <= set(row)
        assert row["documents_vs_chunks"]["after"] == pytest.approx(row["documents"])


def test_document_hits_reads_a_rerank_of_the_documents(tiny_model_dir: Path, tmp_path: Path) -> None:
    """An untrained rerank adapter (zero head) scores by the first stage's cosine: its rerank changes nothing."""
    from test_rerank import save_rerank_adapter

    folder = long_beir(tmp_path / "set", "test")
    adapter = save_rerank_adapter(tiny_model_dir, tmp_path / "rr", seed=3, head_scale=0.0)
    args = ["--data", str(folder), "--model", str(tiny_model_dir), "--modes", "vector", "--rerank", str(adapter)]
    (figures,) = document_hits.main(args).values()
    row = figures["modes"]["vector"]
    assert set(figures["modes"]) == {"vector"}
    assert row["reranked_vs_documents"]["before"] == pytest.approx(row["documents"])
    assert row["reranked_vs_documents"]["after"] == pytest.approx(row["reranked"])
    assert row["reranked"] == pytest.approx(row["documents"]) and row["reranked_vs_documents"]["change"] == 0
