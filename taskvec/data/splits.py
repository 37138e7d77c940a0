"""Seeded splits by group: folds and validation carve-outs that keep each group (a query, a pair, a text, a
discussion thread) whole, so near-duplicates never straddle a split.

A group's side is decided by a hash of its key, so a split is the same on every machine and Python version and
does not depend on the order a file lists things in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from taskvec.errors import DataError


def bucket(key: str, seed: int, buckets: int = 1_000_000) -> int:
    """A stable pseudo-random bucket for a group key."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def in_fold(keys: Sequence[str], fold: int, folds: int, *, seed: int = 0) -> list[bool]:
    """For each key, whether its group falls in fold ``fold`` of ``folds`` (0-based)."""
    if not 0 <= fold < folds:
        raise DataError(
            f"fold {fold} is outside 0..{folds - 1}.",
            field="data",
            fix=f"End the path in '#K/{folds}' with K < {folds}.",
        )
    return [bucket(k, seed) % folds == fold for k in keys]


def validation_groups(
    keys: Sequence[str], fraction: float, max_size: int, *, seed: int, keep_one: bool = False
) -> set[str]:
    """The groups to hold out: ``fraction`` of them, at most ``max_size``; ``keep_one`` leaves one for training.

    Groups are ranked by their hash and the lowest are held out, so a smaller ``max_size`` holds out a subset of
    what a larger one would.
    """
    unique = sorted(set(keys), key=lambda k: (bucket(k, seed), k))
    size = min(max_size, round(len(unique) * fraction)) if fraction > 0 else 0
    if keep_one:
        size = min(size, max(len(unique) - 1, 0))
    return set(unique[:size])
