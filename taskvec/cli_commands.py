"""What each ``taskvec`` command does (the parser is ``taskvec.cli``).

Every command checks its arguments, its paths and the collection it names before it loads anything; the commands
that need no model (collections, describe, get, delete, drop, optimize, and tasks where the model folder's files
settle its spaces) never load one, and a read never creates a store folder. Each command reads only the settings
it needs, so a bad value of another concern does not stop it.

Why this module is past ~400 lines: one short function per command (fifteen of them) and the helpers they share
for arguments, settings and output; the index command carries its Ctrl-C handling and its Ray path's setup, the
rest is each command's few lines. Splitting by command would scatter those shared helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from taskvec.errors import Interrupted, InvalidInputError

MODEL_CONCERNS = ("engine", "store", "calls")
SETTING_FLAGS = ("store", "model", "tasks_file", "device", "dtype", "batch_size")


def settings_from(args: argparse.Namespace, *concerns: str, **extra: Any) -> Any:
    """The settings of ``concerns`` (all of them when none are named), flags first."""
    from taskvec.config import Settings, settings_for

    given = {k: getattr(args, k) for k in SETTING_FLAGS if getattr(args, k, None) is not None}
    return (settings_for(*concerns) if concerns else Settings)(**given, **extra)


def _store_service(args: argparse.Namespace, settings: Any = None) -> Any:
    """The verbs that need no model, over the store the settings name."""
    from taskvec.store_service import StoreService

    settings = settings or settings_from(args, "store", "calls")
    return StoreService(settings.build_store())


def _service(settings: Any, opened: Any = None) -> Any:
    """Engine + store (the one ``opened`` already, if any): the model loads here."""
    from taskvec.service import build_service, quiet_libraries

    quiet_libraries()
    return build_service(settings, store=opened.store if opened is not None else None)


def _collection(args: argparse.Namespace, settings: Any) -> str:
    """The collection a command names, else the default one; a valid name either way."""
    from taskvec.store import check_collection_name

    name = getattr(args, "collection", None) or settings.default_collection
    if name is None:
        raise InvalidInputError(
            "No collection given.",
            field="collection",
            fix="Pass --collection NAME (or set TASKVEC_DEFAULT_COLLECTION).",
        )
    return check_collection_name(name)


def _existing(args: argparse.Namespace, settings: Any) -> tuple[str, Any]:
    """The collection, which must exist (checked on the store before any model loads), and that store."""
    name = _collection(args, settings)
    opened = _store_service(args, settings)
    opened.describe_collection(name)
    return name, opened


def _check_filter(args: argparse.Namespace) -> None:
    from taskvec.store import compile_filter

    compile_filter(getattr(args, "filter", None))


def _emit(args: argparse.Namespace, result: BaseModel, text: str) -> int:
    print(result.model_dump_json(indent=2) if args.json else text)
    return 0


def _short(text: str, n: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# -------------------------------------------------------------------------------------------- model commands
def cmd_index(args: argparse.Namespace) -> int:
    from taskvec.control import CallControl
    from taskvec.ingest import read_documents
    from taskvec.options import ChunkingOptions, DocumentLimits

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:  # before loading anything
        raise InvalidInputError(
            f"No such file or folder: {', '.join(missing)}.", field="paths", fix="Check the paths and run again."
        )
    if args.ray_workers is not None and args.ray is None:
        raise InvalidInputError(
            "--ray-workers needs --ray.", field="ray_workers", fix="Add --ray (a local Ray) or --ray ADDRESS."
        )
    if args.ray is not None:  # before reading anything: the extra may be missing
        from taskvec.ingest.ray_index import require_ray

        require_ray()
    settings = settings_from(args, *MODEL_CONCERNS)
    collection = _collection(args, settings)
    docs = list(read_documents(args.paths, text_field=args.text_field))
    if not docs:
        raise InvalidInputError(
            "No documents found in the given paths.",
            field="paths",
            fix="Point at files of a supported type (see taskvec index --help).",
        )
    chunking = ChunkingOptions(
        enabled=not args.no_chunking,
        max_tokens=settings.chunk_tokens if args.chunk_tokens is None else args.chunk_tokens,
        overlap=settings.chunk_overlap if args.chunk_overlap is None else args.chunk_overlap,
    )
    from tqdm.auto import tqdm

    # Closed on every way out, so that an error or Ctrl-C prints its line below the bar, not into it.
    with (
        tqdm(total=len(docs), unit="doc", desc=f"index {collection}", disable=args.quiet, file=sys.stderr) as bar,
        _encoder_pool(args, settings, bar) as encode_rows,
    ):
        bar.set_postfix_str("loading the model", refresh=True)
        service = _service(settings)  # the driver's own model: it chunks, and names the space the workers must match
        service.store.exists(collection)  # reach the store before encoding a corpus: one out of reach fails now

        # The local files are the user's own: no per-call byte limit, but one commit, so memory holds the corpus.
        limits = DocumentLimits(len(docs), settings.max_text_bytes, None)
        with _interruptible() as ctrl_c:

            def progress(done: float, total: float | None, message: str) -> None:
                bar.n = int(done)
                bar.set_postfix_str(ctrl_c.note(message), refresh=False)
                bar.refresh()

            result = service.index(
                collection,
                docs,
                args.task,
                chunking=chunking,
                control=CallControl(progress=progress, check_cancelled=ctrl_c.check),
                limits=limits,
                encode_rows=encode_rows,
            )
        if ctrl_c.requested.is_set():  # pressed once the commit had begun: it landed whole; say so, and stop
            raise Interrupted(
                f"interrupted as the write committed: all {result.rows_written} rows are in {collection!r}"
                + (" (`taskvec optimize` builds its indexes)" if service.store.indexing() else "")
                + "."
            )
    if service.store.indexing():  # the write made the collection large enough for LanceDB's indexes
        print(
            f"building the indexes of {collection!r} (Ctrl-C skips; `taskvec optimize` builds them later)",
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
def _encoder_pool(args: argparse.Namespace, settings: Any, bar: Any) -> Iterator[Any]:
    """With --ray, Ray workers that encode the rows (started first: they load the model while the driver does);
    else None, the single-process path."""
    if args.ray is None:
        yield None
        return
    from taskvec.ingest.ray_index import RayEncoderPool

    bar.set_postfix_str(f"starting Ray {args.ray or '(local)'}", refresh=True)
    with RayEncoderPool(settings.encoder_options(), address=args.ray or None, workers=args.ray_workers) as pool:
        yield pool


class _CtrlC:
    """Ctrl-C during ``taskvec index``: the first asks the call to stop at its next step (it then raises
    Interrupted, having written nothing) and prints nothing, so that the run ends on one line (run_command's); the
    bar says it is stopping. A second stops at once, which is just as safe: the write is one commit."""

    def __init__(self) -> None:
        self.requested = threading.Event()

    def on_sigint(self, signum: int, frame: Any) -> None:
        if self.requested.is_set():
            raise KeyboardInterrupt
        self.requested.set()

    def check(self) -> None:
        if self.requested.is_set():
            raise Interrupted("interrupted: nothing was written; the collection is as it was.")

    def note(self, message: str) -> str:
        """A progress message, saying so once Ctrl-C has been pressed."""
        return f"stopping (Ctrl-C again to stop now); {message}" if self.requested.is_set() else message


@contextlib.contextmanager
def _interruptible() -> Iterator[_CtrlC]:
    """SIGINT handled by a ``_CtrlC`` while the block runs, the previous handler back after it."""
    ctrl_c = _CtrlC()
    previous = signal.signal(signal.SIGINT, ctrl_c.on_sigint)
    try:
        yield ctrl_c
    finally:
        signal.signal(signal.SIGINT, previous)


def _hits(args: argparse.Namespace, result: Any) -> int:
    lines = [f"{i}. [{h.score:.4f}] {h.id}: {_short(h.text)}" for i, h in enumerate(result.hits, 1)]
    return _emit(args, result, "\n".join(lines) or "no hits")


def cmd_search(args: argparse.Namespace) -> int:
    settings = settings_from(args, *MODEL_CONCERNS)
    _check_filter(args)
    collection, opened = _existing(args, settings)
    result = _service(settings, opened).search(
        args.query,
        collection,
        args.task,
        limit=args.limit,
        filter=args.filter,
        mode=args.mode,
        keyword_weight=args.keyword_weight,
        rerank=args.rerank,
        candidates=args.candidates,
        per_document=args.per_document,
    )
    if result.reranker is not None:  # show what the second stage changed: its score and the first stage's rank
        lines = [
            f"{i}. [{h.rerank_score:.4f}, first stage {h.score:.4f} #{h.first_stage_rank}] {h.id}: {_short(h.text)}"
            for i, h in enumerate(result.hits, 1)
        ]
        return _emit(args, result, "\n".join(lines) or "no hits")
    return _hits(args, result)


def cmd_rerank(args: argparse.Namespace) -> int:
    settings = settings_from(args, *MODEL_CONCERNS)
    result = _service(settings).rerank(args.query, args.texts, args.task, limit=args.limit)
    lines = [f"{i}. [{r.score:.4f}] #{r.index}: {_short(r.text)}" for i, r in enumerate(result.results, 1)]
    return _emit(args, result, "\n".join(lines))


def cmd_similar(args: argparse.Namespace) -> int:
    settings = settings_from(args, *MODEL_CONCERNS)
    _check_filter(args)
    collection, opened = _existing(args, settings)
    result = _service(settings, opened).similar(
        args.text, collection, limit=args.limit, threshold=args.threshold, task=args.task, filter=args.filter
    )
    return _hits(args, result)


def cmd_classify(args: argparse.Namespace) -> int:
    settings = settings_from(args, *MODEL_CONCERNS)
    labels = _labels(args.labels)
    collection, opened = _existing(args, settings) if args.collection else (None, None)
    result = _service(settings, opened).classify(
        args.texts,
        labels=labels,
        collection=collection,
        task=args.task,
        top_k=args.top_k,
        method=args.method,
        label_field=args.label_field,
    )
    lines = [f"{r.label}\t{r.score:.4f}\t{_short(r.text)}" for r in result.results]
    return _emit(args, result, "\n".join(lines))


def _labels(raw: str | None) -> Any:
    if raw is None:
        return None
    if not raw.strip().startswith(("{", "[")):
        return [part.strip() for part in raw.split(",")]
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"--labels is not valid JSON ({exc}).",
            field="labels",
            fix='Write names separated by commas, or JSON: \'["sports", "cooking"]\' or \'{"sports": "games"}\'.',
        ) from exc


def cmd_cluster(args: argparse.Namespace) -> int:
    settings = settings_from(args, *MODEL_CONCERNS)
    _check_filter(args)
    if args.texts and args.collection:
        raise InvalidInputError(
            "Give texts or --collection, not both.", field="collection", fix="Cluster the texts, or the collection."
        )
    collection, opened = (None, None) if args.texts else _existing(args, settings)
    result = _service(settings, opened).cluster(
        collection=collection, texts=args.texts or None, k=args.k, task=args.task, filter=args.filter
    )
    lines = [f"cluster {c.cluster} ({c.size}): {_short(c.representative.text)}" for c in result.clusters]
    return _emit(args, result, "\n".join(lines))


def cmd_tasks(args: argparse.Namespace) -> int:
    from taskvec.task_list import task_list

    settings = settings_from(args, "engine")  # the model alone: no store is opened
    spaces = settings.task_spaces_from_files()  # no model loaded where the folder's files settle the spaces
    if spaces is None:
        from taskvec.service import quiet_libraries

        quiet_libraries()
        spaces = settings.build_encoder().spaces
    result = task_list(spaces, settings.effective_tasks_file())
    lines = [f"model {result.model} (prompts: {result.prompt_source})"]
    for t in result.tasks:
        prompts = repr(t.query_prompt) if t.symmetric else f"query {t.query_prompt!r} / document {t.document_prompt!r}"
        lines.append(
            f"- {t.name} [{t.kind}] prompt {prompts}; adapter: {t.adapter or 'none'}"
            + (f", blended with the bare model at share {t.blend:g}" if t.blend is not None else "")
            + f"; space {t.space_id}\n"
            f"    {t.description}\n"
            f"    runs: {t.status} - {t.why}"
        )
    return _emit(args, result, "\n".join(lines))


# ----------------------------------------------------------------------------------------- no-model commands
def _describe_lines(c: Any) -> list[str]:
    return [
        f"- {c.name}: {c.rows} rows, dim {c.dimension}",
        *(f"    {s.rows} rows in {s.space.description}" for s in c.spaces),
    ]


def cmd_collections(args: argparse.Namespace) -> int:
    result = _store_service(args).list_collections()
    lines = [f"store {result.store}"] + [line for c in result.collections for line in _describe_lines(c)]
    return _emit(args, result, "\n".join(lines))


def cmd_describe(args: argparse.Namespace) -> int:
    settings = settings_from(args, "store", "calls")
    result = _store_service(args, settings).describe_collection(_collection(args, settings))
    return _emit(args, result, "\n".join(_describe_lines(result)))


def cmd_get(args: argparse.Namespace) -> int:
    settings = settings_from(args, "store", "calls")
    result = _store_service(args, settings).get_documents(
        _collection(args, settings), ids=args.ids, filter=args.filter, limit=args.limit, offset=args.offset
    )
    lines = [f"{d.id} [{', '.join(d.tasks)}]: {_short(d.text)}" for d in result.documents]
    lines += [f"not found: {', '.join(result.missing)}"] if result.missing else []
    lines += [f"more: --offset {result.next_offset}"] if result.next_offset is not None else []
    return _emit(args, result, "\n".join(lines) or "no documents")


def cmd_delete(args: argparse.Namespace) -> int:
    settings = settings_from(args, "store", "calls")
    result = _store_service(args, settings).delete(
        _collection(args, settings), ids=args.ids, filter=args.filter, space=args.space
    )
    return _emit(args, result, f"deleted {result.deleted} rows from {result.collection!r}")


def cmd_drop(args: argparse.Namespace) -> int:
    settings = settings_from(args, "store", "calls")
    service = _store_service(args, settings)
    rows = service.describe_collection(args.collection).rows  # refuses an unknown name before asking anything
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInputError(
                f"Refusing to drop {args.collection!r} ({rows} rows) without confirmation.",
                field="yes",
                fix=f"Run `taskvec drop {args.collection} --yes` to drop it.",
            )
        answer = input(f"Drop collection {args.collection!r} and its {rows} rows for good? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not dropped", file=sys.stderr)
            return 1
    result = service.drop_collection(args.collection)
    return _emit(args, result, f"dropped collection {result.collection!r} ({result.dropped_rows} rows)")


def cmd_optimize(args: argparse.Namespace) -> int:
    store = _store_service(args).store
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
    if args.read_only:
        extra["read_only"] = True
    settings = settings_from(args, **extra)
    if args.transport != "stdio":
        check_exposure(settings)  # refuse a dangerous bind before anything starts

    from taskvec.server.app import serve

    serve(settings, transport=args.transport)
    return 0
