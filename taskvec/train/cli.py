"""``taskvec train``: train one task's LoRA adapter on the frozen backbone; ``taskvec interpolate``: scale one back.

``register(subparsers)`` adds the sub-command to taskvec's CLI; ``python -m taskvec.train.cli`` runs it alone.
Training needs torch, transformers and peft, not lancedb or mcp.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from taskvec.eval.cli import parse_share
from taskvec.train.config import AUTOCAST_CHOICES, LOSS_NAMES, MINERS, TrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig(task="", data=[], out=Path())
    p.add_argument("--task", required=True, help="task name (built-in kind or one from --tasks-file)")
    p.add_argument(
        "--data",
        nargs="+",
        required=True,
        metavar="PATH",
        help="training data paths: a BEIR folder (its train split), a folder holding train.jsonl, or a data file; "
        "PATH#K/N keeps fold K of N; sts-*.csv#genre=G or #source=S keeps some STS Benchmark genres or original sets "
        "(comma-separated)",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (PEFT adapter + README.md model card)")
    p.add_argument("--overwrite", action="store_true", help="replace the adapter already in --out (default: refuse)")
    p.add_argument("--model", default=None, help="base model folder or hub id (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--tasks-file", type=Path, default=None, help="tasks TOML adding or overriding tasks")
    p.add_argument("--query-prompt", default=None, help="override the task's query prompt")
    p.add_argument("--document-prompt", default=None, help="override the task's document prompt")
    p.add_argument("--loss", default="auto", choices=("auto", *LOSS_NAMES), help="default: by task kind")
    p.add_argument("--rank", type=int, default=d.rank, help="LoRA rank (default %(default)s)")
    p.add_argument(
        "--alpha",
        type=float,
        default=d.alpha,
        help="LoRA alpha: the update is scaled by alpha/rank (default %(default)s)",
    )
    p.add_argument("--dropout", type=float, default=d.dropout, help="LoRA dropout (default %(default)s)")
    p.add_argument("--target-modules", nargs="+", default=None, help="default: the attention projections")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate (default %(default)s)")
    p.add_argument(
        "--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay (default %(default)s)"
    )
    p.add_argument("--warmup", type=float, default=d.warmup, help="fraction of steps")
    p.add_argument(
        "--epochs", type=float, default=d.epochs, help="passes over the data, fractions allowed (default %(default)s)"
    )
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (default: --epochs decides)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="examples per step (default %(default)s)")
    p.add_argument(
        "--max-seq-length", type=int, default=None, help="tokens per text at most (default: the model's limit)"
    )
    p.add_argument("--scale", type=float, default=d.scale, help="logit scale of contrastive / CoSENT / AnglE")
    p.add_argument("--temperature", type=float, default=d.temperature, help="SupCon temperature")
    p.add_argument(
        "--hard-negatives", type=int, default=d.hard_negatives, help="hard negatives per query from the data"
    )
    p.add_argument(
        "--mine-negatives", type=int, default=d.mine_negatives, help="hard negatives per query mined by the model"
    )
    p.add_argument("--mine-skip", type=int, default=d.mine_skip, help="top ranks skipped when mining negatives")
    p.add_argument(
        "--mine-with",
        choices=MINERS,
        default=d.mine_with,
        help="what ranks the corpus for --mine-negatives: model (the base model's cosine, default) or hybrid "
        "(the store's hybrid search: cosine and BM25, so lexical near-misses become negatives too)",
    )
    p.add_argument(
        "--matryoshka-dims",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="also train the first N dimensions of each vector (e.g. 256 128 64) for spaces truncated to them "
        "(TASKVEC_TRUNCATE_DIM); measure what it buys: docs/results/compression.md",
    )
    p.add_argument(
        "--blend-share",
        type=parse_share,
        default=None,
        metavar="SHARE",
        help="train for a blended task (taskvec.engine.blend): the loss and validation see the bare model's vector "
        "beside the adapter's at this adapter share, as the task will serve them, so the adapter learns what the "
        "bare model lacks; serve it blended, the share chosen on validation (default: the adapter alone)",
    )
    p.add_argument(
        "--anchor-weight",
        type=float,
        default=d.anchor_weight,
        help="keep similarity structure on --anchor-data near the base (not for similarity: docs/anchor.md)",
    )
    p.add_argument("--anchor-data", nargs="*", default=[], metavar="PATH", help="texts for the anchor (any format)")
    p.add_argument(
        "--anchor-batch", type=int, default=d.anchor_batch, help="anchor texts per step (default %(default)s)"
    )
    p.add_argument("--mix-temperature", type=float, default=d.mix_temperature, help="1 proportional, 0 equal")
    p.add_argument(
        "--val-data", nargs="*", default=[], metavar="PATH", help="validation-only sources (held out, never trained on)"
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=d.val_fraction,
        help="share of each source held out for validation (default %(default)s)",
    )
    p.add_argument(
        "--val-max", type=int, default=d.val_max, help="validation groups per source at most (default %(default)s)"
    )
    p.add_argument(
        "--val-corpus",
        type=int,
        default=d.val_corpus,
        help="distractor documents in retrieval validation (default %(default)s)",
    )
    p.add_argument(
        "--evals-per-epoch", type=int, default=d.evals_per_epoch, help="validations per epoch (default %(default)s)"
    )
    p.add_argument(
        "--patience",
        type=int,
        default=d.patience,
        help="validations without improvement before stopping (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default=d.device, help="cpu, cuda, mps or auto (default: auto)")
    p.add_argument(
        "--autocast",
        choices=AUTOCAST_CHOICES,
        default=d.autocast,
        help="the training passes in bf16: auto (default: where the CPU or GPU has native bf16, a step in ~0.4x its fp32 time "
        "there), bf16, or none (fp32, reproducible on any machine)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_distill_arguments(p)
    add_panel_arguments(p)
    add_rerank_arguments(p)


def add_distill_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of distillation from a reranker (docs/distillation.md)."""
    d = TrainConfig(task="", data=[], out=Path())
    g = p.add_argument_group("distillation (retrieval: learn a reranker's ranking of each query's candidates)")
    g.add_argument(
        "--teacher",
        default=None,
        metavar="DIR|hybrid",
        help="a rerank adapter folder (taskvec train --task rerank), a sentence-transformers CrossEncoder folder, or "
        "`hybrid`: the base model's hybrid search (cosine and BM25, score-fused as search fuses them); needs "
        "--mine-negatives (or --hard-negatives)",
    )
    g.add_argument(
        "--distill-weight",
        type=float,
        default=d.distill_weight,
        help="share of the teacher's listwise KL in the loss, the rest contrastive (default %(default)s)",
    )
    g.add_argument(
        "--distill-temperature",
        type=float,
        default=d.distill_temperature,
        help="the teacher's softmax temperature over its scores (default %(default)s: 1 / --scale)",
    )


def add_panel_arguments(p: argparse.ArgumentParser) -> None:
    """The ship rule's panel at the end of train and interpolate (docs/panel.md)."""
    g = p.add_argument_group("ship rule (the held-out panel at the end)")
    g.add_argument("--panel-root", type=Path, default=None, help="panel folder (default: $TASKVEC_PANEL, data/panel)")
    g.add_argument("--panel-sample", type=int, default=None, help="a sample per set: provisional, decides nothing")
    g.add_argument("--no-panel", action="store_true", help="skip the panel (the adapter then never ships)")


def _ship_rule(args: argparse.Namespace, out: Path, device: str = "auto") -> None:
    from taskvec.train.ship_rule import end_with_panel

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    if args.no_panel:
        log("ship rule: skipped (--no-panel); this adapter is not registered as a task's default.")
        return
    end_with_panel(out, panel_root=args.panel_root, sample=args.panel_sample, device=device, log=log)


def add_rerank_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of ``--task rerank`` (docs/rerank.md); the shared ones keep their meaning, --batch-size counts pairs."""
    from taskvec.train.rerank import RerankConfig

    d = RerankConfig(data=[], out=Path())
    g = p.add_argument_group("rerank (--task rerank: a cross-encoder adapter over a first stage)")
    g.add_argument("--first-stage", default=d.first_stage, help="embedding task whose cosine the head adds to")
    g.add_argument("--group", type=int, default=d.group, help="documents per query in the listwise loss")
    g.add_argument("--candidates", type=int, default=d.candidates, help="first-stage depth negatives come from")
    g.add_argument("--val-candidates", type=int, default=d.val_candidates, help="depth reranked in validation")
    g.add_argument("--val-queries", type=int, default=d.val_max, help="validation queries per source at most")


def config_from_args(args: argparse.Namespace, argv: list[str] | None = None) -> TrainConfig:
    return TrainConfig(
        task=args.task,
        data=list(args.data),
        out=args.out,
        model=args.model,
        tasks_file=args.tasks_file,
        query_prompt=args.query_prompt,
        document_prompt=args.document_prompt,
        loss=args.loss,
        rank=args.rank,
        alpha=args.alpha,
        dropout=args.dropout,
        target_modules=args.target_modules,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup=args.warmup,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        scale=args.scale,
        temperature=args.temperature,
        hard_negatives=args.hard_negatives,
        mine_negatives=args.mine_negatives,
        mine_skip=args.mine_skip,
        mine_with=args.mine_with,
        matryoshka_dims=sorted(set(args.matryoshka_dims), reverse=True),
        blend_share=args.blend_share,
        anchor_weight=args.anchor_weight,
        anchor_data=list(args.anchor_data or []),
        anchor_batch=args.anchor_batch,
        val_data=list(args.val_data or []),
        teacher=args.teacher,
        distill_weight=args.distill_weight,
        distill_temperature=args.distill_temperature,
        mix_temperature=args.mix_temperature,
        val_fraction=args.val_fraction,
        val_max=args.val_max,
        val_corpus=args.val_corpus,
        evals_per_epoch=args.evals_per_epoch,
        patience=args.patience,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
        autocast=args.autocast,
        progress=not args.no_progress,
        command="taskvec train " + shlex.join(argv if argv is not None else sys.argv[1:]).removeprefix("train "),
        overwrite=args.overwrite,
    )


def run(args: argparse.Namespace) -> int:
    from taskvec.train.trainer import train

    if args.task == "rerank":
        from taskvec.errors import InvalidInputError
        from taskvec.train.rerank_cli import run_rerank

        if args.teacher:
            raise InvalidInputError(
                "--teacher distils a reranker into a retrieval adapter; it does not train rerank tasks.",
                field="teacher",
                fix="Drop --teacher, or train --task retrieval.",
            )
        if args.blend_share is not None:
            raise InvalidInputError(
                "--blend-share trains an embedding adapter for a blended space; a reranker scores pairs, not vectors.",
                field="blend_share",
                fix="Drop --blend-share, or train an embedding task.",
            )
        from taskvec.train.output import check_out_folder

        check_out_folder(args.out, overwrite=args.overwrite)
        return run_rerank(args)

    cfg = config_from_args(args, getattr(args, "argv", None))
    result = train(cfg, log=lambda msg: print(msg, file=sys.stderr))
    val = result.validation
    for name in val["base"]:
        print(
            f"{name}: base {val['base'][name]:.4f}  prompt only {val['prompt_only'][name]:.4f}  "
            f"adapter {val['adapter'][name]:.4f}"
        )
    print(f"saved {result.out} (best step {result.best_step} of {result.steps}, {result.wall_seconds / 60:.1f} min)")
    _ship_rule(args, result.out, cfg.device)
    return 0


def run_interpolate(args: argparse.Namespace) -> int:
    from taskvec.train.interpolate import interpolate_adapter

    sources = [str(s) for s in args.source]
    command = shlex.join(["taskvec", "interpolate", *sources, "--weight", f"{args.weight:g}", "--out", str(args.out)])
    out = interpolate_adapter(args.source, args.weight, args.out, command=command, overwrite=args.overwrite)
    what = "update" if len(sources) == 1 else f"mean of {len(sources)} adapters' updates"
    print(f"saved {out} ({what} scaled by {args.weight:g}); measure its test figures again")
    _ship_rule(args, out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``interpolate`` to taskvec's CLI; the handler is ``args.func(args) -> int``."""
    p = subparsers.add_parser("train", help="train a task's LoRA adapter", description=__doc__)
    add_arguments(p)
    p.set_defaults(func=run)
    p = subparsers.add_parser(
        "interpolate",
        help="scale a trained adapter's update towards the base model (WiSE-FT), or average several (a soup)",
        description="Write a copy of a LoRA adapter whose update is scaled by --weight: 1 is the adapter as "
        "trained, smaller values move it towards the base model and usually lose less on data it never saw. Given "
        "several adapters of one task, the update is --weight times the mean of theirs (a uniform model soup).",
    )
    p.add_argument("source", type=Path, nargs="+", help="trained adapter folder(s) of one task")
    p.add_argument("--weight", type=float, required=True, help="in (0, 1]: the share of the trained update to keep")
    p.add_argument("--out", type=Path, required=True, help="output folder (must differ from source)")
    p.add_argument("--overwrite", action="store_true", help="replace the adapter already in --out (default: refuse)")
    add_panel_arguments(p)
    p.set_defaults(func=run_interpolate)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="taskvec")
    register(parser.add_subparsers(dest="command", required=True))
    if not argv or argv[0] not in ("train", "interpolate"):
        argv = ["train", *argv]
    args = parser.parse_args(argv)
    args.argv = argv
    from taskvec.cli import run_command

    return run_command(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
