"""A training step of an embedding adapter in fp32 and under bf16 autocast (``taskvec train --autocast``).

One retrieval step as ``taskvec train`` runs it: the trainer's own network (the backbone with a fresh LoRA adapter
on the attention projections), ``--batch-size`` SciFact queries and twice as many documents (a positive and a mined
negative each, cut to ``--max-seq-length`` tokens), the in-batch contrastive loss, backward and an AdamW step. The
two precisions run in turns on the same texts, and the figure is the ratio of their median step times. It also
reports how close the bf16 vectors are to the fp32 ones (the same weights, before any step).

    python benchmarks/train_step.py --batch-size 32 --max-seq-length 128 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import bench_main, interleaved, load_average, machine, median, ratio, scifact_texts

PRECISIONS = ("fp32", "bf16")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from taskvec.train.config import TrainConfig
    from taskvec.train.losses import in_batch_contrastive
    from taskvec.train.model import EmbeddingModel

    if args.threads:
        torch.set_num_threads(args.threads)
    texts = scifact_texts(args.batch_size * 3, seed=1)
    queries = [t.split(". ")[0] for t in texts[: args.batch_size]]  # a title-like first sentence as the query
    documents = texts[args.batch_size :]
    cpu = torch.device("cpu")
    config = TrainConfig(task="retrieval", data=[], out=Path(), model=args.model, max_seq_length=args.max_seq_length)
    torch.manual_seed(0)
    net = EmbeddingModel(config, cpu)  # one network: both precisions step the same weights in turns
    optimiser = torch.optim.AdamW(net.trainable_parameters(), lr=1e-4)
    positives = torch.arange(len(queries))

    def step(bf16: bool) -> None:
        net.autocast = bf16
        q, d = net.embed_train(queries), net.embed_train(documents)
        loss = in_batch_contrastive(q, d, positives, scale=20.0)  # document i is query i's positive
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    net.autocast = False
    exact = net.embed(documents)
    net.autocast = True
    rounded = net.embed(documents)
    load_start = load_average()
    seconds = interleaved({p: (lambda p=p: step(p == "bf16")) for p in PRECISIONS}, args.repeats)
    medians = {p: median(s) for p, s in seconds.items()}
    return {
        "machine": machine(),
        "batch_size": args.batch_size,
        "documents": len(documents),
        "max_seq_length": args.max_seq_length,
        "repeats": args.repeats,
        # 4 significant digits, not 3 decimals: a tiny model's milliseconds rounded to 0.001 s lose the ratio
        "seconds_per_step": {p: float(f"{m:.4g}") for p, m in medians.items()},
        "bf16_to_fp32_time": ratio(medians["bf16"], medians["fp32"]),
        "lowest_cosine_bf16_to_fp32": round(float((exact * rounded).sum(axis=1).min()), 5),
        "load_at_start": load_start,
        "load_at_end": load_average(),
    }


def markdown(r: dict[str, Any]) -> str:
    s = r["seconds_per_step"]
    return "\n".join(
        [
            f"A retrieval training step: {r['batch_size']} queries and {r['documents']} documents of at most "
            f"{r['max_seq_length']} tokens, LoRA on the attention projections, {r['repeats']} steps of each in turns "
            f"on {r['machine']['cpu']} ({r['machine'].get('torch_threads', '?')} torch threads).",
            "",
            "| forward passes | seconds per step (median) | ratio to fp32 |",
            "|---|---:|---:|",
            f"| fp32 | {s['fp32']:.2f} | 1.00 |",
            f"| bf16 autocast | {s['bf16']:.2f} | {r['bf16_to_fp32_time']:.2f} |",
            "",
            f"bf16 vectors against fp32 (same weights): lowest cosine {r['lowest_cosine_bf16_to_fp32']:.5f}.",
        ]
    )


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=32, help="queries per step (documents: twice as many)")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps of each precision")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--model", default=None, help="model folder (default: the bundled MiniLM)")


if __name__ == "__main__":
    bench_main(__doc__, options, run, markdown)
