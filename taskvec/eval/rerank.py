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

BOOTSTRAP_SAMPLES = 2000


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
) -> TwoStage:
    """Exact cosine search for the first stage, then each query's top ``candidates`` rescored. ``same_space``:
    the vectors are in the reranker's residual space, so their cosines are its first-stage scores."""
    q, d = metrics.normalize_rows(query_vectors), metrics.normalize_rows(doc_vectors)
    ties = metrics.lexical_ranks(doc_ids)
    first, reranked, truncated = [], [], 0
    for i, query in enumerate(queries):
        cosines = d @ q[i]
        top = metrics.top_k(cosines, ties, candidates)
        scores, cut = reranker.score(query, [docs[j] for j in top], first_stage=cosines[top] if same_space else None)
        truncated += cut
        first.append([doc_ids[j] for j in top])
        reranked.append([doc_ids[j] for j in top[np.argsort(-scores, kind="stable")]])
    return TwoStage(first, reranked, truncated)


def per_query_ndcg(rankings: Sequence[Sequence[str]], grades: Sequence[Mapping[str, int]], k: int = 10) -> np.ndarray:
    return np.asarray([metrics.ndcg_at_k(r, g, k) for r, g in zip(rankings, grades, strict=True)])


def paired_spread(first: np.ndarray, second: np.ndarray, seed: int = 0) -> dict[str, float]:
    """The change's mean with its bootstrap standard deviation and 95% interval over resampled queries."""
    rng = np.random.default_rng(seed)
    change = second - first
    draws = rng.integers(0, len(change), size=(BOOTSTRAP_SAMPLES, len(change)))
    means = change[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {
        "change": float(change.mean()),
        "change_std": float(means.std()),
        "change_ci95": [float(low), float(high)],
        "queries_better": int((change > 0).sum()),
        "queries_worse": int((change < 0).sum()),
    }


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
    candidates: int = 50,
    only: Sequence[str] | None = None,
    cache: Path | None = None,
    report: Any = None,
) -> dict[str, dict[str, Any]]:
    """``{set: {first_stage, reranked, change, change_std, ...}}`` for every retrieval check (home and held-out),
    the first stage being the served task ``first_stage`` (its prompts and adapter)."""
    from taskvec.eval.checks import CHECKS, Options, Runner

    task = encoder.tasks[first_stage]
    results: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        if check.kind != "retrieval" or (only and not any(s in name for s in only)):
            continue
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
            "search; the reranker rescores each query's top candidates. Spread: bootstrap standard deviation of the "
            f"change over queries ({BOOTSTRAP_SAMPLES} resamples). Home sets are test splits never trained on; "
            "held-out sets are of other data.",
        )
        print(f"recorded in {folder / 'README.md'}; ship rule {'passes' if ships else 'fails'}")
    if args.json:
        print(json.dumps(results))
    return 0
