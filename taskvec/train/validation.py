"""Validation figures during training: what picks the checkpoint and stops training early.

nDCG@10 (:func:`taskvec.metrics.search_ndcg`), Spearman and V-measure are the harness's own (:mod:`taskvec.metrics`);
the few-shot classifier and k-means here are cheap stand-ins for MTEB's protocols (logistic regression, mini-batch
k-means over many seeds), close enough to compare checkpoints. The final figures come from ``taskvec eval``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from taskvec import metrics


def spearman(gold: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray) -> float:
    """The harness's Spearman, but 0 where it is undefined (constant predictions): a figure to compare checkpoints
    by, never NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about constant input, then returns NaN
        value = metrics.spearman(gold, predicted)
    return 0.0 if math.isnan(value) else value


def few_shot_accuracy(
    vecs: np.ndarray, labels: Sequence[str], *, shots: int = 16, rounds: int = 10, seed: int = 0
) -> float:
    """Mean accuracy of nearest-centroid classifiers fitted on ``shots`` texts per label, scored on the rest.

    The stand-in for MTEB's few-shot logistic regression: same data regime, no scikit-learn needed.
    """
    y = np.asarray(labels)
    classes = sorted(set(labels))
    rng = np.random.default_rng(seed)
    accs = []
    for _ in range(rounds):
        support = np.zeros(len(y), dtype=bool)
        for c in classes:
            idx = np.flatnonzero(y == c)
            support[rng.choice(idx, size=min(shots, max(len(idx) - 1, 1)), replace=False)] = True
        centroids = np.stack([vecs[support & (y == c)].mean(axis=0) for c in classes])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True).clip(1e-12)
        pred = np.asarray(classes)[np.argmax(vecs[~support] @ centroids.T, axis=1)]
        accs.append(float((pred == y[~support]).mean()))
    return float(np.mean(accs))


def kmeans(vecs: np.ndarray, k: int, *, seed: int = 0, n_init: int = 3, iters: int = 50) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; the best of ``n_init`` runs by inertia."""
    rng = np.random.default_rng(seed)
    x = vecs.astype(np.float64)
    best, best_inertia = np.zeros(len(x), dtype=np.int64), np.inf
    for _ in range(n_init):
        centres = [x[rng.integers(len(x))]]
        d2 = ((x - centres[0]) ** 2).sum(1)
        for _ in range(1, k):
            p = d2 / d2.sum() if d2.sum() > 0 else None
            centres.append(x[rng.choice(len(x), p=p)])
            d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
        c = np.stack(centres)
        assign = np.zeros(len(x), dtype=np.int64)
        for _ in range(iters):
            dist = (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None, :]
            new = dist.argmin(1)
            if (new == assign).all() and _ > 0:
                break
            assign = new
            for j in range(k):
                members = x[assign == j]
                c[j] = members.mean(0) if len(members) else x[rng.integers(len(x))]
        inertia = float(((x - c[assign]) ** 2).sum())
        if inertia < best_inertia:
            best, best_inertia = assign.copy(), inertia
    return best


def clustering_v_measure(vecs: np.ndarray, labels: Sequence[str], *, seed: int = 0, rounds: int = 3) -> float:
    """Mean V-measure of k-means (k = number of labels) over a few seeds."""
    k = len(set(labels))
    return float(np.mean([metrics.v_measure(labels, kmeans(vecs, k, seed=seed + r)) for r in range(rounds)]))
