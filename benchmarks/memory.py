"""Resident memory: one model with one adapter, four adapters on one backbone, and four separate model copies.

Each configuration runs in a fresh process (the bundled all-MiniLM-L6-v2 on CPU, LoRA adapters of rank 16 on
the attention projections), encodes a few texts with every task so that every adapter is loaded and used, and
reports its resident set size (VmRSS). The same process with torch and transformers imported but no model is the
floor, so the model's own share can be read too.

    python benchmarks/memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import load_average, ratio, tasks_file_with_adapters

CONFIGS = ("imports only", "one model, one adapter", "one backbone, four adapters", "four model copies")
TEXTS = ["How do vaccines train the immune system?", "The stock market fell sharply.", "Photosynthesis."]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def child(config: str, tasks_file: str) -> None:
    """Inside the measured process: load what ``config`` says, use every adapter, print VmRSS."""
    import gc

    import torch  # noqa: F401  (the floor includes torch and transformers)
    import transformers  # noqa: F401

    from taskvec.engine import Encoder

    keep: list[Any] = []
    if config == "one model, one adapter":
        enc = Encoder(device="cpu", tasks_file=Path(tasks_file))
        enc.encode(TEXTS, "t0")
        keep.append(enc)
    elif config == "one backbone, four adapters":
        enc = Encoder(device="cpu", tasks_file=Path(tasks_file))
        for i in range(4):
            enc.encode(TEXTS, f"t{i}")
        keep.append(enc)
    elif config == "four model copies":
        for i in range(4):
            enc = Encoder(device="cpu", tasks_file=Path(tasks_file))
            enc.encode(TEXTS, f"t{i}")
            keep.append(enc)
    gc.collect()
    print(json.dumps({"config": config, "rss_mib": round(rss_mib(), 1)}))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from taskvec.engine.model_files import resolve_model_path

    _, model_dir = resolve_model_path(None)
    out: dict[str, Any] = {"load_at_start": load_average(), "rss_mib": {}}
    with tempfile.TemporaryDirectory(prefix="taskvec-memory-") as tmp:
        tasks_file = tasks_file_with_adapters(Path(tmp), model_dir, 4)
        for config in CONFIGS:
            values = []
            for _ in range(args.repeats):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", config, "--tasks-file", str(tasks_file)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                values.append(json.loads(done.stdout.strip().splitlines()[-1])["rss_mib"])
            out["rss_mib"][config] = min(values)  # the least noisy: allocator slack only ever adds
    rss = out["rss_mib"]
    one = rss["one model, one adapter"]
    out["ratio_four_adapters"] = ratio(rss["one backbone, four adapters"], one)
    out["ratio_four_copies"] = ratio(rss["four model copies"], one)
    floor = rss["imports only"]
    out["model_mib_over_imports"] = {k: round(v - floor, 1) for k, v in rss.items() if k != "imports only"}
    out["load_at_end"] = load_average()
    return out


def markdown(r: dict[str, Any]) -> str:
    rss, over = r["rss_mib"], r["model_mib_over_imports"]
    one = rss["one model, one adapter"]
    lines = [
        "| configuration | resident memory | over the imports-only floor | ratio to one model |",
        "|---|---:|---:|---:|",
    ]
    for config in CONFIGS:
        extra = f"{over[config]:.0f} MiB" if config in over else "-"
        lines.append(f"| {config} | {rss[config]:.0f} MiB | {extra} | {ratio(rss[config], one):.3f}x |")
    lines += [
        "",
        f"Four adapters on one backbone: **{r['ratio_four_adapters']:.3f}x** one model's resident memory; four "
        f"copies (the reference): {r['ratio_four_copies']:.2f}x.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--tasks-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.tasks_file)
        return
    result = run(args)
    print(markdown(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
