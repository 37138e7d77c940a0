"""One runner per task kind: encode a data set with an :class:`Encoder` under one Task variant, score it.

Each runner encodes from scratch. Nothing is cached between calls, so a variant can never reuse the vectors of
another (within one call a text that occurs twice is encoded once: same text, same task, same vector).
Similarities are cosine throughout, computed here on the returned vectors whatever the model's own normalisation.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from taskvec import metrics
from taskvec.data.beir import RetrievalData
from taskvec.data.clustering import ClusteringData
from taskvec.data.pairs import PairData
from taskvec.engine.encoder import Encoder
from taskvec.engine.tasks import Role, Task
from taskvec.eval.datasets import ClassificationData
from taskvec.eval.variants import DEFAULT_TASKS, Variant
from taskvec.options import DEFAULT_CANDIDATES, keyword_weight_for

MTEB_SEED = 42  # the seed MTEB gives numpy before sampling few-shot training sets
MTEB_DEFAULT_SAMPLES_PER_LABEL = 8  # MTEB's default where a task's metadata sets none


@dataclass
class EvalResult:
    """One figure, with what produced it. ``details`` holds the secondary metrics and the protocol used."""

    kind: str
    dataset: str
    task: str
    metric: str
    value: float
    model: str
    model_fingerprint: str
    space_id: str
    query_prompt: str
    document_prompt: str
    adapter: str | None
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def record(self, variant: Variant) -> dict[str, Any]:
        """The JSON object of ``taskvec eval --json`` and of the suite's results file."""
        out = asdict(self)
        out["variant"] = variant.label
        out["prompt"] = variant.prompt
        out["adapter_variant"] = variant.adapter
        return out


class _Run:
    """Encodes for one runner call and assembles its result; keeps the clock and the truncation count."""

    def __init__(self, encoder: Encoder, task: Task, show_progress: bool) -> None:
        self.encoder, self.task, self.show_progress = encoder, task, show_progress
        self.started = time.perf_counter()
        self.truncated = 0

    def encode(self, texts: Sequence[str], role: Role = "document") -> np.ndarray:
        """Vectors of ``texts`` in order; each distinct text is encoded once."""
        unique = list(dict.fromkeys(texts))
        result = self.encoder.encode(unique, task=self.task, role=role, show_progress=self.show_progress)
        self.truncated += result.truncated
        position = {text: i for i, text in enumerate(unique)}
        return result.vectors[[position[t] for t in texts]]

    def result(self, kind: str, dataset: str, metric: str, details: dict[str, Any]) -> EvalResult:
        details = {**details, "truncated_texts": self.truncated}
        return EvalResult(
            kind=kind,
            dataset=dataset,
            task=self.task.name,
            metric=metric,
            value=float(details[metric]),
            model=self.encoder.model_name,
            model_fingerprint=self.encoder.model_fingerprint,
            space_id=self.encoder.space(self.task).id,
            query_prompt=self.task.query_prompt,
            document_prompt=self.task.document_prompt,
            adapter=str(self.task.adapter) if self.task.adapter else None,
            seconds=round(time.perf_counter() - self.started, 3),
            details=details,
        )


# ---------------------------------------------------------------------------------------------- retrieval
def run_retrieval(
    encoder: Encoder,
    task: Task,
    data: RetrievalData,
    *,
    ndcg_k: int = 10,
    recall_k: int = 100,
    mrr_k: int = 10,
    show_progress: bool = False,
    mode: str = "vector",
    keyword_weight: float | None = None,
    rerank: str | None = None,
    candidates: int = DEFAULT_CANDIDATES,
) -> EvalResult:
    """Every judged query searched over the whole corpus; nDCG@10 (also recall@100, MRR@10).

    ``mode``: ``vector`` (exact cosine search) or ``hybrid`` (search's fusion with BM25 at ``keyword_weight``,
    taskvec.eval.hybrid); a hybrid run also gives ``details["hybrid"]``: nDCG@10 of the vector search on the same
    queries and the change's spread. ``rerank`` (a rerank task or folder): the first stage's top ``candidates`` are
    rescored by it and the figures are the two-stage pipeline's; ``details["rerank"]`` holds both stages' nDCG@10
    and the change's spread."""
    from taskvec.eval.bootstrap import paired_spread, per_query_ndcg
    from taskvec.eval.hybrid import first_stage_rankings

    run = _Run(encoder, task, show_progress)
    query_ids = list(data.queries)
    query_texts = [data.queries[q] for q in query_ids]
    queries = run.encode(query_texts, role="query")
    docs = run.encode(data.docs, role="document")
    grades = [data.qrels.get(q, {}) for q in query_ids]
    space = encoder.space(task)
    extra: dict[str, Any] = {"mode": mode, "keyword_weight": keyword_weight_for(mode, keyword_weight)}
    if rerank is not None:  # two stages: the reranked lists hold `candidates` documents (recall@100 counts those)
        from taskvec.eval import rerank as two

        reranker = two.reranker_for(encoder, rerank)
        same = two.same_space(encoder, reranker, task)
        stages = two.rerank_rankings(
            reranker,
            query_texts,
            queries,
            data.docs,
            docs,
            data.doc_ids,
            candidates,
            same_space=same,
            mode=mode,
            space=space,
            keyword_weight=keyword_weight,
        )
        rankings = stages.reranked
        extra["rerank"] = {
            "reranker": reranker.identity.describe(),
            **two.two_stage_figures(stages, grades, candidates),
        }
    else:
        depth = max(ndcg_k, recall_k, mrr_k)
        stage = (mode, space, query_texts, queries, data.docs, docs, data.doc_ids)
        rankings = first_stage_rankings(*stage, depth, keyword_weight)
        if mode == "hybrid":
            # A search for 10 hits fuses shallower lists than one for 100: the top k is what a search for k returns,
            # the deeper search fills the rest (recall@100). Then the change against the vector search alone.
            top = first_stage_rankings(*stage, max(ndcg_k, mrr_k), keyword_weight)
            rankings = [
                [*first, *(d for d in deep if d not in first)] for first, deep in zip(top, rankings, strict=True)
            ]
            vector = per_query_ndcg(metrics.exact_search(queries, docs, data.doc_ids, depth=ndcg_k), grades, ndcg_k)
            fused = per_query_ndcg(rankings, grades, ndcg_k)
            extra["hybrid"] = {
                "vector": float(vector.mean()),
                "hybrid": float(fused.mean()),
                **paired_spread(vector, fused),
            }
    scores = metrics.retrieval_scores(
        dict(zip(query_ids, rankings, strict=True)), data.qrels, ndcg_k=ndcg_k, recall_k=recall_k, mrr_k=mrr_k
    )
    return run.result("retrieval", data.name, f"ndcg_at_{ndcg_k}", {**scores, "documents": len(data.docs), **extra})


# --------------------------------------------------------------------------------------------- similarity
def run_similarity(encoder: Encoder, task: Task, data: PairData, *, show_progress: bool = False) -> EvalResult:
    """Spearman correlation between the gold scores and the cosine of each pair (Pearson alongside)."""
    run = _Run(encoder, task, show_progress)
    cosine = metrics.paired_cosine(*_pair_vectors(run, data))
    details = {
        "cosine_spearman": metrics.spearman(data.targets, cosine),
        "cosine_pearson": metrics.pearson(data.targets, cosine),
        "pairs": len(cosine),
    }
    return run.result("similarity", data.name, "cosine_spearman", details)


def _pair_vectors(run: _Run, data: PairData) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of the first and of the second texts; both sides are encoded in one call (texts shared by pairs
    are encoded once)."""
    vectors = run.encode([*data.texts1, *data.texts2])
    return vectors[: len(data.texts1)], vectors[len(data.texts1) :]


# ---------------------------------------------------------------------------------------------------- pairs
def run_pairs(encoder: Encoder, task: Task, data: PairData, *, show_progress: bool = False) -> EvalResult:
    """Average precision of ranking the positive pairs by cosine.

    MTEB's main score is the best AP over cosine, dot, Euclidean and Manhattan scoring; it is reported alongside as
    ``max_ap`` (for normalised vectors the first three rank pairs identically).
    """
    run = _Run(encoder, task, show_progress)
    a, b = _pair_vectors(run, data)
    labels = np.asarray(data.targets, dtype=int)
    aps = {
        "cosine_ap": metrics.average_precision(labels, metrics.paired_cosine(a, b)),
        "dot_ap": metrics.average_precision(labels, np.einsum("ij,ij->i", a, b)),
        "euclidean_ap": metrics.average_precision(labels, -np.linalg.norm(a - b, axis=1)),
        "manhattan_ap": metrics.average_precision(labels, -np.abs(a - b).sum(axis=1)),
    }
    details = {**aps, "max_ap": max(aps.values()), "pairs": len(labels), "positives": int(labels.sum())}
    return run.result("pairs", data.name, "cosine_ap", details)


# ------------------------------------------------------------------------------------------ classification
def few_shot_samples(labels: Sequence[str], samples_per_label: int, experiments: int, seed: int) -> list[np.ndarray]:
    """The training rows of each experiment, drawn exactly as MTEB 1.12 (which made the published figures) draws.

    MTEB shuffles one index array in place before each experiment and takes the first ``samples_per_label`` rows
    of each label in shuffled order. Its evaluators re-seed numpy's global generator with the seed whenever one is
    built, so every experiment applies the *same* seeded shuffle again to the previous order. With ``seed=42`` this
    gives MTEB's own training sets (checked: all 10 per-experiment accuracies of the published
    AmazonCounterfactual result are reproduced); other seeds give the other seed sets of the spread.
    """
    idxs = np.arange(len(labels))
    draws = []
    for _ in range(experiments):
        np.random.RandomState(seed).shuffle(idxs)
        taken: dict[str, int] = {}
        chosen = []
        for i in idxs.tolist():
            if taken.get(labels[i], 0) < samples_per_label:
                taken[labels[i]] = taken.get(labels[i], 0) + 1
                chosen.append(i)
        draws.append(np.asarray(chosen))
    return draws


def run_classification(
    encoder: Encoder,
    task: Task,
    data: ClassificationData,
    *,
    samples_per_label: int | None = None,
    experiments: int = 10,
    seed_sets: int = 1,
    seed: int = MTEB_SEED,
    show_progress: bool = False,
) -> EvalResult:
    """MTEB's few-shot protocol: logistic regression (max_iter 100) on ``samples_per_label`` texts per label,
    ``experiments`` draws, mean test accuracy.

    With ``seed_sets`` > 1 the whole protocol is repeated with seeds ``seed``, ``seed + 1``, ...; the figure is the
    mean over seed sets and the spread is reported, since one draw of training examples moves accuracy by more
    than the differences being measured. Only the training texts some draw uses are encoded.
    """
    n = samples_per_label or data.samples_per_label or MTEB_DEFAULT_SAMPLES_PER_LABEL
    run = _Run(encoder, task, show_progress)
    plans = [few_shot_samples(data.train.labels, n, experiments, seed + s) for s in range(seed_sets)]
    used = np.unique(np.concatenate([rows for plan in plans for rows in plan]))
    train_vectors = np.zeros((len(data.train.texts), encoder.dimension), dtype=np.float32)
    train_vectors[used] = run.encode([data.train.texts[i] for i in used])
    test_vectors = run.encode(data.test.texts)
    train_labels, test_labels = np.asarray(data.train.labels), np.asarray(data.test.labels)
    accuracies = [
        [logistic_accuracy(train_vectors, train_labels, rows, test_vectors, test_labels) for rows in plan]
        for plan in plans
    ]
    set_means = [float(np.mean(a)) for a in accuracies]
    details = {
        "accuracy": float(np.mean(set_means)),
        "accuracy_std": float(np.std(set_means)),
        "accuracy_min": min(set_means),
        "accuracy_max": max(set_means),
        "seed_set_means": set_means,
        "first_seed_set_experiments": accuracies[0],
        "samples_per_label": n,
        "experiments": experiments,
        "seed_sets": seed_sets,
        "first_seed": seed,
        "train_texts_encoded": len(used),
        "test_texts": len(test_labels),
    }
    return run.result("classification", data.name, "accuracy", details)


def logistic_accuracy(
    train_vectors: np.ndarray,
    train_labels: np.ndarray,
    rows: np.ndarray,
    test_vectors: np.ndarray,
    test_labels: np.ndarray,
) -> float:
    """Test accuracy of MTEB's classifier: LogisticRegression(max_iter=100, random_state=42) on the drawn rows."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=100, random_state=MTEB_SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # MTEB caps iterations on purpose; so do we
        model.fit(train_vectors[rows], train_labels[rows])
    return float(np.mean(model.predict(test_vectors) == test_labels))


# ---------------------------------------------------------------------------------------------- clustering
def run_clustering(
    encoder: Encoder, task: Task, data: ClusteringData, *, runs: int = 10, seed: int = 0, show_progress: bool = False
) -> EvalResult:
    """Mini-batch k-means with k = number of labels (MTEB's clustering settings), V-measure, mean over ``runs``
    seeds, since k-means results depend on the initialisation. A layout of several sets (MTEB's) clusters each set
    on its own, with its own k, and reports the mean over sets."""
    run = _Run(encoder, task, show_progress)
    vectors = run.encode(data.test.texts)
    per_set = [
        kmeans_v_measures(vectors[start:end], data.test.labels[start:end], runs=runs, seed=seed)
        for start, end in data.sets()
    ]
    scores = np.mean(per_set, axis=0).tolist()  # run r's figure: its mean over the sets
    details = {
        "v_measure": float(np.mean(scores)),
        "v_measure_std": float(np.std(scores)),
        "v_measures": scores,
        "clusters": len(set(data.test.labels)),
        "texts": len(vectors),
        "runs": runs,
    }
    if data.set_sizes:
        details["sets"] = len(data.set_sizes)
    return run.result("clustering", data.name, "v_measure", details)


def kmeans_v_measures(vectors: np.ndarray, labels: Sequence[str], *, runs: int, seed: int) -> list[float]:
    """V-measure of MTEB's clusterer (mini-batch k-means, k = number of labels) seeded ``seed``, ``seed + 1``, ..."""
    from sklearn.cluster import MiniBatchKMeans

    k = len(set(labels))
    return [
        metrics.v_measure(
            labels,
            MiniBatchKMeans(n_clusters=k, batch_size=500, n_init="auto", random_state=seed + r).fit_predict(vectors),
        )
        for r in range(runs)
    ]


RUNNERS: dict[str, Callable[..., EvalResult]] = {
    "retrieval": run_retrieval,
    "similarity": run_similarity,
    "classification": run_classification,
    "clustering": run_clustering,
    "pairs": run_pairs,
}


def run_variant(
    kind: str, encoder: Encoder, variant: Variant, data: Any, *, task: str | None = None, **options: Any
) -> EvalResult:
    """Run ``kind``'s runner on loaded ``data`` with ``variant`` applied to ``task`` (default: the kind's task)."""
    return RUNNERS[kind](encoder, variant.apply(encoder.tasks[task or DEFAULT_TASKS[kind]]), data, **options)
