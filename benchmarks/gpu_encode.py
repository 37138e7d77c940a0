"""GPU encode throughput on the SciFact corpus: the engine in fp16 against sentence-transformers, in one run.

Needs only torch (with CUDA), transformers, peft and sentence-transformers, plus this repository's
``taskvec.engine`` (which imports nothing else: no lancedb, no mcp). Target (issue 6): >= 10,000 docs/s on the
5,183 SciFact documents (title + text, 256 tokens at most) in fp16, with ST measured in the same run.

What the engine does on a GPU (taskvec/engine/encoder.py): the next 2,048 rows are tokenized on worker threads
(the Rust tokenizer releases the GIL) while the current ones run; rows are length-sorted into batches bounded by
rows and padded tokens, widths rounded up to a multiple of 8; ids go through pinned memory with non-blocking
copies; results stay on the device until a chunk is done (one sync per chunk, not per batch); fp16 weights with
float32 pooling. ``--compile`` adds a torch.compile variant (measured, not assumed to pay).

    python benchmarks/gpu_encode.py --corpus ../shared/data/scifact/corpus.jsonl [--model DIR] [--compile]

A GPU machine lent for a few minutes has neither the bundled model's package nor ../shared/data, so prepare both
here first, into an ignored folder small enough to travel with the working tree (the model's weights saved in
fp16, the corpus gzipped: about 50 MB), then run once there:

    python benchmarks/gpu_encode.py --prepare .taskvec/gpu_bundle           # here, on the CPU machine
    python3 benchmarks/gpu_encode.py --bundle .taskvec/gpu_bundle            # there (carry .taskvec/gpu_bundle)

It needs torch with CUDA, transformers, tokenizers, peft and sentence-transformers there (the GPU image has
them). One call measures ST at each batch size and keeps its best, the engine at
each batch size, the engine with the shipped retrieval adapter at its best batch size, and the agreement of the
vectors. Prints a Markdown table and a JSON line; with $OUT set, also writes $OUT/gpu_encode.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl"


def read_corpus(path: Path, *, titles: bool = False) -> list[str]:
    """Each document's title and text (or, with ``titles``, its title alone: a short query-like text)."""
    import gzip

    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as f:
        docs = [json.loads(line) for line in f]
    if titles:
        return [d.get("title", "") for d in docs]
    return [f"{d.get('title', '')} {d['text']}".strip() for d in docs]


def write_fp16_model(folder: Path, model: str | None) -> Path:
    """The model folder under ``folder``: its weights in fp16 (half the size, so it travels), every other file as
    it is. Returns the folder written."""
    import shutil

    import torch
    from transformers import AutoModel

    from taskvec.engine.model_files import resolve_model_path

    name, source = resolve_model_path(model)
    target = folder / name.rsplit("/", 1)[-1]  # the folder's name picks the model's profile: its shipped adapters
    shutil.rmtree(target, ignore_errors=True)
    weights = ("*.safetensors", "*.bin", "*.h5", "*.msgpack", "*.ot", "onnx", "openvino")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*weights))
    AutoModel.from_pretrained(str(source), dtype=torch.float16).save_pretrained(str(target))
    return target


def prepare(folder: Path, corpus: Path, model: str | None) -> None:
    """The model folder (weights in fp16, every other file as it is) and the gzipped corpus, in ``folder``."""
    import gzip
    import shutil

    write_fp16_model(folder, model)
    with corpus.open("rb") as src, gzip.open(folder / "corpus.jsonl.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"prepared {folder} ({size / 2**20:.1f} MiB): carry it and run --bundle {folder}")


def timed(fn: Any, repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls, with the device drained before and after each."""
    import torch

    seconds = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="SciFact corpus.jsonl")
    parser.add_argument("--model", help="model folder or hub id (default: the bundled all-MiniLM-L6-v2)")
    parser.add_argument("--st-batch-sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--engine-batch-sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also measure the engine under torch.compile")
    parser.add_argument("--prepare", type=Path, help="write the model (fp16) and corpus into this folder; no GPU")
    parser.add_argument("--bundle", type=Path, help="a folder written by --prepare: its model and corpus")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, args.corpus, args.model)
        return
    if args.bundle:
        models = [p for p in args.bundle.iterdir() if (p / "config.json").is_file()]
        args.model, args.corpus = str(models[0]), args.bundle / "corpus.jsonl.gz"

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from taskvec.engine import Encoder, EncodeRow

    if not torch.cuda.is_available():
        sys.exit("No CUDA device: this benchmark measures the GPU path only.")
    if not args.corpus.is_file():
        sys.exit(f"No corpus at {args.corpus}: pass --corpus path/to/scifact/corpus.jsonl")
    texts = read_corpus(args.corpus)
    engine = Encoder(args.model, device="cuda", dtype="fp16", batch_size=256, max_batch_tokens=256 * 256)
    plain = engine.tasks["retrieval"].without_adapter().with_prompts("")  # what ST computes
    seq = engine.max_seq_length
    out: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_cores": os.cpu_count(),
        "docs": len(texts),
        "max_seq_length": seq,
        "dtype": "fp16",
    }

    # sentence-transformers, fp16, at each batch size; its best is the reference.
    reference = SentenceTransformer(str(engine.model_path), device="cuda")
    reference.half()
    reference.max_seq_length = seq
    reference.encode(texts[:2048], batch_size=128)  # warm-up: kernels, allocator
    st_rates = {}
    for bs in args.st_batch_sizes:
        st_rates[bs] = len(texts) / timed(lambda bs=bs: reference.encode(texts, batch_size=bs), args.repeats)
    best_st = max(st_rates, key=lambda bs: st_rates[bs])
    out["st_docs_per_second"] = {str(k): round(v, 1) for k, v in st_rates.items()}

    # The engine at each batch size (token budget = rows x max_seq_length).
    engine.encode(texts[:2048], plain)  # warm-up
    engine_rates = {}
    for bs in args.engine_batch_sizes:
        engine.batch_size, engine.max_batch_tokens = bs, bs * seq
        engine_rates[bs] = len(texts) / timed(lambda: engine.encode(texts, plain), args.repeats)
    best_engine = max(engine_rates, key=lambda bs: engine_rates[bs])
    out["engine_docs_per_second"] = {str(k): round(v, 1) for k, v in engine_rates.items()}
    engine.batch_size, engine.max_batch_tokens = best_engine, best_engine * seq

    # The default path of a task with a LoRA adapter (fused: merged per call in fp16), at the best batch size.
    adapted = engine.tasks["retrieval"]
    if adapted.adapter is not None:
        engine.encode(texts[:2048], adapted)  # loads the adapter, warms up
        out["adapter_docs_per_second"] = round(
            len(texts) / timed(lambda: engine.encode(texts, adapted), args.repeats), 1
        )

    # Where the time goes: tokenizing alone (on the worker threads) and the vectors' agreement with ST's.
    start = time.perf_counter()
    engine.prepare([EncodeRow(t, plain) for t in texts])
    out["tokenize_only_docs_per_second"] = round(len(texts) / (time.perf_counter() - start), 1)
    ours = engine.encode(texts[:1024], plain).vectors
    theirs = reference.encode(texts[:1024], batch_size=best_st, convert_to_numpy=True).astype(np.float32)
    out["min_cosine_engine_vs_st_fp16"] = round(float((ours * theirs).sum(axis=1).min()), 5)

    if args.compile:
        compiled = Encoder(
            args.model,
            device="cuda",
            dtype="fp16",
            batch_size=best_engine,
            max_batch_tokens=best_engine * seq,
            compile=True,
        )
        start = time.perf_counter()
        compiled.encode(texts[:2048], plain)
        out["compile_seconds"] = round(time.perf_counter() - start, 1)
        out["compiled_docs_per_second"] = round(
            len(texts) / timed(lambda: compiled.encode(texts, plain), args.repeats), 1
        )

    out["best_st"] = {"batch_size": best_st, "docs_per_second": round(st_rates[best_st], 1)}
    out["best_engine"] = {"batch_size": best_engine, "docs_per_second": round(engine_rates[best_engine], 1)}
    out["ratio_engine_vs_best_st"] = round(engine_rates[best_engine] / st_rates[best_st], 3)
    out["target_10k_met"] = engine_rates[best_engine] >= 10_000
    if "adapter_docs_per_second" in out:
        out["adapter_vs_bare"] = round(out["adapter_docs_per_second"] / engine_rates[best_engine], 3)

    print(f"SciFact, {len(texts)} documents, {out['gpu']}, fp16, torch {out['torch']}")
    print()
    print("| encoder | batch | docs/s |")
    print("|---|---:|---:|")
    for bs, rate in st_rates.items():
        print(f"| sentence-transformers | {bs} | {rate:,.0f} |")
    for bs, rate in engine_rates.items():
        print(f"| taskvec engine | {bs} | {rate:,.0f} |")
    if "adapter_docs_per_second" in out:
        print(f"| taskvec engine, retrieval adapter | {best_engine} | {out['adapter_docs_per_second']:,.0f} |")
    if args.compile:
        print(f"| taskvec engine, torch.compile | {best_engine} | {out['compiled_docs_per_second']:,.0f} |")
    print()
    print(
        f"Engine best / ST best: {out['ratio_engine_vs_best_st']:.2f}x; tokenizing alone "
        f"{out['tokenize_only_docs_per_second']:,.0f} docs/s; min cosine engine vs ST {out['min_cosine_engine_vs_st_fp16']}."
    )
    print(json.dumps(out))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_encode.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
