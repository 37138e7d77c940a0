"""The first stage of a retrieval search as the harness measures it, in either of search's modes.

``vector`` is exact cosine search over the whole corpus (:func:`taskvec.metrics.exact_search`). ``hybrid`` is
what ``search(mode="hybrid")`` returns: the documents and their vectors are written to a temporary LanceDB
collection and every query goes through :meth:`taskvec.store.Store.search`, so the figure is that of the store's
own fusion (the cosine ranking and LanceDB's BM25, fused by ``taskvec.store.queries.fuse``), not of a
re-implementation of it. What it does not measure: chunking. Each document is one row, as the vector figures
encode it, so a long document is scored on its first ``max_seq_length`` tokens by the cosine and on all its words
by BM25.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from taskvec import metrics
from taskvec.errors import InvalidInputError
from taskvec.options import SEARCH_MODES, keyword_weight_for
from taskvec.spaces import EmbeddingSpace

_COLLECTION = "eval"


def check_mode(mode: str) -> str:
    if mode not in SEARCH_MODES:
        raise InvalidInputError(
            f"Unknown search mode {mode!r}.", field="--mode", fix=f"Pass one of {', '.join(SEARCH_MODES)}."
        )
    return mode


def first_stage_rankings(
    mode: str,
    space: EmbeddingSpace | None,
    query_texts: Sequence[str],
    query_vectors: np.ndarray,
    docs: Sequence[str],
    doc_vectors: np.ndarray,
    doc_ids: Sequence[str],
    depth: int,
    keyword_weight: float | None = None,
) -> list[list[str]]:
    """Each query's best ``depth`` document ids, best first, as search in ``mode`` ranks them; a hybrid search
    needs the ``space`` the vectors were made in (the store files them under it) and fuses with BM25 at
    ``keyword_weight`` (default: search's own)."""
    keyword_weight_for(check_mode(mode), keyword_weight)  # a weight for a vector search is refused, not ignored
    if mode == "vector":
        return metrics.exact_search(query_vectors, doc_vectors, doc_ids, depth=depth)
    if space is None:
        raise ValueError("a hybrid first stage needs the space the vectors were made in")
    hits = hybrid_hits(space, query_texts, query_vectors, docs, doc_vectors, doc_ids, depth, keyword_weight)
    return [[doc_id for doc_id, _ in row] for row in hits]


def hybrid_hits(
    space: EmbeddingSpace,
    query_texts: Sequence[str],
    query_vectors: np.ndarray,
    docs: Sequence[str],
    doc_vectors: np.ndarray,
    doc_ids: Sequence[str],
    depth: int,
    keyword_weight: float | None = None,
) -> list[list[tuple[str, float]]]:
    """Each query's best ``depth`` (document id, fused score) pairs, best first, from ``search(mode="hybrid")`` on
    a temporary collection of the documents: the store's own BM25 and fusion, not a copy of them."""
    from taskvec.store import Document, Store

    with tempfile.TemporaryDirectory(prefix="taskvec-eval-hybrid-") as root:
        store = Store(root)
        documents = [Document(id=i, text=t) for i, t in zip(doc_ids, docs, strict=True)]
        store.upsert(_COLLECTION, documents, np.asarray(doc_vectors, dtype=np.float32), space)
        return [
            [
                (h.id, h.score)
                for h in store.search(
                    _COLLECTION, space, vector, limit=depth, text=text, mode="hybrid", keyword_weight=keyword_weight
                )
            ]
            for text, vector in zip(query_texts, query_vectors, strict=True)
        ]


# ------------------------------------------------------------------------------ taskvec eval panel --mode hybrid
def run_hybrid_panel(
    encoder: Any,
    task: str,
    root: Path,
    *,
    sample: int | None = None,
    sets: Sequence[str] | None = None,
    rounds: int | None = None,
    cache: Path | None = None,
    report: Callable[[str, dict[str, Any]], None] | None = None,
    keyword_weight: float | None = None,
) -> dict[str, Any]:
    """Every retrieval set of the held-out panel (docs/panel.md) searched by the served ``task`` twice, by vector
    and by hybrid search, from the same vectors: nDCG@10 of both and the change's verdict against 1.96 standard
    deviations of a paired bootstrap over queries, as every panel change is read."""
    from taskvec.eval import bootstrap
    from taskvec.eval.checks import Runner
    from taskvec.eval.panel import ROUNDS, comparison_row, panel_scope, panel_sets, retrieval_units

    rounds = rounds or ROUNDS
    served = encoder.tasks[task]
    if served.kind != "retrieval":
        raise InvalidInputError(
            f"--mode hybrid searches a retrieval collection; task {task!r} is of kind {served.kind!r}.",
            field="--task",
            fix="Pass --task retrieval (or another retrieval task).",
        )
    runner, space = Runner(encoder, served, cache), encoder.space(served)
    chosen = panel_sets(Path(root), "retrieval", sets)
    rows: dict[str, dict[str, Any]] = {}
    for ps in chosen:
        units = retrieval_units(Path(root) / ps.name, sample)
        queries, docs = runner.embed(units.queries, "query"), runner.embed(units.docs, "document")
        figures = {
            mode: bootstrap.per_query_ndcg(
                first_stage_rankings(
                    mode,
                    space,
                    units.queries,
                    queries,
                    units.docs,
                    docs,
                    units.doc_ids,
                    10,
                    keyword_weight if mode == "hybrid" else None,  # the vector reading takes none
                ),
                units.grades,
            )
            for mode in SEARCH_MODES
        }
        rows[ps.name] = comparison_row(ps, ("vector", figures["vector"]), ("hybrid", figures["hybrid"]), rounds)
        if report:
            report(ps.name, rows[ps.name])
    return {
        "task": task,
        "keyword_weight": keyword_weight_for("hybrid", keyword_weight),
        "space": space.describe(),
        "dtype": encoder.describe()["dtype"],
        **panel_scope(Path(root), "retrieval", chosen, sample, rounds),
        "sets": rows,
    }


def render_panel(result: dict[str, Any]) -> str:
    from taskvec.eval.panel import comparison_line, scope_note

    lines = [
        f"hybrid panel: task {result['task']!r}, vector search against hybrid search (vectors and BM25, "
        f"score-fused, BM25 weight {result['keyword_weight']}); {result['rounds']} paired bootstrap rounds"
        + scope_note(result)
    ]
    lines += [comparison_line(n, row, ("vector", "vector"), ("hybrid", "hybrid")) for n, row in result["sets"].items()]
    return "\n".join(lines)


def run_panel_command(args: Any, root: Path) -> int:
    """``taskvec eval panel --task T --mode hybrid``: what hybrid search changes on the panel, for the served
    task (no adapter or prompt of its own: it measures what search gives)."""
    from taskvec.eval.cli import panel_command, panel_options, record_encoder

    given = [f for f in ("adapter", "query_prompt", "document_prompt", "card") if getattr(args, f) not in (None, False)]
    if given:
        name = f"--{given[0].replace('_', '-')}"
        raise InvalidInputError(
            f"--mode hybrid measures the served task's search: it takes no {name}.",
            field=name,
            fix=f"Drop {name}; train or name the task's adapter in the tasks file to measure another one.",
        )
    weight = keyword_weight_for(args.mode, args.keyword_weight)  # a bad weight fails before the model loads
    result = run_hybrid_panel(record_encoder(args), args.task, root, keyword_weight=weight, **panel_options(args))
    result["command"] = panel_command(args, root)
    print(render_panel(result))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    return 0
