"""What a blended task costs: ``task=clustering`` (its adapter blended with the bare model, taskvec.engine.blend)
against the same adapter alone and the bare model, in documents per second on the default path, interleaved turns.

A blended text runs twice through the model (once bare, once with the adapter), so the expected ratio against the
adapter alone is about 0.5; the figure says what it is on this machine, with the load recorded.

    python benchmarks/blend_cost.py --docs 256 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import bench_main, interleaved, load_average, machine, median, ratio, scifact_texts


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docs", type=int, default=256, help="SciFact documents per call (default: 256)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved turns (default: 5)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from taskvec.engine import Encoder

    encoder = Encoder()
    blended = encoder.tasks["clustering"]
    if blended.blend is None:
        raise SystemExit("task=clustering is not blended on this model: nothing to measure")
    alone, bare = replace(blended, blend=None), blended.without_adapter().with_prompts("")
    texts = scifact_texts(args.docs)
    load_before = load_average()
    contenders = {"blended": blended, "alone": alone, "bare": bare}

    def encode_with(task: Any) -> Any:
        return lambda: encoder.encode(texts, task)

    seconds = interleaved({name: encode_with(task) for name, task in contenders.items()}, args.repeats)
    rate = {name: len(texts) / median(values) for name, values in seconds.items()}
    return {
        "docs": len(texts),
        "turns": args.repeats,
        "dtype": str(encoder.dtype).removeprefix("torch."),
        "share": blended.blend,
        "docs_per_second": {name: round(value, 2) for name, value in rate.items()},
        "blended_vs_alone": ratio(rate["blended"], rate["alone"]),
        "blended_vs_bare": ratio(rate["blended"], rate["bare"]),
        "width": {"blended": encoder.space(blended).dimension, "alone": encoder.space(alone).dimension},
        "load_1min": {"before": round(load_before, 2), "after": round(load_average(), 2)},
        "machine": machine(),
    }


def markdown(r: dict[str, Any]) -> str:
    rate = r["docs_per_second"]
    return (
        f"Blended clustering (share {r['share']:g}, {r['width']['blended']} dimensions) encodes {rate['blended']} "
        f"docs/s against {rate['alone']} for its adapter alone ({r['blended_vs_alone']}x) and {rate['bare']} for the "
        f"bare model ({r['blended_vs_bare']}x): {r['docs']} SciFact documents, {r['dtype']}, median of {r['turns']} "
        f"interleaved turns, 1-minute load {r['load_1min']['before']} -> {r['load_1min']['after']}."
    )


if __name__ == "__main__":
    bench_main(__doc__, configure, run, markdown)
