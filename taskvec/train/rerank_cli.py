"""``taskvec train --task rerank``: the shared training flags mapped onto a ``RerankConfig``, run, summarised."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from taskvec.train.rerank import RerankConfig


def config_from_args(args: argparse.Namespace) -> RerankConfig:
    argv = getattr(args, "argv", None)
    command = "taskvec train " + shlex.join(argv if argv is not None else sys.argv[1:]).removeprefix("train ")
    return RerankConfig(
        data=list(args.data),
        out=Path(args.out),
        model=args.model,
        tasks_file=args.tasks_file,
        first_stage=args.first_stage,
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup=args.warmup,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=max(1, args.batch_size // args.group),  # --batch-size counts pairs: queries x group
        group=args.group,
        mix_temperature=args.mix_temperature,
        candidates=args.candidates,
        mine_skip=args.mine_skip,
        max_seq_length=args.max_seq_length or RerankConfig.max_seq_length,
        scale=args.scale,
        autocast=args.autocast,
        val_fraction=args.val_fraction,
        val_max=args.val_queries,
        val_candidates=args.val_candidates,
        evals_per_epoch=args.evals_per_epoch,
        patience=args.patience,
        seed=args.seed,
        threads=args.threads,
        device="cpu" if args.device == "auto" else args.device,
        progress=not args.no_progress,
        command=command,
        val_data=list(args.val_data or []),
    )


def run_rerank(args: argparse.Namespace) -> int:
    from taskvec.train.rerank import train_reranker

    info = train_reranker(config_from_args(args), log=lambda msg: print(msg, file=sys.stderr))
    val = info["validation"]
    for name, first in val["first_stage"].items():
        print(f"{name}: first stage {first:.4f}  reranked {val['reranked'].get(name, first):.4f}")
    print(f"saved {args.out} (best step {info['best_step']} of {info['steps']}, {info['wall_seconds'] / 60:.1f} min)")
    return 0
