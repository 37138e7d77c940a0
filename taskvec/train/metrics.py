"""Validation metrics in plain numpy, so training runs where only torch, transformers, peft and numpy exist.

They mirror the figures the adapters are judged by (nDCG@10, Spearman, few-shot accuracy, V-measure) closely enough
to pick a checkpoint and hyperparameters; the final figures come from the evaluation harness on the test splits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def ndcg_at_k(
    query_vecs: np.ndarray,
    doc_vecs: np.ndarray,
    relevant: Sequence[set[int]],
    k: int = 10,
    exclude: Sequence[set[int]] | None = None,
) -> float:
    """Mean nDCG@k of exact cosine search (vectors normalised), binary relevance."""
    scores = query_vecs @ doc_vecs.T
    if exclude:
        for i, ex in enumerate(exclude):
            scores[i, list(ex)] = -np.inf
    k = min(k, doc_vecs.shape[0])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    total = 0.0
    for i, rel in enumerate(relevant):
        dcg = sum(1.0 / math.log2(r + 2) for r, d in enumerate(top[i]) if int(d) in rel)
        ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(rel), k)))
        total += dcg / ideal if ideal else 0.0
    return total / max(len(relevant), 1)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as scipy's rankdata does."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    rx, ry = _ranks(np.asarray(x, dtype=np.float64)), _ranks(np.asarray(y, dtype=np.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float((rx**2).sum() * (ry**2).sum()))
    return float((rx * ry).sum() / denom) if denom else 0.0


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


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def v_measure(labels: Sequence[str], clusters: Sequence[int]) -> float:
    """V-measure (beta 1): harmonic mean of homogeneity and completeness, as scikit-learn computes it."""
    _, y = np.unique(np.asarray(labels), return_inverse=True)
    _, c = np.unique(np.asarray(clusters), return_inverse=True)
    table = np.zeros((y.max() + 1, c.max() + 1))
    np.add.at(table, (y, c), 1)
    h_y, h_c = _entropy(table.sum(1)), _entropy(table.sum(0))
    n = table.sum()
    nz = table > 0
    joint = table[nz] / n
    outer = (table.sum(1)[:, None] * table.sum(0)[None, :])[nz] / n**2
    mi = float((joint * (np.log(joint) - np.log(outer))).sum())
    hom = 1.0 if h_y == 0 else mi / h_y
    com = 1.0 if h_c == 0 else mi / h_c
    return 0.0 if hom + com == 0 else 2 * hom * com / (hom + com)


def clustering_v_measure(vecs: np.ndarray, labels: Sequence[str], *, seed: int = 0, rounds: int = 3) -> float:
    """Mean V-measure of k-means (k = number of labels) over a few seeds."""
    k = len(set(labels))
    return float(np.mean([v_measure(labels, kmeans(vecs, k, seed=seed + r)) for r in range(rounds)]))
