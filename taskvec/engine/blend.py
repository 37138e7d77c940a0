"""Blended spaces: the bare model's vector and the adapter's, side by side.

A task adapter trained on one label scheme moves the whole space towards it, and loses some of the structure the
bare model had (news topics, intents: docs/training-data.md). A blended task keeps both: its vector of a text is

    [ sqrt(1 - s) * bare(text) ; sqrt(s) * adapter(prompt + text) ]

for the adapter share ``s`` (0 < s < 1), each half unit-length, so the whole is unit-length and the cosine of two
vectors is ``(1 - s) * cosine_bare + s * cosine_adapter``: a weighted average of the two similarities, and a
classifier on the vectors sees both feature sets. The bare half takes no prompt (it is the bare model exactly).

The caveats, as PEFT puts them next to the feature:

* Twice the forward passes: each text runs once through the bare model and once with the adapter (0.52x the
  adapter alone's documents per second on a 2-core CPU: benchmarks/blend_cost.py).
* Twice the width: a blended space has 2 x the model's dimension (768 for all-MiniLM-L6-v2), in memory and on disk.
* One width per call: ``Encoder.encode_rows`` refuses rows of blended and plain tasks together (their vectors
  cannot share one array); encode them in separate calls. Blended rows of different shares may mix.
* The share is part of the embedding space: vectors made at another share are not comparable.
* An adapter trained alone keeps part of its gain in a blend; ``taskvec train --blend-share S`` trains it for the
  blend instead (the loss sees these vectors, the bare half fixed). Measured on the clustering recipe: no better
  than the shipped adapter blended (docs/training-data.md).
* One width per collection: a collection's vectors have one width, so a blended task's rows cannot join a collection
  of unblended tasks' rows (the store refuses them and writes nothing); give the blended task a collection of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def blended(bare: np.ndarray, adapted: np.ndarray, shares: Sequence[float]) -> np.ndarray:
    """Rows of ``[sqrt(1 - s) * bare ; sqrt(s) * adapted]``, one share ``s`` per row, as float32."""
    s = np.asarray(shares, dtype=np.float32)[:, None]
    return np.hstack([np.sqrt(1 - s) * bare, np.sqrt(s) * adapted]).astype(np.float32, copy=False)
