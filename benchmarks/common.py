"""Shared by the benchmarks: the machine and its load, the SciFact corpus, timing, random LoRA adapters.

Every figure a benchmark reports sits next to a reference measured in the same run on the same machine, and the
comparisons are ratios: other jobs share this machine, and a ratio of two interleaved measurements survives a
busy neighbour far better than an absolute number does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"  # read in place: data never enters the repository
SCIFACT = DATA / "scifact" / "corpus.jsonl"
STSB = DATA / "stsbenchmark"


def scifact_texts(limit: int | None = None, seed: int = 0) -> list[str]:
    """SciFact documents as MTEB embeds them (title + " " + text); a fixed random sample when ``limit`` is set."""
    texts = []
    with SCIFACT.open() as f:
        for line in f:
            doc = json.loads(line)
            texts.append(f"{doc.get('title', '')} {doc['text']}".strip())
    if limit is not None and limit < len(texts):
        texts = random.Random(seed).sample(texts, limit)
    return texts


def scifact_queries(limit: int | None = None) -> list[str]:
    path = SCIFACT.parent / "queries.jsonl"
    with path.open() as f:
        queries = [json.loads(line)["text"] for line in f]
    return queries[:limit] if limit else queries


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def machine_cpu_seconds() -> float | None:
    """CPU-seconds every process on the machine has used since boot (``/proc/stat``: all but idle and I/O wait,
    steal included: a hypervisor's other guests); None where there is no ``/proc/stat``."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


MAX_OTHER_CORES = 0.25  # cores other processes may use, on average, during a benchmark whose figures are kept


def own_cpu_seconds() -> float:
    """CPU-seconds used by this process and its finished children (a benchmark run as a subprocess)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def others_cpu() -> Iterator[dict[str, float | None]]:
    """``others_cores``, once the block is done: cores other processes used on average during it (the machine's CPU
    time less this process's and its children's); None where that cannot be measured."""
    out: dict[str, float | None] = {"others_cores": None}
    machine_start, own_start, start = machine_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    yield out
    machine_end, wall = machine_cpu_seconds(), time.perf_counter() - start
    if machine_start is not None and machine_end is not None and wall > 0:
        others = machine_end - machine_start - (own_cpu_seconds() - own_start)
        out["others_cores"] = round(max(0.0, others) / wall, 2)


def others_cpu_cores(seconds: float = 15.0) -> float | None:
    """Cores busy with other work, averaged over ``seconds`` while this process sleeps; unlike the load average it
    counts neither threads that wait nor a benchmark's own threads."""
    start = machine_cpu_seconds()
    time.sleep(seconds)
    end = machine_cpu_seconds()
    return None if start is None or end is None else round(max(0.0, end - start) / seconds, 2)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": memory,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
    }
    from taskvec.engine.hardware import cpu_flags, cpu_has_bf16

    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "bf16", "i8mm")
    info["cpu_features"] = [f for f in wanted if f in cpu_flags()]
    info["native_bf16"] = cpu_has_bf16()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def interleaved(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each function, measured in turns (A B C A B C ...) so that a change in the machine's
    load during the benchmark hits every contender alike. The first call of each is a warm-up, not timed."""
    for fn in runs.values():
        fn()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def median(values: list[float]) -> float:
    return statistics.median(values)


def make_lora_adapter(model_dir: Path, out: Path, *, seed: int, rank: int = 16) -> Path:
    """A LoRA adapter with random non-zero weights on the attention projections: the size and compute of a
    trained one (which is what memory and speed depend on), without training."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    if (out / "adapter_config.json").is_file():
        return out
    torch.manual_seed(seed)
    base = AutoModel.from_pretrained(str(model_dir))
    config = LoraConfig(r=rank, lora_alpha=rank * 2, target_modules=["query", "key", "value"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(str(out))
    return out


def tasks_file_with_adapters(folder: Path, model_dir: Path, count: int) -> Path:
    """A tasks TOML giving ``count`` tasks (t0, t1, ...) their own random adapter, and prompts like the built-ins."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        make_lora_adapter(model_dir, folder / f"adapter{i}", seed=100 + i)
        kind = ["retrieval", "similarity", "classification", "clustering"][i % 4]
        lines += [f"[tasks.t{i}]", f'kind = "{kind}"', f'prompt = "task {i}: "', f'adapter = "adapter{i}"', ""]
    path = folder / "tasks.toml"
    path.write_text("\n".join(lines))
    return path


def ratio(value: float, reference: float) -> float:
    return round(value / reference, 3) if reference else float("nan")


def bench_main(
    doc: str | None,
    configure: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    markdown: Callable[[dict[str, Any]], str],
) -> None:
    """The command line of every benchmark: its options, then the Markdown section and, last, one JSON line
    (``run_all.py`` reads that line)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    result = run(parser.parse_args())
    print(markdown(result))
    print(json.dumps(result))
