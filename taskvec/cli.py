"""The ``taskvec`` command line. Settings come from flags, TASKVEC_* variables and the TOML file (taskvec.config).

Results print as readable text, or as JSON with ``--json``. Errors print one line to stderr and exit with 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from taskvec import __version__
from taskvec.errors import Interrupted, InvalidInputError, TaskvecError

SETTING_FLAGS = ("store", "model", "tasks_file", "device", "dtype", "batch_size")


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (override TASKVEC_* and the TOML file)")
    group.add_argument("--store", help="LanceDB URI or folder (TASKVEC_STORE)")
    group.add_argument("--model", help="model folder or hub id; default: bundled all-MiniLM-L6-v2 (TASKVEC_MODEL)")
    group.add_argument("--tasks-file", type=Path, help="TOML file of extra tasks (TASKVEC_TASKS_FILE)")
    group.add_argument("--device", help="auto, cpu, cuda, mps (TASKVEC_DEVICE)")
    group.add_argument("--dtype", help="auto, fp32 (exact), fp16, bf16, int8 (TASKVEC_DTYPE)")
    group.add_argument("--batch-size", type=int, help="rows per forward pass (TASKVEC_BATCH_SIZE)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def settings_from(args: argparse.Namespace, **extra: Any):
    from taskvec.config import Settings

    given = {k: getattr(args, k) for k in SETTING_FLAGS if getattr(args, k, None) is not None}
    return Settings(**given, **extra)


def _service(args: argparse.Namespace):
    from taskvec.service import build_service

    return build_service(settings_from(args))


def _emit(args: argparse.Namespace, result: BaseModel, text: str) -> int:
    print(result.model_dump_json(indent=2) if args.json else text)
    return 0


# ------------------------------------------------------------------------------------------------ commands
def cmd_index(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from taskvec.ingest import read_documents
    from taskvec.options import ChunkingOptions, DocumentLimits
    from taskvec.service import CallControl

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:  # before loading anything
        raise InvalidInputError(
            f"No such file or folder: {', '.join(missing)}.", field="paths", fix="Check the paths and run again."
        )
    docs = list(read_documents(args.paths, text_field=args.text_field))
    if not docs:
        raise InvalidInputError(
            "No documents found in the given paths.",
            field="paths",
            fix="Point at files of a supported type (see taskvec index --help).",
        )
    settings = settings_from(args)
    chunking = ChunkingOptions(
        enabled=not args.no_chunking,
        max_tokens=settings.chunk_tokens if args.chunk_tokens is None else args.chunk_tokens,
        overlap=settings.chunk_overlap if args.chunk_overlap is None else args.chunk_overlap,
    )
    service = _service(args)
    bar = tqdm(total=len(docs), unit="doc", desc=f"index {args.collection}", disable=args.quiet, file=sys.stderr)

    def progress(done: int, total: int, message: str) -> None:
        bar.n = int(done)
        bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    # The local files are the user's own: no per-call byte limit, but one commit, so memory holds the whole corpus.
    limits = DocumentLimits(len(docs), settings.max_text_bytes, None)
    with _interruptible() as check_cancelled:
        result = service.index(
            args.collection,
            docs,
            args.task,
            chunking=chunking,
            control=CallControl(progress=progress, check_cancelled=check_cancelled),
            limits=limits,
        )
    bar.close()
    if service.store.indexing():  # the write made the collection large enough for LanceDB's indexes
        print(
            f"building the indexes of {args.collection!r} (Ctrl-C skips; `taskvec optimize` builds them later)",
            file=sys.stderr,
        )
        with contextlib.suppress(KeyboardInterrupt):
            service.store.wait_for_indexes()
    text = (
        f"indexed {result.documents} documents ({result.rows_written} rows: {result.inserted} new, "
        f"{result.updated} updated, {result.removed} old rows dropped; {result.chunked_documents} documents chunked "
        f"into {result.chunks}; {result.truncated} truncated) into {result.collection!r} in {result.seconds:.1f}s\n"
        f"{result.space.description}"
    )
    return _emit(args, result, text)


@contextlib.contextmanager
def _interruptible() -> Iterator[Callable[[], None]]:
    """Ctrl-C asks the running call to stop at its next step (it then raises Interrupted, having written
    nothing); a second Ctrl-C stops at once, which is just as safe: nothing is committed until the very end."""
    requested = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        print("taskvec: stopping at the next step (Ctrl-C again to stop now)…", file=sys.stderr)

    def check_cancelled() -> None:
        if requested.is_set():
            raise Interrupted("interrupted: nothing was written; the collection is as it was.")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield check_cancelled
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_search(args: argparse.Namespace) -> int:
    result = _service(args).search(
        args.query,
        args.collection,
        args.task,
        limit=args.limit,
        filter=args.filter,
        mode=args.mode,
        rerank=args.rerank,
        candidates=args.candidates,
    )
    lines = [f"{i}. [{h.score:.4f}] {h.id}: {_short(h.text)}" for i, h in enumerate(result.hits, 1)]
    if result.reranker is not None:  # show what the second stage changed: its score and the first stage's rank
        lines = [
            f"{i}. [{h.rerank_score:.4f}, first stage {h.score:.4f} #{h.first_stage_rank}] {h.id}: {_short(h.text)}"
            for i, h in enumerate(result.hits, 1)
        ]
    return _emit(args, result, "\n".join(lines) or "no hits")


def cmd_rerank(args: argparse.Namespace) -> int:
    result = _service(args).rerank(args.query, args.texts, args.task, limit=args.limit)
    lines = [f"{i}. [{r.score:.4f}] #{r.index}: {_short(r.text)}" for i, r in enumerate(result.results, 1)]
    return _emit(args, result, "\n".join(lines))


def cmd_classify(args: argparse.Namespace) -> int:
    labels: Any = None
    if args.labels:
        labels = json.loads(args.labels) if args.labels.strip().startswith(("{", "[")) else args.labels.split(",")
    result = _service(args).classify(
        args.texts,
        labels=labels,
        collection=args.collection,
        task=args.task,
        top_k=args.top_k,
        method=args.method,
        label_field=args.label_field,
    )
    lines = [f"{r.label}\t{r.score:.4f}\t{_short(r.text)}" for r in result.results]
    return _emit(args, result, "\n".join(lines))


def cmd_cluster(args: argparse.Namespace) -> int:
    result = _service(args).cluster(collection=args.collection, k=args.k, task=args.task, filter=args.filter)
    lines = [f"cluster {c.cluster} ({c.size}): {_short(c.representative.text)}" for c in result.clusters]
    return _emit(args, result, "\n".join(lines))


def cmd_tasks(args: argparse.Namespace) -> int:
    result = _service(args).tasks()
    lines = [f"model {result.model} (prompts: {result.prompt_source})"]
    for t in result.tasks:
        prompts = repr(t.query_prompt) if t.symmetric else f"query {t.query_prompt!r} / document {t.document_prompt!r}"
        lines.append(
            f"- {t.name} [{t.kind}] prompt {prompts}; adapter: {t.adapter or 'none'}; space {t.space_id}\n"
            f"    {t.description}\n"
            f"    runs: {t.status} - {t.why}"
        )
    return _emit(args, result, "\n".join(lines))


def cmd_collections(args: argparse.Namespace) -> int:
    from taskvec.service import TaskvecService
    from taskvec.store import Store

    settings = settings_from(args)
    store = Store(settings.store)
    result = TaskvecService.list_collections(_StoreOnly(store))  # no model needed to list
    lines = [f"store {result.store}"]
    for c in result.collections:
        lines.append(f"- {c.name}: {c.rows} rows, dim {c.dimension}")
        lines += [f"    {s.rows} rows in {s.space.description}" for s in c.spaces]
    return _emit(args, result, "\n".join(lines))


class _StoreOnly:
    """Enough of a service to list and describe collections without loading a model."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def describe_collection(self, name: str):
        from taskvec.service import TaskvecService

        return TaskvecService.describe_collection(self, name)  # type: ignore[arg-type]


def cmd_delete(args: argparse.Namespace) -> int:
    from taskvec.service import TaskvecService
    from taskvec.store import Store

    store = Store(settings_from(args).store)
    result = TaskvecService.delete(_StoreOnly(store), args.collection, ids=args.ids, filter=args.filter)  # type: ignore[arg-type]
    return _emit(args, result, f"deleted {result.deleted} rows from {result.collection!r}")


def cmd_optimize(args: argparse.Namespace) -> int:
    store = settings_from(args).build_store()
    names = args.collections or store.collection_names()
    report = {name: store.optimize(name) for name in names}
    lines = [
        f"{name}: {r['rows']} rows; fragments {r['fragments_before']} -> {r['fragments_after']}, "
        f"versions {r['versions_before']} -> {r['versions_after']}; indexes {', '.join(r['indexes']) or 'none'}"
        + (f" ({', '.join(r['indexes_built'])} built now)" if r["indexes_built"] else "")
        for name, r in report.items()
    ]
    print(json.dumps(report, indent=2) if args.json else "\n".join(lines) or "no collections")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from taskvec.server.security import check_exposure

    extra = {k: getattr(args, k) for k in ("host", "port") if getattr(args, k) is not None}
    settings = settings_from(args, **extra)
    if args.transport != "stdio":
        check_exposure(settings)  # refuse a dangerous bind before spending time on loading the model

    from taskvec.server.app import serve

    serve(settings, transport=args.transport)
    return 0


def _short(text: str, n: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ------------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskvec", description="Task-aware embeddings: index, search, classify.")
    parser.add_argument("--version", action="version", version=f"taskvec {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (to stderr)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="embed files or folders into a collection")
    p.add_argument("paths", nargs="+", type=Path, help="JSONL, CSV, TSV, Parquet, .txt, .md files or folders")
    p.add_argument("--collection", "-c", required=True)
    p.add_argument("--task", "-t", default="retrieval")
    p.add_argument("--text-field", default="text", help="column holding the text in record files")
    p.add_argument(
        "--chunk-tokens", type=int, help="chunk size in tokens (TASKVEC_CHUNK_TOKENS; default: the model's limit)"
    )
    p.add_argument("--chunk-overlap", type=int, help="tokens shared by consecutive chunks (TASKVEC_CHUNK_OVERLAP, 32)")
    p.add_argument("--no-chunking", action="store_true", help="truncate long documents instead of chunking")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _common(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search a collection")
    p.add_argument("query")
    p.add_argument("--collection", "-c", required=True)
    p.add_argument("--task", "-t", default="retrieval")
    p.add_argument("--limit", "-k", type=int, default=10)
    p.add_argument("--filter", help='metadata filter as JSON, e.g. \'{"lang": "en"}\'')
    p.add_argument("--mode", choices=["vector", "hybrid"], default="vector")
    p.add_argument(
        "--rerank",
        nargs="?",
        const=True,
        default=None,
        metavar="TASK",
        help="rescore the first stage's top --candidates with a reranker (default task: rerank)",
    )
    p.add_argument("--candidates", type=int, default=50, help="with --rerank: first-stage hits to rescore (50)")
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("rerank", help="order texts by relevance to a query with a reranker (cross-encoder)")
    p.add_argument("query")
    p.add_argument("texts", nargs="+")
    p.add_argument("--task", "-t", default="rerank", help="the rerank task (default: rerank)")
    p.add_argument("--limit", "-k", type=int)
    _common(p)
    p.set_defaults(func=cmd_rerank)

    p = sub.add_parser("classify", help="label texts zero-shot (--labels) or few-shot (--collection)")
    p.add_argument("texts", nargs="+")
    p.add_argument("--labels", help='comma-separated names, or JSON list / {"name": "description"}')
    p.add_argument("--collection", "-c", help="collection of labelled examples (metadata key --label-field)")
    p.add_argument("--label-field", default="label")
    p.add_argument("--method", choices=["centroid", "knn"], default="centroid")
    p.add_argument("--task", "-t", default="classification")
    p.add_argument("--top-k", type=int)
    _common(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("cluster", help="cluster a collection's documents")
    p.add_argument("--collection", "-c", required=True)
    p.add_argument("--k", type=int, help="number of clusters (default: chosen by silhouette)")
    p.add_argument("--task", "-t", default="clustering")
    p.add_argument("--filter")
    _common(p)
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser("tasks", help="list tasks: prompts, adapter, and what each runs with by default and why")
    _common(p)
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("collections", help="list collections and the embedding spaces they hold")
    _common(p)
    p.set_defaults(func=cmd_collections)

    p = sub.add_parser("delete", help="delete documents by id or metadata filter")
    p.add_argument("--collection", "-c", required=True)
    p.add_argument("--ids", nargs="+")
    p.add_argument("--filter")
    _common(p)
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser(
        "optimize", help="compact collections, refresh their indexes and drop versions older than an hour"
    )
    p.add_argument("collections", nargs="*", help="collections to optimize (default: all)")
    _common(p)
    p.set_defaults(func=cmd_optimize)

    p = sub.add_parser("serve", help="run the MCP server")
    p.add_argument("--transport", choices=["stdio", "sse", "streamable-http"], default="stdio")
    p.add_argument("--host", help="HTTP transports: address to bind (TASKVEC_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP transports: port (TASKVEC_PORT, default 8765)")
    _common(p)
    p.set_defaults(func=cmd_serve)

    for module in ("taskvec.eval.cli", "taskvec.train.cli"):
        # Optional command groups: absent from a build, they simply do not appear.
        with contextlib.suppress(ImportError, AttributeError):
            __import__(module, fromlist=["register"]).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    _quiet_libraries()
    return run_command(args.func, args)


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run one command. The one place errors become output: one line on stderr (never a traceback for anything
    the user can fix) and the exit code the error tree gives (``taskvec.errors``: 2, 75 busy, 130 interrupted)."""
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("taskvec: stopped. A write is one commit: the store holds all of it or none of it.", file=sys.stderr)
        return Interrupted.exit_code
    except TaskvecError as exc:
        prefix = "taskvec: " if isinstance(exc, Interrupted) else "taskvec: error: "
        print(f"{prefix}{exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # settings that do not parse: one line naming the setting, never a traceback
        message = _settings_problem(exc)
        if message is None:
            raise
        print(f"taskvec: error: {message}", file=sys.stderr)
        return TaskvecError.exit_code


def _settings_problem(exc: Exception) -> str | None:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    fix = "Fix: correct the flag, the TASKVEC_* variable or the taskvec.toml entry (see README, Configuration)."
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors(include_url=False):
            name = ".".join(str(part) for part in error["loc"])
            problems.append(f"TASKVEC_{name.upper()}: {error['msg']} (got {error.get('input')!r})")
        return f"invalid setting: {'; '.join(problems)}. {fix}"
    if isinstance(exc, SettingsError):
        return f"invalid setting: {exc}. {fix}"
    return None


def _quiet_libraries() -> None:
    """Keep library chatter (weight-loading bars, hub notices) off the terminal; stdout stays ours."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


if __name__ == "__main__":
    sys.exit(main())
