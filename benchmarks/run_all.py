"""Every CPU benchmark in one command; the results go to docs/performance.md (and the raw figures to
docs/performance.json), with the machine described and each figure next to its same-run reference.

    python benchmarks/run_all.py            # or: make bench
    python benchmarks/run_all.py --quick    # smaller samples, a smoke test of the whole pipeline

Each benchmark runs in its own process (threads, BLAS settings and memory do not leak between them). The GPU
benchmark (benchmarks/gpu_encode.py) is separate: it needs a CUDA device.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import concurrency, encode, index, memory, search
from benchmarks.common import REPO, machine

BENCH = Path(__file__).resolve().parent
MODULES = {"encode": encode, "concurrency": concurrency, "index": index, "search": search, "memory": memory}


def arguments(quick: bool) -> dict[str, list[str]]:
    if quick:
        return {
            "encode": ["--docs", "32", "--mixed-docs", "32", "--repeats", "1", "--variants", "int8", "--no-quality"],
            "concurrency": ["--calls", "32", "--docs", "20", "--repeats", "1"],
            "index": ["--docs", "32", "--repeats", "1"],
            "search": ["--sizes", "10000", "--queries", "50", "--lance-queries", "5", "--real-docs", "300"],
            "memory": ["--repeats", "1"],
        }
    return {
        "encode": ["--docs", "128", "--mixed-docs", "64", "--repeats", "3"],
        "concurrency": ["--calls", "96", "--clients", "16", "--repeats", "2"],
        "index": ["--docs", "128", "--repeats", "2"],
        "search": [
            *("--sizes", "10000", "100000", "1000000", "--queries", "200", "--lance-queries", "10"),
            *("--lancedb-index", "100000", "--real-docs", "1000"),
        ],
        "memory": ["--repeats", "2"],
    }


def run_one(name: str, extra: list[str]) -> dict[str, Any]:
    """Run ``benchmarks/<name>.py``; its last stdout line is its JSON result."""
    print(f"== {name} {' '.join(extra)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *extra], capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        print(done.stderr[-4000:], file=sys.stderr)
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["benchmark_seconds"] = round(time.perf_counter() - start, 1)
    print(f"   {result['benchmark_seconds']} s", file=sys.stderr, flush=True)
    return result


def targets(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, measured, reference, verdict) rows."""
    rows: list[tuple[str, str, str, str]] = []

    def add(target: str, measured: str, reference: str, ok: bool | str) -> None:
        rows.append((target, measured, reference, ok if isinstance(ok, str) else "met" if ok else "**not met**"))

    e, c, mem, s = (r.get(k, {}) for k in ("encode", "concurrency", "memory", "search"))
    if "ratio_vs_st" in e:
        engine = e["ratio_vs_st"]["engine (fp32, batch 32)"]
        ref = f"ST batch 32: {e['docs_per_second']['sentence-transformers (batch 32)']:.1f} docs/s"
        rate = e["docs_per_second"]["engine (fp32, batch 32)"]
        add("CPU: engine >= 1.3x ST docs/s (batch 32)", f"{rate:.1f} docs/s = {engine:.2f}x", ref, engine >= 1.3)
        add("Issue 2: engine not slower than ST (>= 1.0x)", f"{engine:.2f}x", ref, engine >= 1.0)
        for name, value in e["ratio_vs_st"].items():
            if "opt-in" in name:
                add(f"{name} vs ST", f"{value:.2f}x", ref, "met" if value >= 1.3 else "below 1.3x")
        m = e["mixed_tasks"]
        single = f"single-task: {m['single_task_docs_per_second']:.1f} docs/s"
        measured = f"{m['mixed_task_docs_per_second']:.1f} docs/s = {m['ratio']:.2f}x"
        add("Mixed-task batches >= 0.9x single-task", measured, single, m["ratio"] >= 0.9)
    if "throughput_ratio" in c:
        measured = f"{c['concurrent']['calls_per_second']:.1f} calls/s = {c['throughput_ratio']:.2f}x"
        ref = f"sequential: {c['sequential']['calls_per_second']:.1f} calls/s"
        add("16 concurrent clients >= 3x sequential (MCP streamable HTTP)", measured, ref, c["throughput_ratio"] >= 3)
    if "ratio_four_adapters" in mem:
        ref = f"four copies: {mem['ratio_four_copies']:.2f}x"
        ok = mem["ratio_four_adapters"] <= 1.05
        add("Four adapters on one backbone <= 1.05x one model (RSS)", f"{mem['ratio_four_adapters']:.3f}x", ref, ok)
    for size in s.get("sizes", []):
        if size["rows"] == 100_000:
            iv, le = size["memory_ivf"], size["lancedb_exact"]
            ref = f"LanceDB exact p50 {le['p50_ms']:.1f} ms"
            add(
                "Search p50 <= 2 ms at 100K rows (without encoding)",
                f"IVF p50 {iv['p50_ms']:.2f} ms",
                ref,
                iv["p50_ms"] <= 2,
            )
    recalls = [(f"{size['rows']:,}", size["memory_ivf"]["recall_at_10"]) for size in s.get("sizes", [])]
    if s.get("real", {}).get("nlist"):  # the SciFact sample went through the IVF index
        recalls.append(("SciFact", s["real"]["recall_at_10"]))
    if recalls:
        measured = ", ".join(f"{n}: {v:.3f}" for n, v in recalls)
        add("Recall@10 >= 0.95 where an index is used", measured, "exact search", min(v for _, v in recalls) >= 0.95)
    add("GPU: >= 10,000 docs/s on SciFact in fp16", "not measured (no GPU here)", "ST in the same run", "open")
    return rows


NOTES = """## How the figures are made, and what is behind them

- **Encode (CPU).** The engine tokenizes once with a private copy of the Rust tokenizer, sorts rows by length and
  cuts batches by rows (32) and padded tokens (`max_batch_tokens`); ids are padded in numpy, the forward runs under
  `torch.inference_mode` with SDPA attention, float32 pooling. sentence-transformers also sorts by length, so on
  SciFact (most documents hit the 256-token limit) the arithmetic is the same; what differs is how the cores are
  used. ST runs one batch at a time on all torch threads, and every operator ends in a barrier where the threads
  wait for each other. The engine runs one batch per core at once, each on one torch thread (`Encoder.workers`),
  with no barriers; passes of at most 1,024 padded tokens (queries) run on one thread even alone. On a machine
  that other jobs share, a thread waiting at a barrier is often descheduled, which is where the difference comes
  from: measured here at load ~6.6, one query took 34-41 ms on one thread against 167-808 ms on two. On idle cores
  the gap narrows to the cost of the barriers. Exact fp32 shortcuts are otherwise exhausted on this CPU (AVX2, no
  bf16/AMX); smaller token budgets (4, 8 or 16 rows of 256 tokens, in an exploratory run) were slower. What goes
  further is opt-in, each with its cost measured here: `dtype="int8"` (dynamic per-channel quantization of the
  linear layers; STS-B Spearman through the eval harness; its vectors form a space of their own, so the guard
  never mixes them with fp32 ones; no LoRA adapters) and `compile=True` (torch.compile; identical vectors, a
  one-off compilation). ONNX Runtime was not tried: it is not installed here and would add a dependency.
- **Encode queue.** One `EncodeQueue` per server (`build_service`): each tool call's rows are checked and tokenized
  on the caller's worker thread, then worker threads (one per core on CPU, one on a GPU) fill every forward pass
  from all waiting requests (any tasks: per-row adapter names, passed to the LoRA layers through a thread-local
  so that concurrent passes are safe), smallest requests first, bounded by rows and `max_batch_tokens`; a lone
  request waits at most `batch_wait_ms` for company; a failed shared pass is retried per request so an error
  reaches only its caller. On a CPU a forward pass costs about the same per token whether it carries one query or
  sixteen (an exploratory run here: one query 34-41 ms, sixteen in one pass 384-480 ms, 24-30 ms each), so
  coalescing saves a quarter of the encoding at best; the rest of a call (MCP, JSON, pydantic, on both ends) is
  Python under one GIL per process. Sequential calls already keep about one core busy, so on 2 cores concurrency
  can add at most the second core, and on a shared machine that core is mostly taken: the 3x target is out of
  reach on this machine, whatever the queue does. Coalescing pays on a GPU, where sixteen queries cost about what
  one does.
- **The CPU encode target.** The exact fp32 path gains on ST through how it uses the cores, so its ratio depends
  on the machine's load (measured here under load ~7-8; expect less on idle cores). The opt-in variants reach 1.3x
  with their costs stated: int8 in quality, torch.compile in start-up time.
- **Search.** Unfiltered vector searches are answered from memory: a space's unit vectors and result columns are
  read once per table version; below `ann_threshold` rows one matrix-vector product (exact, the same ranking as
  LanceDB's exact search), from the threshold an IVF-Flat index (spherical k-means lists, exact scores inside the
  probed lists, `nprobe` calibrated at build time to recall@10 >= 0.98 on the space's own rows). Consistency: every
  query checks a change token (a counter bumped by this store's writes, and the `_versions` folder's timestamp for
  other processes; a timestamp under a second old is not trusted and LanceDB is asked for the version). A write
  re-reads the space and keeps the trained lists. Filtered searches still go to LanceDB. LanceDB's own IVF_HNSW_SQ
  index is measured in the search section too: it keeps LanceDB's fixed per-query cost, which is why the index
  lives in memory.
- **Machine load.** Other engineers train adapters and run evaluations on this machine; BLAS and OpenMP threads
  suffer most from that (the search section's in-memory products run on one BLAS thread for that reason). Ratios
  are of interleaved measurements; absolute figures are only indicative.
- **GPU.** Not measured: this machine has no GPU. `benchmarks/gpu_encode.py` (torch, transformers, peft and
  sentence-transformers only) measures the engine in fp16 against ST's best batch size on the full SciFact corpus:
  tokenizing on worker threads overlapped with the forward pass, pinned memory and non-blocking copies, widths
  rounded to multiples of 8, one device sync per 2,048 rows, and an optional torch.compile variant. The >= 10,000
  docs/s target stays open until it is run on a GPU.
"""


def report(r: dict[str, Any], quick: bool) -> str:
    m = r["machine"]
    lines = [
        "# Performance",
        "",
        "Written by `python benchmarks/run_all.py` (`make bench`); raw figures in `docs/performance.json`. Every "
        "figure stands next to a reference measured in the same run on the same machine, and comparisons are "
        "ratios: this machine is shared, so absolute figures move with its load (noted per section), ratios of "
        "interleaved measurements much less.",
        "",
        f"Measured {r['finished']} in {r['seconds'] / 60:.1f} minutes{' (--quick: small samples)' if quick else ''}.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['logical_cores']} cores; torch uses {m['torch_threads']} threads; "
        f"{m['memory_gib']} GiB RAM; no GPU" + (f" ({m['gpu']})" if m.get("gpu") else ""),
        f"- torch {m['torch']}, Python {m['python']}, {m['platform']}",
        f"- 1-minute load average: {m['load_average_at_start']} at the start, {r['load_at_end']} at the end "
        "(other jobs share this machine)",
        "",
        "## Targets",
        "",
        "| target | measured | same-run reference | verdict |",
        "|---|---|---|---|",
    ]
    lines += [f"| {t} | {v} | {ref} | {ok} |" for t, v, ref, ok in targets(r)]
    sections = [
        ("encode", "Encoding on CPU: engine against sentence-transformers", encode.markdown),
        ("concurrency", "Concurrent MCP clients through streamable HTTP", concurrency.markdown),
        ("index", "Indexing end to end", index.markdown),
        ("search", "Search latency and recall@10", search.markdown),
        ("memory", "Memory: adapters on one backbone", memory.markdown),
    ]
    lines += ["", NOTES.rstrip()]
    for key, title, render in sections:
        lines += ["", f"## {title}", ""]
        result = r.get(key, {})
        if "error" in result or not result:
            lines.append(f"Failed: {result.get('error', 'not run')}")
            continue
        lines.append(render(result))
        lines += ["", f"Load average during this benchmark: {_load(result)}; it took {result['benchmark_seconds']} s."]
    return "\n".join(lines) + "\n"


def _load(result: dict[str, Any]) -> str:
    return f"{result.get('load_at_start', '?')} at the start, {result.get('load_at_end', '?')} at the end"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small samples: a smoke test, not figures to keep")
    parser.add_argument("--only", nargs="*", choices=list(MODULES), help="run these benchmarks only")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument("--render", type=Path, help="only write the report again from a results JSON file")
    args = parser.parse_args()
    if args.render:
        args.out.write_text(report(json.loads(args.render.read_text()), quick=False))
        return
    start = time.perf_counter()
    results: dict[str, Any] = {"machine": machine()}
    for name, extra in arguments(args.quick).items():
        if not args.only or name in args.only:
            results[name] = run_one(name, extra)
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["load_at_end"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(results, args.quick))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
