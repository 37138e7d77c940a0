"""benchmarks/centering.py: the fixed centering of a task's space, and its rule, on the committed record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from helpers import load_benchmark

REPO = Path(__file__).resolve().parents[1]


def test_centred_vectors_are_unit_length_and_lose_the_reference_directions() -> None:
    centering = load_benchmark("centering")
    rng = np.random.default_rng(0)
    shared = rng.normal(size=16)  # a direction every vector shares, as a sentence encoder's do
    reference = rng.normal(size=(200, 16)) + 3 * shared
    mean, top = centering.centering(reference, 2)
    assert np.allclose(mean, reference.mean(axis=0))
    assert np.allclose(top @ top.T, np.eye(2), atol=1e-6)  # orthonormal directions
    vectors = rng.normal(size=(5, 16)) + 3 * shared
    out = centering.centred(vectors, mean, top)
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-6)
    assert np.abs(out @ top.T).max() < 1e-5  # nothing left along the removed directions
    # D = 0 only subtracts the mean: the vector keeps its direction from the reference mean
    only_mean = centering.centred(vectors, *centering.centering(reference, 0))
    expected = vectors - mean
    assert np.allclose(only_mean, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)


def test_the_committed_record_follows_its_rule() -> None:
    """The chosen D is the rule's on the record's own rows: recomputed, not copied."""
    blend_share = load_benchmark("blend_share")
    record = json.loads((REPO / "docs/results/centering_clustering.json").read_text())
    best = blend_share.choose(record["sets"], [f"D{d}" for d in record["directions"]])
    assert best == f"D{record['chosen']}"
    assert blend_share.home_change(record["sets"], best) > blend_share.home_change(record["sets"], "shipped")
    assert record["sets"]["unseen"]["trec-clustering"]["D1_vs_base"]["verdict"] == "down"  # why D = 1 was out
