"""Label scoring from embeddings: zero-shot against label texts, few-shot from labelled examples.

All vectors are assumed L2-normalised (the engine normalises), so dot products are cosines.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from taskvec.errors import InvalidInputError

FEW_SHOT_METHODS = ("centroid", "knn")


def zero_shot_scores(texts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n_texts, n_labels) cosine of each text to each label's embedding."""
    return texts @ labels.T


def centroid_scores(
    texts: np.ndarray, examples: np.ndarray, example_labels: Sequence[str], labels: list[str]
) -> np.ndarray:
    """Cosine of each text to the normalised mean of each label's examples."""
    index = {label: i for i, label in enumerate(labels)}
    centroids = np.zeros((len(labels), examples.shape[1]), dtype=np.float32)
    for vector, label in zip(examples, example_labels, strict=True):
        centroids[index[label]] += vector
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True).clip(min=1e-12)
    return texts @ centroids.T


def knn_scores(
    texts: np.ndarray, examples: np.ndarray, example_labels: Sequence[str], labels: list[str], k: int = 10
) -> np.ndarray:
    """Similarity-weighted vote of the k nearest examples, normalised to sum to 1 per text."""
    k = min(k, len(examples))
    sims = texts @ examples.T
    nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    index = {label: i for i, label in enumerate(labels)}
    scores = np.zeros((len(texts), len(labels)), dtype=np.float32)
    for row, neighbours in enumerate(nearest):
        for j in neighbours:
            scores[row, index[example_labels[j]]] += max(float(sims[row, j]), 0.0)
    return scores / scores.sum(axis=1, keepdims=True).clip(min=1e-12)


def check_labels(labels: object) -> tuple[list[str], list[str]]:
    """Accept a list of label names or {name: description}; return (names, texts to embed)."""
    if isinstance(labels, dict):
        names = [str(k) for k in labels]
        texts = [f"{k}: {v}" if v else str(k) for k, v in labels.items()]
    elif isinstance(labels, list | tuple):
        names = texts = [str(x) for x in labels]
    else:
        raise InvalidInputError(
            "labels must be a list of names or an object {name: description}.",
            field="labels",
            fix='Send ["sports", "politics"] or {"sports": "games and athletes", ...}.',
        )
    if len(names) < 2:
        raise InvalidInputError(
            "Give at least two labels to choose between.", field="labels", fix="Add the other labels a text could have."
        )
    if len(set(names)) != len(names) or any(not n.strip() for n in names):
        raise InvalidInputError(
            "Labels must be unique, non-empty strings.", field="labels", fix="Remove the duplicate or empty labels."
        )
    return names, texts
