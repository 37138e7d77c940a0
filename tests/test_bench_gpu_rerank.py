"""benchmarks/gpu_rerank.py, the store-free rerank latency a lent GPU machine runs (benchmarks/device_checks.sh):
here on the CPU with the tiny model, so the script a device session depends on is known to run before one is lent.
No timing assertions: only that the figures are made, of the run asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import load_benchmark

gpu_rerank = load_benchmark("gpu_rerank")


def corpus(folder: Path, n: int) -> Path:
    path = folder / "corpus.jsonl"
    rows = [
        {"_id": str(i), "title": f"Claim {i} about cells", "text": f"Abstract {i}. " * (5 + i % 7)} for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_cpu_run_times_the_query_encode_and_the_rerank(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUT", str(tmp_path))
    args = ["--corpus", str(corpus(tmp_path, 12)), "--model", str(tiny_model_dir), "--device", "cpu"]
    result = gpu_rerank.main([*args, "--candidates", "5", "--repeats", "3"])
    assert (result["candidates"], result["repeats"], result["device"], result["dtype"]) == (5, 3, "cpu", "fp32")
    assert result["query_encode_p50_ms"] > 0 and result["rerank_p50_ms"] > 0
    assert "target_20ms_met" not in result  # the target is a GPU's
    assert json.loads((tmp_path / "gpu_rerank.json").read_text()) == result
    assert "rerank of 5 candidates" in gpu_rerank.markdown(result)


def test_a_corpus_too_small_for_the_run_is_refused_with_the_numbers(tiny_model_dir: Path, tmp_path: Path) -> None:
    args = ["--corpus", str(corpus(tmp_path, 6)), "--model", str(tiny_model_dir), "--device", "cpu"]
    with pytest.raises(SystemExit, match="has 6 documents; this run needs 8"):
        gpu_rerank.main([*args, "--candidates", "5", "--repeats", "3"])
