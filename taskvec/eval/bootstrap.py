"""Scores that can be recomputed on a resample, and the paired bootstrap that tells a change from noise.

Each measure keeps what its score is made of (per-query nDCG, per-pair cosines, per-draw predictions, per-run
cluster assignments), so that one resample of the units (queries, pairs, test texts) and of the seeds (few-shot
draws, k-means runs) can be scored for every mode. Resampling the same units for base and variant is what makes the
bootstrap *paired*: the spread of ``variant - base`` over resamples is the noise of the change, usually much smaller
than either figure's own spread, since both move together with the sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from taskvec import metrics

BOOTSTRAP_SAMPLES = 2000  # resamples of the queries behind a two-pipeline change (paired_spread)
Z95 = 1.96  # a change beyond 1.96 standard deviations of the paired bootstrap is "up" or "down", else "level"


@dataclass(frozen=True)
class Resample:
    units: np.ndarray  # indices of units, drawn with replacement
    seeds: np.ndarray  # indices of seeds (few-shot draws, k-means runs), drawn with replacement


class Measure:
    """A score over ``units`` items and ``seeds`` repetitions; :meth:`score` on a resample of both."""

    units: int
    seeds: int = 1

    def score(self, resample: Resample | None = None) -> float:
        raise NotImplementedError


class MeanOfUnits(Measure):
    """A mean of per-unit figures (nDCG@10 per query)."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = np.asarray(values, dtype=np.float64)
        self.units = len(self.values)

    def score(self, resample: Resample | None = None) -> float:
        return float(self.values.mean() if resample is None else self.values[resample.units].mean())


class PairScore(Measure):
    """Spearman of cosine against gold scores, or the average precision of cosine against 0/1 labels."""

    def __init__(self, cosine: np.ndarray, targets: Sequence[float], statistic: str) -> None:
        self.cosine, self.targets = np.asarray(cosine), np.asarray(targets, dtype=np.float64)
        self.statistic = statistic
        self.units = len(self.cosine)

    def score(self, resample: Resample | None = None) -> float:
        rows = slice(None) if resample is None else resample.units
        cosine, targets = self.cosine[rows], self.targets[rows]
        if self.statistic == "ap":
            return metrics.average_precision(targets.astype(int), cosine) if targets.any() else 0.0
        return metrics.spearman(targets, cosine)


class Accuracy(Measure):
    """Accuracy of several few-shot draws: ``correct[draw, text]``."""

    def __init__(self, correct: np.ndarray) -> None:
        self.correct = np.asarray(correct, dtype=np.float64)
        self.seeds, self.units = self.correct.shape

    def score(self, resample: Resample | None = None) -> float:
        if resample is None:
            return float(self.correct.mean())
        # The mean over the resampled rows and columns, as weights: no copy of the matrix per resample.
        rows = np.bincount(resample.seeds, minlength=self.seeds)
        cols = np.bincount(resample.units, minlength=self.units)
        return float(rows @ self.correct @ cols / (rows.sum() * cols.sum()))


class VMeasure(Measure):
    """Mean V-measure of several k-means runs: ``clusters[run, text]`` against ``labels``."""

    def __init__(self, clusters: np.ndarray, labels: Sequence[str]) -> None:
        names, self.labels = np.unique(np.asarray(labels), return_inverse=True)
        self.clusters = np.asarray(clusters, dtype=np.int64)
        self.seeds, self.units = self.clusters.shape
        self.n_labels, self.n_clusters = len(names), int(self.clusters.max()) + 1

    def score(self, resample: Resample | None = None) -> float:
        weights = np.ones(self.units) if resample is None else np.bincount(resample.units, minlength=self.units)
        runs = np.ones(self.seeds) if resample is None else np.bincount(resample.seeds, minlength=self.seeds)
        figures = [self._v(self.clusters[r], weights) for r in np.flatnonzero(runs)]
        return float(np.average(figures, weights=runs[runs > 0]))

    def _v(self, clusters: np.ndarray, weights: np.ndarray) -> float:
        """V-measure of the weighted contingency table (equal to scikit-learn's on the resampled texts)."""
        table = np.bincount(
            self.labels * self.n_clusters + clusters, weights=weights, minlength=self.n_labels * self.n_clusters
        ).reshape(self.n_labels, self.n_clusters)
        p = table / table.sum()
        p_label, p_cluster = p.sum(1), p.sum(0)
        h_label, h_cluster = _entropy(p_label), _entropy(p_cluster)
        nz = p > 0
        mutual = float((p[nz] * np.log(p[nz] / np.outer(p_label, p_cluster)[nz])).sum())
        homogeneity = mutual / h_label if h_label > 0 else 1.0
        completeness = mutual / h_cluster if h_cluster > 0 else 1.0
        total = homogeneity + completeness
        return 2 * homogeneity * completeness / total if total > 0 else 0.0


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def paired_bootstrap(measures: Mapping[str, Measure], rounds: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Each measure's score on the same ``rounds`` resamples of units and seeds. Measures given as the same
    object (a mode that encodes exactly as another) are scored once."""
    first = next(iter(measures.values()))
    rng = np.random.default_rng(seed)
    out: dict[int, list[float]] = {id(m): [] for m in measures.values()}
    unique = {id(m): m for m in measures.values()}
    for _ in range(rounds):
        resample = Resample(rng.integers(0, first.units, first.units), rng.integers(0, first.seeds, first.seeds))
        for key, measure in unique.items():
            out[key].append(measure.score(resample))
    return {mode: np.asarray(out[id(m)]) for mode, m in measures.items()}


def verdict(change: float, noise: float) -> str:
    """``up`` / ``down`` beyond the noise, else ``level``."""
    if change > noise:
        return "up"
    if change < -noise:
        return "down"
    return "level"


# --------------------------------------------------- two rankings of the same queries (rerank, hybrid search)
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


def paired_change(before: np.ndarray, after: np.ndarray, rounds: int) -> dict[str, Any]:
    """Two pipelines' per-query figures on the same queries: both means, the change, its noise (1.96 standard
    deviations of a paired bootstrap over queries, as the panel reads every change) and the verdict."""
    measures = {"before": MeanOfUnits(before), "after": MeanOfUnits(after)}
    draws = paired_bootstrap(measures, rounds)
    change = measures["after"].score() - measures["before"].score()
    noise = Z95 * float(np.std(draws["after"] - draws["before"]))
    return {
        "before": measures["before"].score(),
        "after": measures["after"].score(),
        "change": round(change, 5),
        "noise": round(noise, 5),
        "verdict": verdict(change, noise),
    }
