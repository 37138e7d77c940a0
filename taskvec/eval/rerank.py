"""Two-stage retrieval in the quality harness: the first stage's top ``candidates`` per query, rescored by a
reranker, and nDCG@10 of both stages on the same queries with the paired bootstrap spread of the change.

Used by ``taskvec eval retrieval --rerank TASK`` (a BEIR folder) and ``taskvec eval checks --rerank TASK`` (the
retrieval checks: SciFact test at home, the held-out sets the ship rule reads).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taskvec import metrics
from taskvec.engine import Encoder, Task
from taskvec.engine.rerank import Reranker, build_reranker
from taskvec.engine.tasks import RERANK_KIND
from taskvec.eval.bootstrap import BOOTSTRAP_SAMPLES, paired_spread, per_query_ndcg
from taskvec.eval.hybrid import first_stage_rankings
from taskvec.options import DEFAULT_CANDIDATES, keyword_weight_for
from taskvec.spaces import EmbeddingSpace


@dataclass
class TwoStage:
    """Per query, the first stage's ranking and the reranked one (document ids, best first)."""

    first: list[list[str]]
    reranked: list[list[str]]
    truncated: int


def reranker_for(encoder: Encoder, name: str) -> Reranker:
    """A rerank task by name, or a folder: a rerank adapter (``adapter_config.json``) or a CrossEncoder folder."""
    path = Path(name)
    if path.is_dir():
        adapter = (path / "adapter_config.json").is_file()
        task = Task(path.name, RERANK_KIND, "reranker under evaluation", **{"adapter" if adapter else "model": path})
        return build_reranker(encoder, task)
    return build_reranker(encoder, encoder.tasks[name])


def rerank_rankings(
    reranker: Reranker,
    queries: Sequence[str],
    query_vectors: np.ndarray,
    docs: Sequence[str],
    doc_vectors: np.ndarray,
    doc_ids: Sequence[str],
    candidates: int,
    *,
    same_space: bool,
    mode: str = "vector",
    space: EmbeddingSpace | None = None,
    keyword_weight: float | None = None,
) -> TwoStage:
    """The first stage (search in ``mode``: exact cosine, or ``hybrid`` in the ``space`` the vectors were made in),
    then each query's top ``candidates`` rescored. ``same_space``: the vectors are in the reranker's residual
    space, so their cosines are its first-stage scores, whatever order the first stage put the candidates in."""
    q, d = metrics.normalize_rows(query_vectors), metrics.normalize_rows(doc_vectors)
    stage_one = first_stage_rankings(mode, space, queries, q, docs, d, doc_ids, candidates, keyword_weight)
    row = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    first, reranked, truncated = [], [], 0
    for i, query in enumerate(queries):
        top = np.asarray([row[doc_id] for doc_id in stage_one[i]], dtype=np.int64)
        cosines = d[top] @ q[i]
        scores, cut = reranker.score(query, [docs[j] for j in top], first_stage=cosines if same_space else None)
        truncated += cut
        first.append(stage_one[i])
        reranked.append([doc_ids[j] for j in top[np.argsort(-scores, kind="stable")]])
    return TwoStage(first, reranked, truncated)


def two_stage_figures(stages: TwoStage, grades: Sequence[Mapping[str, int]], candidates: int) -> dict[str, Any]:
    first, second = per_query_ndcg(stages.first, grades), per_query_ndcg(stages.reranked, grades)
    return {
        "first_stage": float(first.mean()),
        "reranked": float(second.mean()),
        "candidates": candidates,
        "truncated_pairs": stages.truncated,
        **paired_spread(first, second),
    }


def same_space(encoder: Encoder, reranker: Reranker, task: Task) -> bool:
    return reranker.identity.residual_space == encoder.space(task).id


# ------------------------------------------------------------------------------------ taskvec eval checks
class RerankRunner:
    """A checks ``Runner`` whose retrieval checks run two stages, keeping each set's full figures."""

    def __init__(self, runner: Any, reranker: Reranker, candidates: int) -> None:
        self.runner, self.reranker, self.candidates = runner, reranker, candidates
        self.figures: dict[str, Any] = {}

    def __call__(self, r: Any, queries: list[str], docs: list[str], ids: list[str], relevant: list[set[str]]) -> float:
        stages = rerank_rankings(
            self.reranker,
            queries,
            r.embed(queries, "query"),
            docs,
            r.embed(docs, "document"),
            ids,
            self.candidates,
            same_space=same_space(r.encoder, self.reranker, r.task),
        )
        self.figures = two_stage_figures(stages, [dict.fromkeys(s, 1) for s in relevant], self.candidates)
        return self.figures["reranked"]


def run_rerank_checks(
    encoder: Encoder,
    first_stage: str,
    reranker: Reranker,
    data_root: Path,
    *,
    candidates: int = DEFAULT_CANDIDATES,
    only: Sequence[str] | None = None,
    cache: Path | None = None,
    report: Any = None,
) -> dict[str, dict[str, Any]]:
    """``{set: {first_stage, reranked, change, change_std, ...}}`` for every retrieval check (home and held-out),
    the first stage being the served task ``first_stage`` (its prompts and adapter)."""
    from taskvec.eval.checks import Options, Runner, selected_checks

    task = encoder.tasks[first_stage]
    results: dict[str, dict[str, Any]] = {}
    for name, check in selected_checks("retrieval", only).items():
        runner = Runner(encoder, task, cache)
        two = RerankRunner(runner, reranker, candidates)
        runner.two_stage = two
        check.measure(runner, Options(Path(data_root)))
        results[name] = {"metric": check.metric, **{k: _rounded(v) for k, v in two.figures.items()}}
        if report:
            report(name, results[name])
    return results


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def run_checks_command(args: Any) -> int:
    """``taskvec eval checks --task T --rerank R [--card]``: two-stage figures of every retrieval check; --card
    records them in the rerank adapter's model card and applies the ship rule."""
    import json

    from taskvec.eval.cli import checks_cache, record_encoder

    encoder = record_encoder(args)
    results = run_rerank_checks(
        encoder,
        args.task,
        reranker_for(encoder, args.rerank),
        args.data_root,
        candidates=args.candidates,
        only=args.only,
        cache=checks_cache(),
        report=lambda name, row: print(name, json.dumps(row), flush=True),
    )
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    if args.card:
        from taskvec.train.rerank_card import add_rerank_figures

        folder = Path(args.rerank)
        ships = add_rerank_figures(
            folder,
            results,
            note=f"Measured by `taskvec eval checks --task {args.task} --rerank {args.rerank} --candidates "
            f"{args.candidates} --card`: the first stage is the served `{args.task}` task (its adapter), exact cosine "
            f"search; the reranker rescores each query's top candidates; both in {encoder.describe()['dtype']}. "
            "Spread: bootstrap standard deviation of the "
            f"change over queries ({BOOTSTRAP_SAMPLES} resamples). Home sets are test splits never trained on; "
            "held-out sets are of other data.",
        )
        print(f"recorded in {folder / 'README.md'}; ship rule {'passes' if ships else 'fails'}")
    if args.json:
        print(json.dumps(results))
    return 0


# ------------------------------------------------------------------------------------ taskvec eval panel --rerank
def run_rerank_panel(
    encoder: Encoder,
    first_stage: str,
    reranker: Reranker,
    root: Path,
    *,
    candidates: int = DEFAULT_CANDIDATES,
    mode: str = "vector",
    keyword_weight: float | None = None,
    sample: int | None = None,
    sets: Sequence[str] | None = None,
    rounds: int | None = None,
    cache: Path | None = None,
    report: Any = None,
) -> dict[str, Any]:
    """Every retrieval set of the held-out panel (docs/panel.md) searched in two stages: the served task
    ``first_stage``'s search in ``mode`` ranks the whole corpus, the reranker rescores each query's top
    ``candidates``. nDCG@10 of both stages, and the change's verdict (up / level / down) against 1.96 standard
    deviations of a paired bootstrap over queries, as the embedding adapters' panel reads it."""
    from taskvec.eval.checks import Runner
    from taskvec.eval.panel import ROUNDS, comparison_row, panel_scope, panel_sets, retrieval_units

    rounds = rounds or ROUNDS
    task = encoder.tasks[first_stage]
    runner = Runner(encoder, task, cache)
    chosen = panel_sets(Path(root), "retrieval", sets)
    rows: dict[str, dict[str, Any]] = {}
    for ps in chosen:
        units = retrieval_units(Path(root) / ps.name, sample)
        stages = rerank_rankings(
            reranker,
            units.queries,
            runner.embed(units.queries, "query"),
            units.docs,
            runner.embed(units.docs, "document"),
            units.doc_ids,
            candidates,
            same_space=same_space(encoder, reranker, task),
            mode=mode,
            space=encoder.space(task),
            keyword_weight=keyword_weight,
        )
        first, reranked = per_query_ndcg(stages.first, units.grades), per_query_ndcg(stages.reranked, units.grades)
        row = comparison_row(ps, ("first_stage", first), ("reranked", reranked), rounds)
        rows[ps.name] = {**row, "truncated_pairs": stages.truncated}
        if report:
            report(ps.name, rows[ps.name])
    return {
        "first_stage_task": first_stage,
        "reranker": reranker.identity.describe(),
        "reranker_id": reranker.identity.id,
        "candidates": candidates,
        "mode": mode,
        "keyword_weight": keyword_weight_for(mode, keyword_weight),
        "dtype": encoder.describe()["dtype"],
        **panel_scope(Path(root), "retrieval", chosen, sample, rounds),
        "sets": rows,
    }


def render_panel(result: dict[str, Any]) -> str:
    """The rerank panel as a text table for people."""
    from taskvec.eval.panel import comparison_line, scope_note

    lines = [
        f"rerank panel: {result['reranker']} over the top {result['candidates']} of task "
        f"{result['first_stage_task']!r}'s {result.get('mode', 'vector')} search; {result['rounds']} paired bootstrap "
        "rounds" + scope_note(result)
    ]
    stages = (("first_stage", "one stage"), ("reranked", "two stages"))
    lines += [comparison_line(name, row, *stages) for name, row in result["sets"].items()]
    return "\n".join(lines)


def run_panel_command(args: Any, root: Path) -> int:
    """``taskvec eval panel --task T --rerank R [--card]``: the two-stage panel; --card records it in the rerank
    adapter's model card and applies the ship rule."""
    import json

    from taskvec.errors import InvalidInputError
    from taskvec.eval.cli import panel_command, panel_options, record_encoder

    if args.adapter is not None or args.query_prompt is not None or args.document_prompt is not None:
        raise InvalidInputError(
            "--rerank measures the served first stage: it takes no --adapter or prompts.",
            field="--adapter",
            fix="Drop --adapter/--query-prompt/--document-prompt; the first stage is the task as it is served.",
        )
    weight = keyword_weight_for(args.mode, args.keyword_weight)  # a bad weight fails before the model loads
    encoder = record_encoder(args)
    if encoder.tasks[args.task].kind != "retrieval":
        raise InvalidInputError(
            f"--rerank reranks a retrieval search; task {args.task!r} is of kind {encoder.tasks[args.task].kind!r}.",
            field="--task",
            fix="Pass --task retrieval (or another retrieval task).",
        )
    reranker = reranker_for(encoder, args.rerank)
    if args.card and not (Path(args.rerank) / "adapter_config.json").is_file():
        raise InvalidInputError(
            "--card records the panel in a rerank adapter's folder.",
            field="--card",
            fix="Pass --rerank the folder of a rerank adapter (taskvec train --task rerank), or drop --card.",
        )
    result = run_rerank_panel(
        encoder,
        args.task,
        reranker,
        root,
        candidates=args.candidates,
        mode=args.mode,
        keyword_weight=weight,
        **panel_options(args),
    )
    result["command"] = panel_command(args, root)
    print(render_panel(result))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    if args.card:
        from taskvec.train.rerank_card import add_rerank_panel

        ships = add_rerank_panel(Path(args.rerank), result)
        print(f"recorded in {Path(args.rerank) / 'README.md'}; ship rule {'passes' if ships else 'fails'}")
    if args.json:
        print(json.dumps(result))
    return 0
