"""Documents per second of the engine against sentence-transformers: same model, texts and machine, one run.

* ST at batch 32 (the reference) against the engine as the server runs it (fp32, batch 32, the default token
  budget), with the largest difference between their vectors;
* the opt-in CPU variants, each with its cost: int8 dynamic quantization (STS-B Spearman through the eval
  harness, against fp32 in the same run) and torch.compile (the largest difference from eager vectors, and the
  one-off compilation time);
* mixed-task batches (rows of four tasks, each with its own LoRA adapter, in every forward pass) against
  single-task batches of the same size and texts.

Calls are interleaved (ST, engine, variants, ST, ...) and each figure is the median of the repeats.

    python benchmarks/encode.py --docs 256 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.common import (
    STSB,
    bench_main,
    interleaved,
    load_average,
    median,
    ratio,
    scifact_texts,
    tasks_file_with_adapters,
)
from taskvec.engine import Encoder, EncodeRow

VARIANTS = ("int8", "compile")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    texts = scifact_texts(args.docs)
    engine = Encoder(device="cpu", batch_size=32, max_batch_tokens=args.max_batch_tokens)
    plain = engine.tasks["retrieval"].without_adapter().with_prompts("")  # exactly what ST computes
    reference = SentenceTransformer(str(engine.model_path), device="cpu")
    reference.max_seq_length = engine.max_seq_length
    out: dict[str, Any] = {
        "docs": len(texts),
        "tokens": int(sum(min(n, engine.max_seq_length) for n in engine.count_tokens(texts))),
        "max_seq_length": engine.max_seq_length,
        "load_at_start": load_average(),
    }
    ours = engine.encode(texts[:64], plain).vectors
    theirs = reference.encode(texts[:64], batch_size=32, convert_to_numpy=True)
    out["max_abs_difference_vs_st"] = float(np.abs(ours - theirs).max())

    runs = {
        "sentence-transformers (batch 32)": lambda: reference.encode(texts, batch_size=32),
        "engine (fp32, batch 32)": lambda: engine.encode(texts, plain),
    }
    variants: dict[str, Any] = {}
    if "int8" in args.variants:
        int8 = Encoder(device="cpu", dtype="int8", batch_size=32, max_batch_tokens=args.max_batch_tokens)
        runs["engine int8 (opt-in)"] = lambda: int8.encode(texts, plain)
        variants["int8"] = int8
    if "compile" in args.variants:
        compiled = Encoder(device="cpu", compile=True, batch_size=32, max_batch_tokens=args.max_batch_tokens)
        start = time.perf_counter()
        vectors = compiled.encode(texts[:64], plain).vectors  # compiles (dynamic shapes: once for all)
        out["compile_seconds"] = round(time.perf_counter() - start, 1)
        out["compile_max_abs_difference"] = float(np.abs(vectors - ours).max())
        runs["engine torch.compile (opt-in)"] = lambda: compiled.encode(texts, plain)
    seconds = interleaved(runs, args.repeats)
    out["docs_per_second"] = {name: round(len(texts) / median(s), 2) for name, s in seconds.items()}
    base = out["docs_per_second"]["sentence-transformers (batch 32)"]
    out["ratio_vs_st"] = {name: ratio(v, base) for name, v in out["docs_per_second"].items()}
    out["load_after_encode"] = load_average()

    if "int8" in variants and args.quality:
        out["quality"] = quality(engine, variants["int8"])
    out["mixed_tasks"] = mixed_tasks(engine, texts, args)
    out["load_at_end"] = load_average()
    return out


def quality(fp32: Encoder, int8: Encoder) -> dict[str, float]:
    """STS-B test Spearman through the eval harness, fp32 and int8, base similarity task (prompt, no adapter)."""
    from taskvec.eval.datasets import load_similarity
    from taskvec.eval.runners import run_similarity

    data = load_similarity(STSB)
    task = fp32.tasks["similarity"].without_adapter()
    scores = {"fp32": run_similarity(fp32, task, data).value, "int8": run_similarity(int8, task, data).value}
    return {**{k: round(v, 4) for k, v in scores.items()}, "int8_minus_fp32": round(scores["int8"] - scores["fp32"], 4)}


def mixed_tasks(engine: Encoder, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Rows of four adapter tasks in every batch against the same rows all of one adapter task."""
    with tempfile.TemporaryDirectory(prefix="taskvec-adapters-") as tmp:
        tasks_file = tasks_file_with_adapters(Path(tmp), engine.model_path, 4)
        enc = Encoder(device="cpu", tasks_file=tasks_file, batch_size=32, max_batch_tokens=args.max_batch_tokens)
        sample = texts[: args.mixed_docs]
        single = [EncodeRow(t, "t0") for t in sample]
        mixed = [EncodeRow(t, f"t{i % 4}") for i, t in enumerate(sample)]
        enc.encode_rows(mixed[:8])  # loads all four adapters
        seconds = interleaved(
            {"single": lambda: enc.encode_rows(single), "mixed": lambda: enc.encode_rows(mixed)}, args.repeats
        )
    single_rate, mixed_rate = len(sample) / median(seconds["single"]), len(sample) / median(seconds["mixed"])
    return {
        "docs": len(sample),
        "single_task_docs_per_second": round(single_rate, 2),
        "mixed_task_docs_per_second": round(mixed_rate, 2),
        "ratio": ratio(mixed_rate, single_rate),
    }


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"{r['docs']} SciFact documents ({r['tokens']:,} tokens at max_seq_length {r['max_seq_length']}), "
        f"engine vectors within {r['max_abs_difference_vs_st']:.1e} of ST's.",
        "",
        "| encoder | docs/s | ratio to ST batch 32 (same run) |",
        "|---|---:|---:|",
    ]
    for name, rate in r["docs_per_second"].items():
        lines.append(f"| {name} | {rate:.1f} | {r['ratio_vs_st'][name]:.2f}x |")
    if "quality" in r:
        q = r["quality"]
        lines += [
            "",
            f"int8 quality cost (eval harness, STS-B test Spearman, similarity task without adapter): "
            f"fp32 {q['fp32']:.4f}, int8 {q['int8']:.4f} ({q['int8_minus_fp32']:+.4f}).",
        ]
    if "compile_seconds" in r:
        lines += [
            "",
            f"torch.compile: one-off compilation {r['compile_seconds']} s; vectors within "
            f"{r['compile_max_abs_difference']:.1e} of eager.",
        ]
    m = r["mixed_tasks"]
    lines += [
        "",
        f"Mixed-task batches ({m['docs']} documents, four LoRA adapters on one backbone, rows of all four in every "
        f"batch): {m['mixed_task_docs_per_second']:.1f} docs/s against {m['single_task_docs_per_second']:.1f} for "
        f"single-task batches of the same rows: **{m['ratio']:.2f}x**.",
    ]
    return "\n".join(lines)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docs", type=int, default=256, help="SciFact documents (a fixed random sample)")
    parser.add_argument("--mixed-docs", type=int, default=128, help="documents for the mixed-task comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-batch-tokens", type=int, default=16384, help="the engine's token budget")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--no-quality", dest="quality", action="store_false", help="skip the int8 STS-B run")


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
