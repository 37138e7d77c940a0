"""Clustering embeddings with k-means; k given, or chosen by the silhouette score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from taskvec.errors import InvalidInputError

MAX_AUTO_K = 20


@dataclass(frozen=True)
class Clustering:
    labels: np.ndarray  # cluster of each row
    representatives: list[int]  # per cluster, the row closest to its centre
    k: int
    chosen_by: str


def cluster_vectors(vectors: np.ndarray, k: int | None = None, *, seed: int = 0) -> Clustering:
    n = len(vectors)
    if n < 2:
        raise InvalidInputError(
            f"Clustering needs at least 2 texts, got {n}.",
            field="texts",
            fix="Send more texts, or index more documents into the collection.",
        )
    # k-means cannot make more clusters than there are distinct points (identical texts share one vector).
    distinct = len(np.unique(np.round(vectors, 6), axis=0))
    if k is not None and not 1 <= k <= distinct:
        raise InvalidInputError(
            f"k={k} must be between 1 and the number of distinct texts ({distinct} of {n}).",
            field="k",
            fix="Lower k, or leave it unset to choose it by silhouette.",
        )
    chosen_by = "given"
    if k is None:
        k, chosen_by = (1, "one distinct text") if distinct == 1 else (_choose_k(vectors, seed, distinct), "silhouette")
    model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(vectors)
    labels = model.labels_
    reps = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        dists = np.linalg.norm(vectors[members] - model.cluster_centers_[c], axis=1)
        reps.append(int(members[np.argmin(dists)]))
    return Clustering(labels=labels, representatives=reps, k=k, chosen_by=chosen_by)


def _choose_k(vectors: np.ndarray, seed: int, distinct: int) -> int:
    n = len(vectors)
    if n < 4 or distinct < 3:
        return min(2, distinct)
    sample = vectors if n <= 2000 else vectors[np.random.default_rng(seed).choice(n, 2000, replace=False)]
    best_k, best = 2, -1.0
    for k in range(2, min(MAX_AUTO_K, len(sample) - 1, distinct) + 1):
        labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(sample)
        if len(set(labels.tolist())) < 2:  # a sample of near-duplicates: no silhouette to compare
            continue
        score = silhouette_score(sample, labels, metric="cosine")
        if score > best:
            best_k, best = k, score
    return best_k
