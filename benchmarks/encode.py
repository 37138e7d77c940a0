"""Documents per second of the engine against sentence-transformers: same model, texts and machine, one run.

* ST at batch 32 in fp32 (the reference) and under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (ST's own
  best on a bf16 CPU);
* the engine in fp32 (vectors equal to ST's) and on its default path (``dtype="auto"``: bf16 on a CPU with bf16
  arithmetic, else fp32), bare and with the shipped retrieval adapter; the adapter path against the bare one;
* the opt-in variants: int8 dynamic quantization, torch.compile, and ONNX Runtime's int8 (``--variants``;
  benchmarks/onnx_int8.py);
* mixed-task batches (rows of four tasks, each with its own LoRA adapter, in every forward pass) against
  single-task batches of the same rows, on the default path;
* the physical reference: the FLOPs of the forward over these batches, as GFLOP/s against the CPU's fp32 and bf16
  peaks (benchmarks/roofline.py).

Calls are interleaved (ST, engine, variants, ST, ...) and each figure is the median of the repeats. Quality costs
are measured by benchmarks/precision.py (the harness on every home set), not here.

    python benchmarks/encode.py --docs 128 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks import roofline
from benchmarks.common import (
    bench_main,
    interleaved,
    load_average,
    median,
    ratio,
    scifact_texts,
    tasks_file_with_adapters,
)
from taskvec.engine import Encoder, EncodeRow
from taskvec.engine.hardware import cpu_flags

VARIANTS = ("int8", "compile", "onnx-int8")
INT8 = "engine int8 (opt-in), no adapter"
ONNX_INT8 = "ONNX Runtime int8 (not in the engine), no adapter"
ST = "sentence-transformers fp32 (batch 32)"
ST_BF16 = "sentence-transformers bf16 autocast (batch 32)"
FP32 = "engine fp32, no adapter"
DEFAULT = "engine default ({dtype}), no adapter"
ADAPTER = "engine default ({dtype}), retrieval adapter"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer

    texts = scifact_texts(args.docs)
    options = {"device": "cpu", "batch_size": 32, "max_batch_tokens": args.max_batch_tokens}
    fp32 = Encoder(dtype="fp32", **options)
    engine = Encoder(**options)  # dtype="auto": what a user gets
    dtype = str(engine.dtype).removeprefix("torch.")
    default, adapter = DEFAULT.format(dtype=dtype), ADAPTER.format(dtype=dtype)
    plain = fp32.tasks["retrieval"].without_adapter().with_prompts("")  # exactly what ST computes
    adapted = engine.tasks["retrieval"]  # the shipped adapter and prompts
    reference = SentenceTransformer(str(fp32.model_path), device="cpu")
    reference.max_seq_length = fp32.max_seq_length

    def st_bf16(batch: list[str]) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return reference.encode(batch, batch_size=32, convert_to_numpy=True)

    lengths = [min(n, fp32.max_seq_length) for n in fp32.count_tokens(texts)]
    shapes = [(len(b), max(lengths[i] for i in b)) for b in fp32.batches(lengths, 32)]
    out: dict[str, Any] = {
        "docs": len(texts),
        "tokens": int(sum(lengths)),
        "max_seq_length": fp32.max_seq_length,
        "default_dtype": dtype,
        "load_at_start": load_average(),
        "flops_per_call": roofline.forward_flops(fp32.model.config, shapes),
        "peaks": roofline.peaks(cpu_flags(), os.cpu_count() or 1, roofline.clock_ghz()),
    }
    theirs = reference.encode(texts[:64], batch_size=32, convert_to_numpy=True)
    out["max_abs_difference_fp32_vs_st"] = float(np.abs(fp32.encode(texts[:64], plain).vectors - theirs).max())
    out["min_cosine_default_vs_st_fp32"] = _min_cosine(engine.encode(texts[:64], plain).vectors, theirs)
    out["min_cosine_st_bf16_vs_st_fp32"] = _min_cosine(st_bf16(texts[:64]), theirs)
    out["min_cosine_default_adapter_vs_fp32_adapter"] = _min_cosine(
        engine.encode(texts[:64], adapted).vectors, fp32.encode(texts[:64], adapted).vectors
    )

    runs = {
        ST: lambda: reference.encode(texts, batch_size=32),
        ST_BF16: lambda: st_bf16(texts),
        FP32: lambda: fp32.encode(texts, plain),
        default: lambda: engine.encode(texts, plain),
        adapter: lambda: engine.encode(texts, adapted),
    }
    if "int8" in args.variants:
        int8 = Encoder(dtype="int8", **options)
        runs[INT8] = lambda: int8.encode(texts, plain)
        out["int8_min_cosine_vs_st"] = _min_cosine(int8.encode(texts[:64], plain).vectors, theirs)
    if "onnx-int8" in args.variants:
        from benchmarks.onnx_int8 import int8_encoder

        folder = Path(tempfile.mkdtemp(prefix="taskvec-onnx-"))
        onnx_int8 = int8_encoder(fp32.model_path, folder, fp32.max_seq_length, torch.get_num_threads())
        runs[ONNX_INT8] = lambda: onnx_int8(texts)
        out["onnx_int8_min_cosine_vs_st"] = _min_cosine(onnx_int8(texts[:64]), theirs)
    if "compile" in args.variants:
        compiled = Encoder(compile=True, **options)
        start = time.perf_counter()
        vectors = compiled.encode(texts[:64], plain).vectors  # compiles (dynamic shapes: once for all)
        out["compile_seconds"] = round(time.perf_counter() - start, 1)
        out["compile_min_cosine_vs_eager"] = _min_cosine(vectors, engine.encode(texts[:64], plain).vectors)
        runs[f"engine torch.compile (opt-in, {dtype}), no adapter"] = lambda: compiled.encode(texts, plain)
    seconds = interleaved(runs, args.repeats)
    if "onnx-int8" in args.variants:
        shutil.rmtree(folder, ignore_errors=True)
    out["docs_per_second"] = {name: round(len(texts) / median(s), 2) for name, s in seconds.items()}
    rates = out["docs_per_second"]
    out["ratio_vs_st"] = {name: ratio(v, rates[ST]) for name, v in rates.items()}
    out["ratio_vs_st_bf16"] = {name: ratio(v, rates[ST_BF16]) for name, v in rates.items()}
    out["adapter_vs_bare"] = ratio(rates[adapter], rates[default])
    out["gflops"] = {name: round(out["flops_per_call"] / median(s) / 1e9, 1) for name, s in seconds.items()}
    out["load_after_encode"] = load_average()
    out["mixed_tasks"] = mixed_tasks(texts, args)
    out["load_at_end"] = load_average()
    return out


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    cos = np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return round(float(cos.min()), 6)


def mixed_tasks(texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """On the default path: rows of four adapter tasks in every batch against the same rows all of one task."""
    with tempfile.TemporaryDirectory(prefix="taskvec-adapters-") as tmp:
        from taskvec.engine.model_files import resolve_model_path

        tasks_file = tasks_file_with_adapters(Path(tmp), resolve_model_path(None)[1], 4)
        enc = Encoder(device="cpu", tasks_file=tasks_file, batch_size=32, max_batch_tokens=args.max_batch_tokens)
        sample = texts[: args.mixed_docs]
        single = [EncodeRow(t, "t0") for t in sample]
        mixed = [EncodeRow(t, f"t{i % 4}") for i, t in enumerate(sample)]
        enc.encode_rows(mixed[:8])  # loads all four adapters
        seconds = interleaved(
            {"single": lambda: enc.encode_rows(single), "mixed": lambda: enc.encode_rows(mixed)}, args.mixed_repeats
        )
    single_rate, mixed_rate = len(sample) / median(seconds["single"]), len(sample) / median(seconds["mixed"])
    return {
        "docs": len(sample),
        "turns": args.mixed_repeats,
        "dtype": str(enc.dtype).removeprefix("torch."),
        "single_task_docs_per_second": round(single_rate, 2),
        "mixed_task_docs_per_second": round(mixed_rate, 2),
        "ratio": ratio(mixed_rate, single_rate),
    }


def markdown(r: dict[str, Any]) -> str:
    p = r["peaks"]
    peak = p.get("peak_gflops", {})
    lines = [
        f"{r['docs']} SciFact documents ({r['tokens']:,} tokens at max_seq_length {r['max_seq_length']}); the "
        f"default dtype here is **{r['default_dtype']}**. Engine fp32 vectors within "
        f"{r['max_abs_difference_fp32_vs_st']:.1e} of ST's; default-path vectors at cosine >= "
        f"{r['min_cosine_default_vs_st_fp32']:.5f} to ST fp32 (ST's own bf16 autocast: "
        f"{r['min_cosine_st_bf16_vs_st_fp32']:.5f}); with the retrieval adapter, >= "
        f"{r['min_cosine_default_adapter_vs_fp32_adapter']:.5f} to the fp32 adapter path.",
        "",
        "| encoder | docs/s | ratio to ST fp32 | ratio to ST bf16 autocast | GFLOP/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rate in r["docs_per_second"].items():
        lines.append(
            f"| {name} | {rate:.1f} | {r['ratio_vs_st'][name]:.2f}x | {r['ratio_vs_st_bf16'][name]:.2f}x "
            f"| {r['gflops'][name]:.0f} |"
        )
    lines += [
        "",
        f"Adapter path against the bare forward, default dtype: **{r['adapter_vs_bare']:.2f}x**.",
        "",
        f"Physical reference: {r['flops_per_call'] / 1e9:.0f} GFLOP per call (linear layers and attention products "
        f"over the padded batches). Peak of this CPU from its flags and clock ({p['cores']} cores at "
        f"{p['clock_ghz']} GHz; {p['flops_per_cycle_per_core']['fp32']} fp32 and "
        f"{p['flops_per_cycle_per_core']['bf16']} bf16 FLOP per cycle and core): "
        + (f"fp32 {peak['fp32']:,.0f} GFLOP/s, bf16 {peak['bf16']:,.0f} GFLOP/s." if peak else "clock unknown."),
    ]
    if peak:
        fp32_rate, default_rate = r["gflops"][FP32], r["gflops"][DEFAULT.format(dtype=r["default_dtype"])]
        key = "bf16" if r["default_dtype"] == "bfloat16" else "fp32"
        lines.append(
            f"The fp32 forward runs at {fp32_rate / peak['fp32']:.0%} of the fp32 peak; the default path at "
            f"{default_rate / peak[key]:.0%} of the {key} peak."
        )
    int8 = [
        f"{name} {r[key]:.5f}"
        for name, key in (
            ("torch's dynamic int8", "int8_min_cosine_vs_st"),
            ("ONNX Runtime's", "onnx_int8_min_cosine_vs_st"),
        )
        if key in r
    ]
    if int8:
        lines += ["", f"int8 vectors, lowest cosine to ST fp32 over {min(64, r['docs'])} documents: {'; '.join(int8)}."]
    rates = r["docs_per_second"]
    if INT8 in rates and ONNX_INT8 in rates:
        lines.append(
            f"ONNX Runtime's int8 against torch's dynamic int8: **{rates[ONNX_INT8] / rates[INT8]:.2f}x** docs/s."
        )
    if "compile_seconds" in r:
        lines += [
            "",
            f"torch.compile: one-off compilation {r['compile_seconds']} s; vectors at cosine >= "
            f"{r['compile_min_cosine_vs_eager']:.5f} to eager.",
        ]
    m = r["mixed_tasks"]
    lines += [
        "",
        f"Mixed-task batches ({m['docs']} documents, four LoRA adapters on one backbone, {m['dtype']}, rows of all "
        f"four in every batch): {m['mixed_task_docs_per_second']:.1f} docs/s against "
        f"{m['single_task_docs_per_second']:.1f} for single-task batches of the same rows: **{m['ratio']:.2f}x**"
        + (f" (medians of {m['turns']} interleaved turns)." if "turns" in m else "."),
    ]
    return "\n".join(lines)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docs", type=int, default=128, help="SciFact documents (a fixed random sample)")
    parser.add_argument("--mixed-docs", type=int, default=64, help="documents for the mixed-task comparison")
    parser.add_argument("--repeats", type=int, default=3)
    # A mixed-task call is half a second: with 3 turns its ratio ranged 0.89x-1.10x over four runs of one day
    parser.add_argument("--mixed-repeats", type=int, default=11, help="interleaved turns of the mixed-task comparison")
    parser.add_argument("--max-batch-tokens", type=int, default=16384, help="the engine's token budget")
    parser.add_argument("--variants", nargs="*", default=["int8"], choices=VARIANTS)


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
