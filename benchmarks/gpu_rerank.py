"""Latency of one rerank of 50 SciFact-length candidates on a GPU (issue 16: under 20 ms), against the one-stage
query encode measured in the same run.

Store-free, like benchmarks/gpu_encode.py, whose bundle it reads (the model in fp16 and the SciFact corpus; a lent
GPU machine has neither lancedb nor ../shared/data): each query is a document's title, its candidates 50 corpus
documents (title + text, cut at the reranker's 256 tokens per pair, as a search's candidates are). The reranker is
``--rerank FOLDER`` (a rerank adapter or a CrossEncoder folder), else a rerank adapter of the shipped shape with
random weights: latency depends on the shapes, not the weights' values. Timings are medians over ``--repeats``
queries, the device drained before and after each; the first-stage figure is the query's encode (the search over
the vectors is a millisecond more, on any machine: docs/results/performance.md).

    python benchmarks/gpu_rerank.py --bundle .taskvec/gpu_bundle           # there (carry .taskvec/gpu_bundle)
    python benchmarks/gpu_rerank.py --corpus ../shared/data/scifact/corpus.jsonl --device cpu --repeats 3   # here

Prints a Markdown table and a JSON line; with $OUT set, also writes $OUT/gpu_rerank.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gpu_encode import DEFAULT_CORPUS, read_corpus
from benchmarks.rerank import random_rerank_adapter

TARGET_MS = 20.0  # issue 16, on a GPU


def timed_ms(fn: Callable[[int], Any], repeats: int, sync: Callable[[], None]) -> float:
    """Median milliseconds of ``fn(i)`` for i in range(repeats), the device drained before and after each."""
    seconds = []
    for i in range(repeats):
        sync()
        start = time.perf_counter()
        fn(i)
        sync()
        seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from taskvec.engine import Encoder
    from taskvec.eval.rerank import reranker_for

    if args.bundle:
        models = [p for p in args.bundle.iterdir() if (p / "config.json").is_file()]
        args.model, args.corpus = str(models[0]), args.bundle / "corpus.jsonl.gz"
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("No CUDA device: pass --device cpu to try this benchmark on the CPU.")
    titles, docs = read_corpus(args.corpus, titles=True), read_corpus(args.corpus)
    need = args.candidates + args.repeats
    if len(docs) < need:
        sys.exit(f"The corpus has {len(docs)} documents; this run needs {need} (--candidates + --repeats).")
    dtype = "fp16" if args.device == "cuda" else "fp32"
    encoder = Encoder(args.model, device=args.device, dtype=dtype)
    sync = torch.cuda.synchronize if args.device == "cuda" else lambda: None
    with tempfile.TemporaryDirectory(prefix="taskvec-gpu-rerank-") as tmp:
        folder = args.rerank or random_rerank_adapter(encoder.model_path, Path(tmp) / "rerank")
        reranker = reranker_for(encoder, str(folder))
        query = lambda i: titles[i]  # noqa: E731
        candidates = lambda i: docs[i + 1 : i + 1 + args.candidates]  # noqa: E731
        for i in range(3):  # warm-up: kernels, the allocator, the adapter's first load
            encoder.encode_query(query(i), "retrieval")
            reranker.score(query(i), candidates(i))
        encode_ms = timed_ms(lambda i: encoder.encode_query(query(i), "retrieval"), args.repeats, sync)
        rerank_ms = timed_ms(lambda i: reranker.score(query(i), candidates(i)), args.repeats, sync)
        truncated = reranker.score(query(0), candidates(0))[1]
    out: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "dtype": dtype,
        "torch": torch.__version__,
        "reranker": "random weights, shipped shape" if args.rerank is None else str(args.rerank),
        "candidates": args.candidates,
        "pairs_truncated": int(truncated),
        "repeats": args.repeats,
        "query_encode_p50_ms": round(encode_ms, 2),
        "rerank_p50_ms": round(rerank_ms, 2),
        "rerank_vs_query_encode": round(rerank_ms / encode_ms, 2),
    }
    if args.device == "cuda":
        out["target_20ms_met"] = rerank_ms < TARGET_MS
    return out


def markdown(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"Rerank of {r['candidates']} SciFact candidates ({r['pairs_truncated']} cut at the pair limit), "
            f"{r['device']}, {r['dtype']}, torch {r['torch']}; reranker: {r['reranker']}; medians of {r['repeats']}.",
            "",
            "| step | p50 |",
            "|---|---:|",
            f"| one-stage: the query's encode (reference) | {r['query_encode_p50_ms']:.2f} ms |",
            f"| rerank of {r['candidates']} candidates | {r['rerank_p50_ms']:.2f} ms |",
            "",
            f"Rerank / query encode: **{r['rerank_vs_query_encode']:.1f}x**."
            + (
                f" Under {TARGET_MS:.0f} ms: {'yes' if r['target_20ms_met'] else 'no'}."
                if "target_20ms_met" in r
                else ""
            ),
        ]
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="SciFact corpus.jsonl")
    parser.add_argument("--model", help="model folder or hub id (default: the bundled all-MiniLM-L6-v2)")
    parser.add_argument("--bundle", type=Path, help="a folder written by gpu_encode.py --prepare")
    parser.add_argument("--rerank", type=Path, help="a rerank adapter or CrossEncoder folder (default: random)")
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=50, help="timed queries")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = parser.parse_args(argv)
    result = run(args)
    print(markdown(result))
    print(json.dumps(result))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_rerank.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
