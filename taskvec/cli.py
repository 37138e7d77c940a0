"""The ``taskvec`` command line: the parser, and the one place errors become output (the commands are in
``taskvec.cli_commands``). Settings come from flags, TASKVEC_* variables and the TOML file (``taskvec.config``).

Results print as readable text, or as JSON with ``--json``. Errors print one line to stderr, worded for the
terminal (commands and flags, not MCP tool names), and exit with the error's code (2 for most).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from taskvec import __version__
from taskvec import cli_commands as commands
from taskvec.errors import Interrupted, TaskvecError
from taskvec.options import DEFAULT_CANDIDATES, KEYWORD_WEIGHT, SEARCH_MODES

EXTENSIONS = ("taskvec.eval.cli", "taskvec.train.cli")  # command groups that import torch as they register


def _settings(parser: argparse.ArgumentParser, *, model: bool = True) -> None:
    """The settings flags a command reads; --store everywhere, the model's where a model is loaded."""
    group = parser.add_argument_group("settings (override TASKVEC_* and the TOML file)")
    group.add_argument("--store", help="LanceDB folder or URI (TASKVEC_STORE)")
    if model:
        group.add_argument("--model", help="model folder or hub id; default: bundled all-MiniLM-L6-v2 (TASKVEC_MODEL)")
        group.add_argument("--tasks-file", type=Path, help="TOML file of extra tasks (TASKVEC_TASKS_FILE)")
        group.add_argument("--device", help="auto, cpu, cuda, mps (TASKVEC_DEVICE)")
        group.add_argument("--dtype", help="auto, fp32 (exact), fp16, bf16, int8 (TASKVEC_DTYPE)")
        group.add_argument("--batch-size", type=int, help="rows per forward pass (TASKVEC_BATCH_SIZE)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _collection(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--collection", "-c", help=f"{what} (default: TASKVEC_DEFAULT_COLLECTION; 1-64 letters, digits, _ or -)"
    )


def _task(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--task",
        "-t",
        default=default,
        help=f"task whose prompt and adapter make the vectors (default {default}; "
        "see `taskvec tasks`); search with the task the collection was indexed with",
    )


def _filter(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--filter", help='metadata filter as JSON, e.g. \'{"lang": "en"}\' or \'{"year": {"$gte": 2020}}\''
    )


def add_keyword_weight_option(parser: argparse.ArgumentParser) -> None:
    """``--keyword-weight``, for every command that runs a hybrid search (search, eval retrieval, eval panel)."""
    parser.add_argument(
        "--keyword-weight",
        type=float,
        metavar="W",
        help=f"with --mode hybrid: BM25's share of the fused score, 0..1 (default {KEYWORD_WEIGHT})",
    )


def _bounded(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high if high is not None else '∞'}")
        return value

    return parse


def build_parser(extensions: bool = True) -> argparse.ArgumentParser:
    """The parser; ``extensions`` adds the eval/train/interpolate groups (which import torch as they register)."""
    parser = argparse.ArgumentParser(prog="taskvec", description="Task-aware embeddings: index, search, classify.")
    parser.add_argument("--version", action="version", version=f"taskvec {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (to stderr)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="embed files or folders into a collection")
    p.add_argument("paths", nargs="+", type=Path, help="JSONL, CSV, TSV, Parquet, .txt, .md files or folders")
    _collection(p, "collection to write into (created if new)")
    _task(p, "retrieval")
    p.add_argument("--text-field", default="text", help="column holding the text in record files (default text)")
    p.add_argument(
        "--chunk-tokens",
        type=int,
        help="chunk size in tokens (TASKVEC_CHUNK_TOKENS; default: the model's limit; 96-128 suits long prose, see "
        "docs/chunking.md)",
    )
    p.add_argument("--chunk-overlap", type=int, help="tokens shared by consecutive chunks (TASKVEC_CHUNK_OVERLAP, 32)")
    p.add_argument("--no-chunking", action="store_true", help="truncate long documents instead of chunking them")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="encode on a Ray cluster's workers, one encoder each (ADDRESS: ray://host:10001, host:6379 or auto; "
        "none: a local Ray on this machine's cores); needs `pip install 'taskvec[ray]'`",
    )
    p.add_argument(
        "--ray-workers", type=_bounded(1), metavar="N", help="with --ray: workers (default: one per GPU, else per core)"
    )
    _settings(p)
    p.set_defaults(func=commands.cmd_index)

    p = sub.add_parser("search", help="search a collection")
    p.add_argument("query", help="the question or text to search for")
    _collection(p, "collection to search")
    _task(p, "retrieval")
    p.add_argument(
        "--limit", "-k", type=_bounded(1, 1000), default=10, help="hits to return (default 10, at most 1000)"
    )
    _filter(p)
    p.add_argument(
        "--mode", choices=SEARCH_MODES, default="vector", help="vector: cosine; hybrid: vector + BM25 keywords"
    )
    add_keyword_weight_option(p)
    p.add_argument(
        "--rerank",
        nargs="?",
        const=True,
        default=None,
        metavar="TASK",
        help="rescore the first stage's top --candidates with a reranker (default task: rerank)",
    )
    p.add_argument(
        "--candidates",
        type=int,
        default=DEFAULT_CANDIDATES,
        help="with --rerank: first-stage hits to rescore (%(default)s)",
    )
    p.add_argument(
        "--all-chunks",
        dest="per_document",
        action="store_false",
        help="every matching chunk of a long document is a hit (default: each document once, its best chunk)",
    )
    _settings(p)
    p.set_defaults(func=commands.cmd_search)

    p = sub.add_parser("rerank", help="order texts by relevance to a query with a reranker (cross-encoder)")
    p.add_argument("query", help="the question or need to rank the texts for")
    p.add_argument("texts", nargs="+", help="the texts to rank")
    p.add_argument("--task", "-t", default="rerank", help="the rerank task (default: rerank)")
    p.add_argument("--limit", "-k", type=_bounded(1), help="return only the best this many (default: all)")
    _settings(p)
    p.set_defaults(func=commands.cmd_rerank)

    p = sub.add_parser("similar", help="near-duplicates and paraphrases of a text (task similarity)")
    p.add_argument("text", help="the text to find near-duplicates of")
    _collection(p, "collection to search (indexed with --task similarity)")
    p.add_argument("--limit", "-k", type=_bounded(1, 1000), default=10, help="hits to return at most (default 10)")
    p.add_argument("--threshold", type=float, help="keep hits with cosine similarity at least this, e.g. 0.9")
    _filter(p)
    _task(p, "similarity")
    _settings(p)
    p.set_defaults(func=commands.cmd_similar)

    p = sub.add_parser("classify", help="label texts zero-shot (--labels) or few-shot (--collection)")
    p.add_argument("texts", nargs="+", help="texts to label")
    p.add_argument("--labels", help='zero-shot: comma-separated names, or JSON list / {"name": "description"}')
    p.add_argument("--collection", "-c", help="few-shot: collection of labelled examples (metadata key --label-field)")
    p.add_argument("--label-field", default="label", help="few-shot: metadata key holding the label (default label)")
    p.add_argument("--method", choices=["centroid", "knn"], default="centroid", help="few-shot scoring method")
    _task(p, "classification")
    p.add_argument("--top-k", type=_bounded(1), help="labels to score per text (default all)")
    _settings(p)
    p.set_defaults(func=commands.cmd_classify)

    p = sub.add_parser("cluster", help="group texts, or a collection's documents, by topic")
    p.add_argument("texts", nargs="*", help="texts to cluster (or give a collection)")
    _collection(p, "collection to cluster, indexed with --task clustering (when no texts are given)")
    p.add_argument("--k", type=_bounded(1), help="number of clusters (default: chosen by silhouette)")
    _task(p, "clustering")
    _filter(p)
    _settings(p)
    p.set_defaults(func=commands.cmd_cluster)

    p = sub.add_parser(
        "tasks", help="list tasks: prompts, adapter, space id, and what each runs with by default and why"
    )
    _settings(p)
    p.set_defaults(func=commands.cmd_tasks)

    p = sub.add_parser("collections", help="list collections and the embedding spaces they hold (no model loaded)")
    _settings(p, model=False)
    p.set_defaults(func=commands.cmd_collections)

    p = sub.add_parser("describe", help="one collection: rows, dimension, and the tasks it holds (no model loaded)")
    p.add_argument("collection", nargs="?", help="the collection (default: TASKVEC_DEFAULT_COLLECTION)")
    _settings(p, model=False)
    p.set_defaults(func=commands.cmd_describe)

    p = sub.add_parser("get", help="read documents back by id, or peek at a page of them (no model loaded)")
    _collection(p, "collection to read")
    p.add_argument("--ids", nargs="+", help="documents to read (a chunked one comes back as its chunks)")
    p.add_argument("--limit", type=_bounded(1, 1000), help="documents per page (default: every id given, else 10)")
    p.add_argument("--offset", type=_bounded(0), default=0, help="documents to skip (the 'more: --offset N' shown)")
    _filter(p)
    _settings(p, model=False)
    p.set_defaults(func=commands.cmd_get)

    p = sub.add_parser("delete", help="delete documents by id or metadata filter (no model loaded)")
    _collection(p, "collection to delete from")
    p.add_argument("--ids", nargs="+", help="documents to delete, with their chunks, in every task")
    _filter(p)
    p.add_argument(
        "--space",
        help="delete only this embedding space's rows (an id `taskvec describe` lists), e.g. one a task made "
        "before its default changed",
    )
    _settings(p, model=False)
    p.set_defaults(func=commands.cmd_delete)

    p = sub.add_parser("drop", help="remove a whole collection, every task of it (no model loaded)")
    p.add_argument("collection", help="the collection to remove (always named; never the default one)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    _settings(p, model=False)
    p.set_defaults(func=commands.cmd_drop)

    p = sub.add_parser(
        "optimize", help="compact collections, refresh their indexes and drop versions older than an hour"
    )
    p.add_argument("collections", nargs="*", help="collections to optimize (default: all)")
    _settings(p, model=False)
    p.set_defaults(func=commands.cmd_optimize)

    p = sub.add_parser("serve", help="run the MCP server")
    p.add_argument(
        "--transport", choices=["stdio", "sse", "streamable-http"], default="stdio", help="how clients connect"
    )
    p.add_argument("--host", help="HTTP transports: address to bind (TASKVEC_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP transports: port (TASKVEC_PORT, default 8765)")
    p.add_argument("--read-only", action="store_true", help="offer no tool that writes (TASKVEC_READ_ONLY)")
    _settings(p)
    p.set_defaults(func=commands.cmd_serve)

    if extensions:
        for module in EXTENSIONS:
            # Optional command groups: absent from a build, they simply do not appear.
            with contextlib.suppress(ImportError, AttributeError):
                __import__(module, fromlist=["register"]).register(sub)
    return parser


def _needs_extensions(argv: Sequence[str]) -> bool:
    """Whether the command line may name an extension command (eval, train, ...): anything but a core command,
    so `taskvec search ...` does not pay for importing torch before it has checked its arguments."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command is None:  # `taskvec --help` lists every command; `taskvec --version` needs none
        return "--version" not in argv
    return command not in CORE_COMMANDS


CORE_COMMANDS = frozenset(
    {"index", "search", "similar", "rerank", "classify", "cluster", "tasks", "collections", "describe", "get"}
    | {"delete"}
    | {"drop", "optimize", "serve"}
)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(extensions=_needs_extensions(argv)).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return run_command(args.func, args)


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run one command. The one place errors become output: one line on stderr (never a traceback for anything
    the user can fix) and the exit code the error tree gives (``taskvec.errors``: 2, 69 store unavailable, 75 busy, 130 interrupted)."""
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("taskvec: stopped. A write is one commit: the store holds all of it or none of it.", file=sys.stderr)
        return Interrupted.exit_code
    except TaskvecError as exc:
        prefix = "taskvec: " if isinstance(exc, Interrupted) else "taskvec: error: "
        print(f"{prefix}{for_terminal(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # settings that do not parse: one line naming the setting, never a traceback
        message = _settings_problem(exc)
        if message is None:
            raise
        print(f"taskvec: error: {message}", file=sys.stderr)
        return TaskvecError.exit_code


# The errors' fixes name MCP tools and arguments (an agent reads them); at a terminal they name commands and flags.
_TOOL_COMMANDS = {
    "list_collections": "`taskvec collections`",
    "describe_collection": "`taskvec describe`",
    "get_documents": "`taskvec get`",
    "drop_collection": "`taskvec drop`",
}
_LIST_ARGUMENTS = {"labels=[...]": "--labels ...", "ids=[...]": "--ids ...", "texts=[...]": "texts as arguments"}
_ARGUMENT = re.compile(r"\b(task|mode|collection|method|label_field)=(?:'([^']*)'|([\w.-]+))")


def for_terminal(text: str) -> str:
    """An error's text with MCP tool names and ``name=value`` arguments turned into commands and flags."""
    for tool, command in _TOOL_COMMANDS.items():
        text = re.sub(rf"(?<![\w`/]){re.escape(tool)}(?![\w`])", command, text)
    for argument, flag in _LIST_ARGUMENTS.items():
        text = text.replace(argument, flag)
    text = _ARGUMENT.sub(lambda m: f"--{m.group(1).replace('_', '-')} {m.group(2) or m.group(3)}", text)
    return re.sub(r"\b(label_field|keyword_weight)\b", lambda m: f"--{m.group(1).replace('_', '-')}", text)


def _settings_problem(exc: Exception) -> str | None:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from taskvec.config import setting_source

    fix = "Fix: correct the flag, the TASKVEC_* variable or the taskvec.toml entry (see README, Configuration)."
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors(include_url=False):
            name = ".".join(str(part) for part in error["loc"])
            problems.append(f"{setting_source(name)}: {error['msg']} (got {error.get('input')!r})")
        return f"invalid setting: {'; '.join(problems)}. {fix}"
    if isinstance(exc, SettingsError):
        return f"invalid setting: {exc}. {fix}"
    return None


if __name__ == "__main__":
    sys.exit(main())
