"""``taskvec eval``: one sub-command per task kind, ``suite`` for the whole ablation over ../shared/data,
``checks`` for an adapter against the base model on home and held-out sets, and ``panel`` for a task's prompt and
adapter against the bare model on the held-out panel of other domains (docs/panel.md), with the ship rule's verdict.

``taskvec.cli`` calls :func:`register`, which adds ``taskvec eval KIND ...``; ``python -m taskvec.eval.cli KIND ...``
runs the same handlers without the rest of the CLI. With ``--json`` the last line of stdout is one JSON object (other
tools parse it); everything meant for people goes before it, progress and warnings go to stderr.

Past ~400 lines because it is the one argument parser of every ``eval`` sub-command (the run logic lives in the
modules it calls: runners, suite, checks, panel, rerank, hybrid).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskvec.errors import InvalidInputError
from taskvec.eval.checks import ENCODE_BATCH, FEW_SHOT_DRAWS, MODES
from taskvec.eval.variants import ADAPTER_CHOICES, DEFAULT_TASKS, PROMPT_CHOICES, Variant
from taskvec.options import DEFAULT_CANDIDATES, SEARCH_MODES, keyword_weight_for

if TYPE_CHECKING:
    from taskvec.engine import Encoder

KINDS = tuple(DEFAULT_TASKS)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` with its sub-commands to the main CLI's sub-parsers."""
    parser = subparsers.add_parser(
        "eval",
        help="measure embedding quality on standard data sets",
        description="Score the encoder on a data set of one task kind, or run the whole ablation suite.",
    )
    _populate(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m taskvec.eval.cli KIND --data DIR ...``."""
    parser = argparse.ArgumentParser(prog="python -m taskvec.eval.cli", description="taskvec quality harness")
    _populate(parser)
    args = parser.parse_args(argv)
    from taskvec.cli import run_command

    return run_command(args.func, args)


def _populate(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="eval_kind", required=True, metavar="KIND")
    helps = {
        "retrieval": "BEIR folder: nDCG@10 (also recall@100, MRR@10), exact cosine search",
        "similarity": "scored sentence pairs: Spearman correlation of cosine",
        "classification": "labelled train/test texts: MTEB few-shot logistic regression, mean accuracy",
        "clustering": "labelled texts: k-means with k = number of labels, V-measure",
        "pairs": "labelled pairs: average precision of cosine",
    }
    for kind in KINDS:
        p = kinds.add_parser(kind, help=helps[kind], description=helps[kind])
        p.add_argument("--data", required=True, type=Path, help="the data set's folder")
        p.add_argument("--task", help=f"task to evaluate (default: {DEFAULT_TASKS[kind]})")
        p.add_argument("--prompt", choices=PROMPT_CHOICES, default="task", help="which prompt (default: task)")
        p.add_argument("--adapter", choices=ADAPTER_CHOICES, default="task", help="which adapter (default: task)")
        p.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")
        if kind == "classification":
            p.add_argument(
                "--n", type=_positive, help="training texts per label (default: the layout's MTEB value, else 8)"
            )
            p.add_argument("--experiments", type=_positive, default=10, help="draws of training texts (default: 10)")
            p.add_argument("--seed-sets", type=_positive, default=1, help="repeat with seeds 42, 43, ... (default: 1)")
        if kind == "clustering":
            p.add_argument("--runs", type=_positive, default=10, help="k-means runs with different seeds (default: 10)")
        if kind == "retrieval":
            add_mode_option(p)
            p.add_argument("--rerank", metavar="TASK", help="rerank the first stage with this rerank task or folder")
            p.add_argument(
                "--candidates",
                type=_positive,
                default=DEFAULT_CANDIDATES,
                help="with --rerank: first-stage depth (%(default)s)",
            )
        add_encoder_options(p)
        p.set_defaults(func=_run_one, eval_kind=kind)

    p = kinds.add_parser("suite", help="run every kind on ../shared/data and write docs/results/quality.md")
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"), help="folder of the data sets")
    p.add_argument("--out", type=Path, default=Path("docs/results/quality.md"), help="Markdown report to write")
    p.add_argument("--json-out", type=Path, help="raw results (default: the report's path with .json)")
    p.add_argument("--sets", help="rerun only these data sets (comma-separated folder names), keep the other columns")
    p.add_argument("--render-only", action="store_true", help="rewrite the report from its JSON; run nothing")
    p.add_argument("--seed-sets", type=_positive, default=20, help="seed sets for classification spreads (default: 20)")
    add_encoder_options(p)
    p.set_defaults(func=_run_suite)

    p = kinds.add_parser(
        "checks",
        help="an adapter against the base model on its task's home test sets and held-out sets",
        description="Score the base model, the task's prompts and an adapter on the task kind's home test sets and "
        "on held-out sets the adapter never trained on (MTEB's protocols, fp32); --card records the figures in "
        "the adapter's model card.",
    )
    p.add_argument("--task", required=True, help="the task whose prompts (and kind's sets) to use")
    p.add_argument("--adapter", type=Path, help="adapter folder (default: none, base and prompt modes only)")
    p.add_argument(
        "--data-root",
        type=Path,
        default=Path(os.environ.get("TASKVEC_DATA", "../shared/data")),
        help="folder of the data sets (default: $TASKVEC_DATA, else ../shared/data)",
    )
    p.add_argument("--query-prompt", help="query prompt (default: the adapter's training prompt, else the task's)")
    p.add_argument("--document-prompt", help="document prompt (default: as --query-prompt)")
    p.add_argument("--modes", nargs="+", default=["base", "adapter"], choices=MODES, help="default: base adapter")
    p.add_argument("--only", nargs="*", help="run only the sets whose names contain one of these (any case)")
    p.add_argument("--draws", type=_positive, default=FEW_SHOT_DRAWS, help="few-shot classification draws (MTEB: 10)")
    add_blend_option(p)
    p.add_argument("--card", action="store_true", help="record the figures in the adapter's model card")
    p.add_argument("--json", action="store_true", help="print all figures as one JSON object on the last line")
    p.add_argument("--json-out", type=Path, help="also write the figures to this JSON file")
    p.add_argument("--rerank", metavar="TASK", help="two stages: the task's first stage reranked by this task/folder")
    p.add_argument(
        "--candidates",
        type=_positive,
        default=DEFAULT_CANDIDATES,
        help="with --rerank: first-stage depth (%(default)s)",
    )
    add_encoder_options(p)
    p.set_defaults(func=_run_checks)

    p = kinds.add_parser(
        "panel",
        help="a task's prompt and adapter against the bare model on the held-out panel, with the ship rule",
        description="Score the bare model (no prompt, no adapter), the task's prompts alone and the adapter with its "
        "prompts on every panel set of the task's kind; a paired bootstrap gives each set's noise and a verdict "
        "(up / level / down); the ship rule says what the task may run with by default (docs/panel.md).",
    )
    p.add_argument("--task", required=True, help="the task whose prompts (and kind's panel sets) to use")
    p.add_argument(
        "--adapter",
        help="adapter folder, or 'none' (default: the adapter shipped for the task, if any, whether it ships or not)",
    )
    p.add_argument("--panel-root", type=Path, help="the panel folder (default: $TASKVEC_PANEL, else data/panel)")
    p.add_argument("--sample", type=_positive, help="keep this many queries/pairs/texts per set (CI; decides nothing)")
    p.add_argument(
        "--sets", nargs="+", metavar="NAME", help="only these sets of the kind's panel (decides nothing; default: all)"
    )
    p.add_argument("--rounds", type=_positive, default=1000, help="paired bootstrap rounds (default: 1000)")
    p.add_argument("--query-prompt", help="query prompt (default: the adapter's training prompt, else the task's)")
    p.add_argument("--document-prompt", help="document prompt (default: as --query-prompt)")
    p.add_argument(
        "--against",
        metavar="DIR",
        help="a second adapter (e.g. the one --adapter would replace): also read --adapter against it, paired on "
        "the same bootstrap draws",
    )
    add_blend_option(p)
    p.add_argument("--card", action="store_true", help="record the panel in the adapter's model card")
    p.add_argument("--json", action="store_true", help="print the panel as one JSON object on the last line")
    p.add_argument("--json-out", type=Path, help="also write the panel to this JSON file")
    add_mode_option(
        p,
        "retrieval only: with hybrid, the served task's vector search against its hybrid search (with --rerank: "
        "the hybrid search against it reranked)",
    )
    p.add_argument(
        "--rerank",
        metavar="TASK",
        help="retrieval only: the served task's search against the same search reranked by this rerank task or "
        "folder (--card records it in the rerank adapter's card)",
    )
    p.add_argument(
        "--candidates",
        type=_positive,
        default=DEFAULT_CANDIDATES,
        help="with --rerank: first-stage depth (%(default)s)",
    )
    add_encoder_options(p)
    p.set_defaults(func=_run_panel)


def add_mode_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    from taskvec.cli import add_keyword_weight_option

    parser.add_argument(
        "--mode",
        choices=SEARCH_MODES,
        default="vector",
        help=help
        or "the first stage: exact cosine search, or hybrid (fused with BM25, as search(mode='hybrid') does; "
        "also prints the change against vector search) (default: vector)",
    )
    add_keyword_weight_option(parser)


def add_blend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--blend",
        type=parse_share,
        metavar="SHARE",
        help="blend the adapter with the bare model at this adapter share, 0 < SHARE < 1 (taskvec.engine.blend): "
        "twice the width, each text encoded twice (default: the adapter alone)",
    )


def _check_blend(args: argparse.Namespace) -> None:
    """--blend applies to one adapter's vector search: refused where it would be silently ignored."""
    if args.blend is None:
        return
    # the panel's default adapter is the task's shipped one; checks have none by default
    if args.adapter == "none" or (args.adapter is None and args.eval_kind == "checks"):
        raise InvalidInputError(
            "--blend blends an adapter with the bare model", field="--blend", fix="Pass --adapter DIR."
        )
    if args.rerank or getattr(args, "mode", "vector") != "vector":
        flag = "--rerank" if args.rerank else "--mode hybrid"
        raise InvalidInputError(
            f"--blend does not combine with {flag}.", field="--blend", fix=f"Drop {flag}, or drop --blend."
        )


def parse_share(text: str) -> float:
    """An adapter share for --blend and train's --blend-share: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number strictly between 0 and 1 (e.g. 0.25)")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


ENCODER_FLAGS = ("model", "tasks_file", "device", "dtype", "batch_size")


def add_encoder_options(parser: argparse.ArgumentParser) -> None:
    """The encoder flags of the main CLI. ``SUPPRESS`` keeps a value a parent parser already parsed."""
    group = parser.add_argument_group("encoder (overrides TASKVEC_* and the TOML file)")
    group.add_argument("--model", default=argparse.SUPPRESS, help="model folder or hub id (default: bundled MiniLM)")
    group.add_argument("--tasks-file", type=Path, default=argparse.SUPPRESS, help="TOML file of extra tasks")
    group.add_argument("--device", default=argparse.SUPPRESS, help="auto, cpu, cuda, mps (default: auto)")
    group.add_argument(
        "--dtype",
        default=argparse.SUPPRESS,
        help="auto, fp32, fp16, bf16 (default: fp32, the figures of record; TASKVEC_DTYPE sets another)",
    )
    group.add_argument("--batch-size", type=int, default=argparse.SUPPRESS, help="texts per forward pass")


def build_encoder(args: argparse.Namespace) -> Encoder:
    """The encoder of a measurement, built as the rest of taskvec builds one (flags, then TASKVEC_* variables, then
    the TOML file) but in fp32 unless --dtype or TASKVEC_DTYPE names another dtype. Figures of record are fp32 (the
    quality report, the model cards, the published MTEB figures reproduced to five decimals), while ``auto``, the
    server's default, runs bf16 on a CPU that has it (docs/precision.md)."""
    from taskvec.config import Settings

    values = {k: getattr(args, k) for k in ENCODER_FLAGS if getattr(args, k, None) is not None}
    if "dtype" not in values and not os.environ.get("TASKVEC_DTYPE"):
        values["dtype"] = "fp32"
    try:
        settings = Settings(**values)
    except ValueError as exc:  # pydantic's ValidationError: say which setting, as the main CLI does
        raise InvalidInputError(
            f"Invalid setting: {exc}", field="settings", fix="Correct the flag or variable."
        ) from exc
    return settings.build_encoder()


def _run_one(args: argparse.Namespace) -> int:
    from taskvec.eval.datasets import LOADERS
    from taskvec.eval.runners import run_variant

    kind = args.eval_kind
    options: dict[str, Any] = {"show_progress": sys.stderr.isatty()}
    if kind == "classification":
        options.update(samples_per_label=args.n, experiments=args.experiments, seed_sets=args.seed_sets)
    if kind == "clustering":
        options.update(runs=args.runs)
    if kind == "retrieval":
        options.update(mode=args.mode, keyword_weight=keyword_weight_for(args.mode, args.keyword_weight))
    if kind == "retrieval" and args.rerank:
        options.update(rerank=args.rerank, candidates=args.candidates)
    variant = Variant(args.prompt, args.adapter)
    data = LOADERS[kind](args.data)  # before the model loads: bad data fails fast
    encoder = build_encoder(args)
    task_name = args.task or DEFAULT_TASKS[kind]
    if variant.adapter == "task" and encoder.tasks[task_name].adapter is None:
        print(f"note: task {task_name!r} has no adapter; --adapter task runs it without one.", file=sys.stderr)
    result = run_variant(kind, encoder, variant, data, task=args.task, **options)
    record = result.record(variant)
    extras = ", ".join(f"{k} {v:.4f}" for k, v in result.details.items() if isinstance(v, float) and k != result.metric)
    print(
        f"{result.dataset} ({kind}, task {result.task}, {variant.label}): {result.metric} = {result.value:.4f}"
        f"  [{extras}]  space {result.space_id}, {result.seconds:.1f} s"
    )
    if "rerank" in result.details:
        two = result.details["rerank"]
        print(
            f"  retrieval + rerank over the top {two['candidates']}: nDCG@10 {two['first_stage']:.4f} -> "
            f"{two['reranked']:.4f} (change {two['change']:+.4f} ± {two['change_std']:.4f} bootstrap sd over "
            f"queries; {two['queries_better']} better, {two['queries_worse']} worse)  reranker: {two['reranker']}"
        )
    if "hybrid" in result.details:
        fused = result.details["hybrid"]
        print(
            f"  hybrid (BM25 weight {result.details['keyword_weight']}) against vector search: nDCG@10 "
            f"{fused['vector']:.4f} -> {fused['hybrid']:.4f} (change {fused['change']:+.4f} ± "
            f"{fused['change_std']:.4f} bootstrap sd over queries; {fused['queries_better']} better, "
            f"{fused['queries_worse']} worse)"
        )
    if args.json:
        print(json.dumps(record, sort_keys=True))
    return 0


def _run_suite(args: argparse.Namespace) -> int:
    from taskvec.eval.suite import render_report, run_suite

    json_out = args.json_out or args.out.with_suffix(".json")
    if args.render_only:
        render_report(json_out, args.out)
        print(f"wrote {args.out} from {json_out}")
        return 0
    report = run_suite(
        build_encoder(args),
        args.data_root,
        out=args.out,
        json_out=json_out,
        seed_sets=args.seed_sets,
        command=_suite_command(args),
        only=[name.strip() for name in args.sets.split(",") if name.strip()] if args.sets else None,
        show_progress=sys.stderr.isatty(),
    )
    print(f"wrote {args.out} and {json_out} ({len(report['results'])} results)")
    return 0


def record_encoder(args: argparse.Namespace) -> Encoder:
    """:func:`build_encoder`'s encoder on the CPU unless --device or TASKVEC_DEVICE names another device: the
    checks and the panel compare with figures of record made there."""
    if getattr(args, "device", None) is None and not os.environ.get("TASKVEC_DEVICE"):
        args.device = "cpu"
    return build_encoder(args)


def checks_cache() -> Path | None:
    """Where checks and the panel cache vectors: $TASKVEC_CHECKS_CACHE (empty: no cache)."""
    cache = os.environ.get("TASKVEC_CHECKS_CACHE", "/tmp/taskvec_checks_cache")
    return Path(cache) if cache else None


def _run_checks(args: argparse.Namespace) -> int:
    from taskvec.eval.checks import record_in_card, run_checks

    _check_blend(args)
    if args.rerank:
        from taskvec.eval.rerank import run_checks_command

        return run_checks_command(args)
    if args.card and args.adapter is None:
        raise InvalidInputError("--card records an adapter's figures", field="--card", fix="Pass --adapter DIR.")
    cache = checks_cache()
    encoder = record_encoder(args)
    results = run_checks(
        encoder,
        args.task,
        args.data_root,
        adapter=args.adapter,
        modes=args.modes,
        only=args.only,
        query_prompt=args.query_prompt,
        document_prompt=args.document_prompt,
        draws=args.draws,
        cache=cache,
        batch_size=getattr(args, "batch_size", ENCODE_BATCH),
        report=lambda name, row: print(name, json.dumps(row), flush=True),
        blend=args.blend,
    )
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    if args.card:
        record_in_card(args.adapter, args.task, results, args.blend)
        print(f"recorded in {args.adapter / 'README.md'}")
    if args.json:
        print(json.dumps(results))
    return 0


def _run_panel(args: argparse.Namespace) -> int:
    from taskvec.eval.panel import default_root, render, run_panel

    _check_blend(args)
    root = args.panel_root or default_root()
    if root is None:
        raise InvalidInputError(
            "no panel to run", field="--panel-root", fix="Pass --panel-root DIR or set TASKVEC_PANEL (docs/panel.md)."
        )
    if args.against and (args.rerank or args.mode != "vector" or args.card):
        flag = "--rerank" if args.rerank else "--mode hybrid" if args.mode != "vector" else "--card"
        raise InvalidInputError(
            f"--against compares two adapters' vector search; it does not combine with {flag}.",
            field="--against",
            fix=f"Drop {flag}, or drop --against (a card records an adapter against the bare model only).",
        )
    if args.rerank:
        from taskvec.eval.rerank import run_panel_command

        return run_panel_command(args, Path(root))
    if args.mode != "vector":
        from taskvec.eval.hybrid import run_panel_command as run_hybrid_panel_command

        return run_hybrid_panel_command(args, Path(root))
    encoder = record_encoder(args)
    if args.adapter is None:
        adapter = encoder.profile.adapter_folder(args.task)
    else:
        adapter = None if args.adapter == "none" else Path(args.adapter)
    if args.card and adapter is None:
        raise InvalidInputError("--card records an adapter's panel", field="--card", fix="Pass --adapter DIR.")
    if args.against and adapter is None:
        raise InvalidInputError(
            "--against reads an adapter against another", field="--against", fix="Pass --adapter DIR too."
        )
    result = run_panel(
        encoder,
        args.task,
        root,
        adapter=adapter,
        query_prompt=args.query_prompt,
        document_prompt=args.document_prompt,
        against=Path(args.against) if args.against else None,
        blend=args.blend,
        **panel_options(args),
    )
    result["command"] = panel_command(args, root)
    print(render(result))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    if args.card and adapter is not None:
        from taskvec.train.model_card import add_panel

        add_panel(adapter, result)
        print(f"recorded in {adapter / 'README.md'}")
    if args.json:
        print(json.dumps(result))
    return 0


def panel_options(args: argparse.Namespace) -> dict[str, Any]:
    """What every panel run takes from the command line: sample, sets, rounds, the vector cache, the report."""
    return {
        "sample": args.sample,
        "sets": args.sets,
        "rounds": args.rounds,
        "cache": checks_cache(),
        "report": lambda name, row: print(name, json.dumps(row), file=sys.stderr, flush=True),
    }


def panel_command(args: argparse.Namespace, root: Path) -> str:
    """The ``taskvec eval panel`` command line a card records: the flags that change what was measured."""
    from taskvec.eval.panel import REPO_PANEL

    words = ["taskvec eval panel", f"--task {args.task}"]
    if args.adapter:
        words.append(f"--adapter {args.adapter}")
    if args.against:
        words.append(f"--against {args.against}")
    if getattr(args, "blend", None) is not None:
        words.append(f"--blend {args.blend:g}")
    if args.mode != "vector":
        words.append(f"--mode {args.mode}")
    if args.keyword_weight is not None:
        words.append(f"--keyword-weight {args.keyword_weight}")
    if args.rerank:
        words.append(f"--rerank {args.rerank} --candidates {args.candidates}")
    # the repository's own panel by its relative name, so that a recorded command reruns on any checkout
    words.append(f"--panel-root {'data/panel' if Path(root).resolve() == REPO_PANEL else root}")
    for flag in ("sample", "query_prompt", "document_prompt"):
        if getattr(args, flag) is not None:
            words.append(f"--{flag.replace('_', '-')} {getattr(args, flag)!r}")
    if args.sets:
        words.append(f"--sets {' '.join(args.sets)}")
    if args.rounds != 1000:
        words.append(f"--rounds {args.rounds}")
    if args.card:
        words.append("--card")
    return " ".join(words)


def _suite_command(args: argparse.Namespace) -> str:
    """The command line that reruns the whole suite (without --sets), for the report's header."""
    words = [
        "taskvec eval suite",
        f"--data-root {args.data_root}",
        f"--out {args.out}",
        f"--seed-sets {args.seed_sets}",
    ]
    for flag in ENCODER_FLAGS:
        if getattr(args, flag, None) is not None:
            words.append(f"--{flag.replace('_', '-')} {getattr(args, flag)}")
    return " ".join(words)


if __name__ == "__main__":
    sys.exit(main())
