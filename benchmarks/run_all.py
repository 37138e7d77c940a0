"""Every CPU benchmark in one command; the results go to docs/results/performance.md (and the raw figures to
docs/results/performance.json), with the machine described and each figure next to its same-run reference.

    python benchmarks/run_all.py            # or: make bench
    python benchmarks/run_all.py --quick    # smaller samples, a smoke test of the whole pipeline

Each benchmark runs in its own process (threads, BLAS settings and memory do not leak between them). Before each
one the run waits (up to ``--wait-minutes``) until other processes use at most ``--max-other-cores`` of the CPU
(``/proc/stat`` sampled while nothing of ours runs); during each benchmark it measures the same thing (all CPU time
on the machine minus the benchmark's own), and a benchmark that shared the CPU beyond that is marked in the report
as not a figure to keep. The 1-minute load average is recorded too, but it is not the criterion: a 2-thread
benchmark on 2 cores brings the load near 2 on its own. Where ``/proc/stat`` is missing, the load decides.
The GPU benchmark (benchmarks/gpu_encode.py) is separate: it needs a CUDA device. The quality side of the dtype
decision (benchmarks/precision.py, the harness on every home set) is read from docs/results/precision.json when present.

Why this file is past ~400 lines: the runner, the quiet-machine wait and the report with each figure's target
and same-run reference belong to one command; the benchmarks themselves are their own scripts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import concurrency, encode, index, memory, search, train_step
from benchmarks.common import MAX_OTHER_CORES, REPO, load_average, machine, others_cpu, others_cpu_cores
from taskvec.eval.suite import SUITE

BENCH = Path(__file__).resolve().parent
MAX_LOAD = 1.5  # above this 1-minute load on 2 cores, figures move with other jobs: marked (without /proc/stat)
MODULES = {
    "encode": encode,
    "concurrency": concurrency,
    "index": index,
    "search": search,
    "memory": memory,
    "train_step": train_step,
}


def arguments(quick: bool) -> dict[str, list[str]]:
    # ONNX Runtime's int8 beside torch's, where it is installed (pip install onnx onnxruntime; not a dependency)
    onnx = ["onnx-int8"] if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx") else []
    if quick:
        return {
            "encode": [
                "--docs",
                "32",
                "--mixed-docs",
                "32",
                "--repeats",
                "1",
                "--mixed-repeats",
                "1",
                "--variants",
                "int8",
            ],
            "concurrency": ["--calls", "32", "--docs", "20", "--repeats", "1"],
            "index": ["--docs", "32", "--repeats", "1"],
            "search": ["--sizes", "10000", "--queries", "50", "--lance-queries", "5", "--real-docs", "300"],
            "memory": ["--repeats", "1"],
            "train_step": ["--batch-size", "8", "--max-seq-length", "64", "--repeats", "1"],
        }
    return {
        "encode": ["--docs", "128", "--mixed-docs", "64", "--repeats", "3", "--variants", "int8", *onnx],
        "concurrency": ["--calls", "96", "--clients", "16", "--repeats", "2"],
        "index": ["--docs", "128", "--repeats", "2"],
        "search": [
            *("--sizes", "10000", "100000", "1000000", "--queries", "200", "--lance-queries", "10"),
            *("--real-docs", "1000"),
        ],
        "memory": ["--repeats", "2"],
        "train_step": ["--batch-size", "32", "--max-seq-length", "128", "--repeats", "5"],
    }


def wait_for_quiet(max_others: float, max_load: float, minutes: float) -> dict[str, float | None]:
    """Wait until other processes use at most ``max_others`` cores (the 1-minute load at most ``max_load`` where
    that cannot be measured), or ``minutes`` have passed; what was measured last."""
    deadline = time.monotonic() + minutes * 60
    while True:
        others, load = others_cpu_cores(), load_average()
        quiet = others <= max_others if others is not None else load <= max_load
        if quiet or time.monotonic() >= deadline:
            return {"others_cores_before": others, "load_before": load}
        print(f"   other processes use {others} cores (load {load}): waiting", file=sys.stderr, flush=True)
        time.sleep(45)


def run_one(name: str, extra: list[str]) -> dict[str, Any]:
    """Run ``benchmarks/<name>.py``; its last stdout line is its JSON result."""
    print(f"== {name} {' '.join(extra)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    with others_cpu() as shared:
        done = subprocess.run(
            [sys.executable, str(BENCH / f"{name}.py"), *extra], capture_output=True, text=True, cwd=REPO
        )
    if done.returncode != 0:
        print(done.stderr[-4000:], file=sys.stderr)
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["benchmark_seconds"] = round(time.perf_counter() - start, 1)
    result.update(shared)
    print(f"   {result['benchmark_seconds']} s", file=sys.stderr, flush=True)
    return result


def targets(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, measured, reference, verdict) rows; a verdict measured above the load limit says so."""
    rows: list[tuple[str, str, str, str]] = []
    limit = r.get("max_load", MAX_LOAD)

    def add(target: str, measured: str, reference: str, ok: bool | str, section: dict[str, Any] | None = None) -> None:
        verdict = ok if isinstance(ok, str) else "met" if ok else "**not met**"
        if section is not None and _loaded(section, limit):
            verdict += f" ({_sharing(section)}: not a figure to keep)"
        rows.append((target, measured, reference, verdict))

    e, c, mem, s = (r.get(k, {}) for k in ("encode", "concurrency", "memory", "search"))
    if "ratio_vs_st" in e:
        dtype = e["default_dtype"]
        rates, vs_st, vs_bf16 = e["docs_per_second"], e["ratio_vs_st"], e["ratio_vs_st_bf16"]
        st = encode.ST
        ref = f"ST fp32 batch 32: {rates[st]:.1f} docs/s"
        adapter, default = encode.ADAPTER.format(dtype=dtype), encode.DEFAULT.format(dtype=dtype)
        add(
            "CPU default path with the task's adapter >= 2.0x ST fp32 docs/s (batch 32)",
            f"{rates[adapter]:.1f} docs/s = {vs_st[adapter]:.2f}x ({dtype})",
            ref,
            vs_st[adapter] >= 2.0,
            e,
        )
        q = r.get("precision", {}).get("verdicts", {}).get("bf16") if dtype == "bfloat16" else None
        if q is not None:
            missing = [s.title for s in SUITE if s.folder not in r["precision"]["fp32"]]
            add(
                "Quality cost of the default path <= 0.002 on "
                + (f"the home sets but {', '.join(missing)} (not measured)" if missing else "every home set"),
                f"largest change {q['largest_change']:.4f}",
                "fp32, same harness (docs/precision.md)",
                q["largest_change"] <= 0.002,
            )
        add(
            "Engine default >= 1.0x ST under the same bf16 autocast",
            f"{vs_bf16[default]:.2f}x bare, {vs_bf16[adapter]:.2f}x with the adapter",
            f"ST bf16 autocast: {rates[encode.ST_BF16]:.1f} docs/s",
            vs_bf16[default] >= 1.0,
            e,
        )
        add(
            "Adapter path >= 0.9x the bare forward",
            f"{e['adapter_vs_bare']:.2f}x",
            f"bare {dtype}: {rates[default]:.1f} docs/s",
            e["adapter_vs_bare"] >= 0.9,
            e,
        )
        m = e["mixed_tasks"]
        single = f"single-task: {m['single_task_docs_per_second']:.1f} docs/s"
        measured = f"{m['mixed_task_docs_per_second']:.1f} docs/s = {m['ratio']:.2f}x"
        add("Mixed-task batches >= 0.9x single-task", measured, single, m["ratio"] >= 0.9, e)
        add(
            "Issue 2: engine fp32 not slower than ST fp32",
            f"{vs_st[encode.FP32]:.2f}x",
            ref,
            vs_st[encode.FP32] >= 1.0,
            e,
        )
        for name, value in vs_st.items():
            if "opt-in" in name or name == encode.ONNX_INT8:
                add(f"{name} vs ST fp32", f"{value:.2f}x", ref, "opt-in: measured, no target", e)
    if "throughput_ratio" in c:
        measured = f"{c['concurrent']['calls_per_second']:.1f} calls/s = {c['throughput_ratio']:.2f}x"
        ref = f"sequential: {c['sequential']['calls_per_second']:.1f} calls/s"
        add(
            "16 concurrent clients >= 1.7x sequential (MCP streamable HTTP, 2 cores)",
            measured,
            ref,
            c["throughput_ratio"] >= 1.7,
            c,
        )
    if "overhead" in c:
        o = c["overhead"]
        add(
            "Per-call overhead outside encoding and search p50 < 5 ms",
            f"p50 {o['p50_ms']:.1f} ms"
            + (
                f" (server {o['server_p50_ms']:.1f} ms, client {o['client_p50_ms']:.1f} ms)"
                if "server_p50_ms" in o
                else ""
            ),
            f"call p50 {o['call_p50_ms']:.1f} ms, of which service {o['service_p50_ms']:.1f} ms",
            o["p50_ms"] < 5,
            c,
        )
    if "ratio_four_adapters" in mem:
        ref = f"four copies: {mem['ratio_four_copies']:.2f}x"
        ok = mem["ratio_four_adapters"] <= 1.05
        add(
            "Four adapters on one backbone <= 1.05x one model (RSS)", f"{mem['ratio_four_adapters']:.3f}x", ref, ok, mem
        )
    for size in s.get("sizes", []):
        if size["rows"] == 100_000:
            iv, le = size["memory_ivf"], size["lancedb_exact"]
            ref = f"LanceDB exact p50 {le['p50_ms']:.1f} ms"
            ok = iv["p50_ms"] <= 2
            add("Search p50 <= 2 ms at 100K rows (without encoding)", f"IVF p50 {iv['p50_ms']:.2f} ms", ref, ok, s)
    recalls = [(f"{size['rows']:,}", size["memory_ivf"]["recall_at_10"]) for size in s.get("sizes", [])]
    if s.get("real", {}).get("nlist"):  # the SciFact sample went through the IVF index
        recalls.append(("SciFact", s["real"]["recall_at_10"]))
    if recalls:
        measured = ", ".join(f"{n}: {v:.3f}" for n, v in recalls)
        add("Recall@10 >= 0.95 where an index is used", measured, "exact search", min(v for _, v in recalls) >= 0.95)
    add("GPU: >= 10,000 docs/s on SciFact in fp16", "not measured (no GPU here)", "ST in the same run", "open")
    return rows


def _peak(section: dict[str, Any]) -> float:
    return max(float(section.get(k) or 0) for k in ("load_at_start", "load_at_end", "load_before"))


def _loaded(section: dict[str, Any], limit: float) -> bool:
    """Whether other work shared the CPU: measured where the run recorded it, else (older runs, no /proc/stat)
    read from the load average."""
    if section.get("others_cores") is not None:
        return section["others_cores"] > section.get("max_other_cores", MAX_OTHER_CORES)
    return _peak(section) > limit


def _sharing(section: dict[str, Any]) -> str:
    if section.get("others_cores") is not None:
        return f"other processes using {section['others_cores']} cores"
    return f"load {_peak(section)}"


NOTES = """## How the figures are made, and what is behind them

- **Encode (CPU), the default dtype.** `dtype=auto` runs the forward in bf16 on a CPU with native bf16 arithmetic
  (AVX512-BF16 or AMX on x86, FEAT_BF16 on arm64; `taskvec/engine/hardware.py`) and in fp32 elsewhere. The
  weights are loaded in bf16, the linear layers run on the CPU's bf16 units through oneDNN (AMX tiles where it has
  them, AVX512-BF16 instructions otherwise), pooling and normalisation stay in fp32. bf16 vectors share the fp32
  embedding space: on every home set measured, alone or mixed with fp32 vectors in one collection, they move the
  harness's figure by at most the tolerance (docs/precision.md). The fp32 path is unchanged and equals
  sentence-transformers' vectors; `dtype=fp32` (TASKVEC_DTYPE=fp32) keeps it.
- **Where the bf16 time goes.** The GFLOP/s column and the physical reference line put the forward against the
  CPU's peaks (benchmarks/roofline.py: flags, cores and clock). The linear layers are most of the FLOPs and run
  far faster in bf16; what is left is not FLOPs: the attention kernel (head dimension 32 keeps it off the matrix
  units; a third of a bf16 pass in a profile on an AMX machine), GELU, layer norms and the copies between them.
  fp32 runs near its peak; bf16 further below its own, far below where that peak is AMX's (16x fp32's) and less so
  on AVX512-BF16 (2x), for that reason.
- **LoRA adapters in bf16.** PEFT computes each LoRA layer as a side path of two thin fp32 GEMMs on gathered rows
  (PEFT keeps adapter weights in fp32), which cost a fifth of a bf16 pass. The engine's own LoRA forward
  (`taskvec/engine/lora.py`) runs each adapter's rows through one GEMM with the adapter merged for that call
  (`W + s B A`, made in fp32, rounded once; nothing kept, so four adapters cost no memory), or, for passes of a
  few tokens, the factored form in bf16. Mixed-task batches are ordered by adapter inside the pass, so each
  adapter's rows are one slice. fp32 keeps PEFT's path, bit for bit.
- **Cores.** ST runs one batch at a time on all torch threads; the engine runs one batch per core at once, each
  on one torch thread (`Encoder.workers`), with no barriers between operators; passes of at most 1,024 padded
  tokens (queries) run on one thread even alone.
- **Opt-in variants.** `dtype="int8"`: dynamic per-channel quantization of the linear layers (fbgemm, VNNI); its
  vectors form a space of their own (they move home-set figures by up to a point: docs/precision.md) and it takes
  no LoRA adapters. On a bf16 CPU it is slower than the bf16 default and worse in quality, so it is for CPUs
  without bf16. ONNX Runtime's int8 (benchmarks/onnx_int8.py: the backbone exported, weights quantized per
  channel, MLAS's VNNI kernels) is timed beside it where onnx and onnxruntime are installed; the engine adopts it
  only if it beats torch's int8 by a clear margin (1.3x), since it adds an export step, a dependency and one graph
  per adapter. The encode section gives the ratio and each int8 path's cosine to fp32.
  `compile=True` (torch.compile) is measured with `benchmarks/encode.py --variants compile`.
- **Training (`taskvec train`).** The training passes run under bf16 autocast where the CPU or GPU has native
  bf16 (`--autocast auto`, the default; `taskvec.train.config.autocast_bf16`): the backbone's products in bf16,
  the LoRA weights, the optimiser and the losses in fp32. The training section times one retrieval step each way
  on the same weights, in turns. What it costs in quality is measured on whole runs, not here: the shipped
  retrieval command run both ways is level on every validation and panel set (docs/training-data.md).
- **Encode queue and concurrent calls.** One `EncodeQueue` per server: each tool call's rows are checked and
  tokenized on the caller's thread, then worker threads (one per core on CPU) fill every forward pass from all
  waiting requests (any tasks), smallest first, bounded by rows and `max_batch_tokens`; a lone request waits at
  most `batch_wait_ms` for company. The rows the idle workers take at once are split between them by length
  (a pass pads every row to its longest: a classify call's one-word labels run in a pass of their own, not at
  the width of the longest query beside them), and the last idle worker takes the rest without waiting. The
  concurrency section times calls on open sessions (each session opens and calls every tool once before the
  clock starts: its set-up, tools/list and the SDK's compilation of each output schema, is paid once per client,
  not per call), clocks the server's service methods and each HTTP request in its ASGI app (benchmarks/served.py),
  and gives what a call costs outside encoding and search, split into the server's share and the client's.
  The client's share includes the MCP SDK's check of each structured result against the tool's output schema
  (jsonschema, every call); the tools publish those schemas with their models inlined and nullable fields as
  type lists (server/schemas.py), which halves that check for a ten-hit search result. On 2
  cores the client's 16 sessions, the server's event loop and its two encode workers share the same two cores
  and one GIL per process.
- **Search.** Unfiltered vector searches are answered from memory: a space's unit vectors and result columns are
  read once per table version; below `ann_threshold` rows one matrix-vector product (exact, the same ranking as
  LanceDB's exact search), from the threshold an IVF-Flat index (spherical k-means lists, exact scores inside the
  probed lists, `nprobe` calibrated at build time to recall@10 >= 0.98 on the space's own rows). Filtered
  searches still go to LanceDB.
- **Machine load.** Other engineers train adapters and run evaluations on this machine. Each benchmark waits for
  the 1-minute load to fall to the limit (1.5 on 2 cores) before it starts; a section that started or ended above
  it is marked, and its figures are not to be kept. Ratios are of interleaved measurements.
- **GPU.** Not measured: this machine has no GPU. `benchmarks/gpu_encode.py` is one short script for a GPU
  machine: `--prepare .taskvec/gpu_bundle` here writes the model (fp16 weights) and the gzipped SciFact corpus
  (about 50 MB, small enough to travel with the working tree), and `python3 benchmarks/gpu_encode.py --bundle
  .taskvec/gpu_bundle` there measures ST in fp16 at each batch size (its best is the reference), the engine at
  each batch size, the engine with the shipped retrieval adapter, and the vectors' agreement, in one call. The
  >= 10,000 docs/s target stays open until it is run on a GPU.
"""


def _kept_sections(r: dict[str, Any]) -> str:
    """What the header's date covers when `--only` kept some sections of an earlier run."""
    kept = sorted(k for k in MODULES if isinstance(r.get(k), dict) and r[k].get("kept_from"))
    if not kept:
        return ""
    rerun = sorted(k for k in MODULES if isinstance(r.get(k), dict) and k not in kept)
    since = sorted({r[k]["kept_from"] for k in kept})
    return (
        f" (`--only`: this date and the load below cover {', '.join(rerun) or 'no section'}; "
        f"{', '.join(kept)} kept from the run of {' and '.join(since)})"
    )


def report(r: dict[str, Any], quick: bool) -> str:
    m = r["machine"]
    lines = [
        "# Performance",
        "",
        "Written by `python benchmarks/run_all.py` (`make bench`); raw figures in `docs/results/performance.json`. Every "
        "figure stands next to a reference measured in the same run on the same machine, and comparisons are "
        "ratios: this machine is shared, so absolute figures move with its load (noted per section), ratios of "
        "interleaved measurements much less.",
        "",
        f"Measured {r['finished']} in {r['seconds'] / 60:.1f} minutes{' (--quick: small samples)' if quick else ''}"
        f"{_kept_sections(r)}.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['logical_cores']} cores; torch uses {m['torch_threads']} threads; "
        f"{m['memory_gib']} GiB RAM; no GPU" + (f" ({m['gpu']})" if m.get("gpu") else ""),
        f"- CPU features that set the default dtype: {', '.join(m.get('cpu_features') or ['none'])} "
        f"(native bf16: {'yes' if m.get('native_bf16') else 'no'}; `dtype=auto` runs "
        f"{'bf16' if m.get('native_bf16') else 'fp32'} here)",
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
        ("train_step", "Training an adapter: fp32 against bf16 autocast", train_step.markdown),
    ]
    lines += ["", NOTES.rstrip()]
    for key, title, render in sections:
        lines += ["", f"## {title}", ""]
        result = r.get(key, {})
        if "error" in result or not result:
            lines.append(f"Failed: {result.get('error', 'not run')}")
            continue
        if result.get("kept_from"):
            lines += [f"*Not rerun: kept from the run of {result['kept_from']}, with that run's code and machine.*", ""]
        if _loaded(result, r.get("max_load", MAX_LOAD)):
            lines += [
                f"**Measured with {_sharing(result)} (kept only at most {MAX_OTHER_CORES} cores, or a load of "
                f"{r.get('max_load', MAX_LOAD)} where that was not measured): not figures to keep.**",
                "",
            ]
        lines.append(render(result))
        lines += ["", f"Load average during this benchmark: {_load(result)}; it took {result['benchmark_seconds']} s."]
    return "\n".join(lines) + "\n"


def _load(result: dict[str, Any]) -> str:
    load = f"{result.get('load_at_start', '?')} at the start, {result.get('load_at_end', '?')} at the end"
    if result.get("others_cores") is not None:
        load += f"; other processes used {result['others_cores']} cores on average"
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small samples: a smoke test, not figures to keep")
    parser.add_argument(
        "--only", nargs="*", choices=list(MODULES), help="run these benchmarks only; keep the others' last figures"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "performance.md")
    parser.add_argument("--render", type=Path, help="only write the report again from a results JSON file")
    parser.add_argument(
        "--max-other-cores",
        type=float,
        default=MAX_OTHER_CORES,
        help="cores other processes may use during a kept figure",
    )
    parser.add_argument(
        "--max-load", type=float, default=MAX_LOAD, help="the same, as a 1-minute load, without /proc/stat"
    )
    parser.add_argument("--wait-minutes", type=float, default=20, help="how long to wait for that load per benchmark")
    args = parser.parse_args()
    if args.render:
        args.out.write_text(report(json.loads(args.render.read_text()), quick=False))
        return
    start = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "max_load": args.max_load}
    precision = REPO / "docs" / "results" / "precision.json"
    if precision.is_file():
        results["precision"] = json.loads(precision.read_text())
    if args.only and args.out.with_suffix(".json").is_file():  # keep the other sections of the last full run
        previous = json.loads(args.out.with_suffix(".json").read_text())
        for key in set(MODULES) - set(args.only):
            if key in previous:
                results[key] = {"kept_from": previous.get("finished"), **previous[key]}
    for name, extra in arguments(args.quick).items():
        if not args.only or name in args.only:
            before = wait_for_quiet(args.max_other_cores, args.max_load, args.wait_minutes)
            results[name] = {**run_one(name, extra), **before, "max_other_cores": args.max_other_cores}
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["load_at_end"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(results, args.quick))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
