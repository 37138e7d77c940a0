"""What each training step sees: one epoch's batches per source (pairs, scored pairs, label-balanced texts),
mixed across sources by size**temperature; and the anchor's texts sampled from other sources."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskvec.train.config import TrainConfig
from taskvec.train.data import Dataset, LabelledSet, PairSet, ScoredSet, read_source

if TYPE_CHECKING:  # rerank imports this module
    from taskvec.train.rerank import RerankConfig


@dataclass
class Batch:
    source: int
    items: list[Any]


def _pair_batches(data: PairSet, batch_size: int, rng: random.Random) -> list[list[tuple[str, str]]]:
    pairs = [(q, d) for q, docs in data.relevant.items() for d in docs]
    rng.shuffle(pairs)
    return [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]


def _scored_batches(data: ScoredSet, batch_size: int, rng: random.Random) -> list[list[int]]:
    idx = list(range(len(data)))
    rng.shuffle(idx)
    return [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]


def _label_batches(data: LabelledSet, batch_size: int, rng: random.Random) -> list[list[int]]:
    """Label-balanced batches: labels take turns, so rare labels still get partners for the contrastive loss."""
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(i)
    queues = {lab: [] for lab in by_label}

    def draw(label: str) -> int:
        if not queues[label]:
            queues[label] = by_label[label][:]
            rng.shuffle(queues[label])
        return queues[label].pop()

    labels = sorted(by_label)
    per_batch = max(2, min(len(labels), batch_size // 2))  # at least two texts per label in a batch
    batches = []
    for _ in range(math.ceil(len(data) / batch_size)):
        chosen = rng.sample(labels, per_batch) if per_batch < len(labels) else labels
        batches.append([draw(chosen[j % len(chosen)]) for j in range(batch_size)])
    return batches


def plan_epoch(sources: Sequence[Dataset], cfg: TrainConfig | RerankConfig, rng: random.Random) -> list[Batch]:
    """One epoch's batches: each source batched on its own, then interleaved at random.

    With ``mix_temperature`` t < 1 a small source gets more batches than its share (sizes weighted by size**t), so
    one large set does not drown the others; the epoch keeps its total number of batches.
    """
    per_source = []
    for s in sources:
        if isinstance(s, PairSet):
            per_source.append(_pair_batches(s, cfg.batch_size, rng))
        elif isinstance(s, ScoredSet):
            per_source.append(_scored_batches(s, cfg.batch_size, rng))
        else:
            per_source.append(_label_batches(s, cfg.batch_size, rng))
    total = sum(len(b) for b in per_source)
    weights = [len(s) ** cfg.mix_temperature for s in sources]
    plan: list[Batch] = []
    for i, batches in enumerate(per_source):
        want = max(1, round(total * weights[i] / sum(weights)))
        if not batches:
            continue
        while len(batches) < want:  # cycle a small source
            batches = batches + batches[: want - len(batches)]
        plan.extend(Batch(i, b) for b in batches[:want])
    rng.shuffle(plan)
    return plan


def sample_anchor_texts(specs: Sequence[str], seed: int, per_source: int = 4000, max_chars: int = 120) -> list[str]:
    """Plain texts from each anchor source (any format), a seeded sample of at most ``per_source`` each, cut to
    ``max_chars``: the anchor is about the shape of the space, and long documents would only cost time."""
    rng = random.Random(seed)
    texts: list[str] = []
    for spec in specs:
        data = read_source(spec)
        if isinstance(data, PairSet):
            pool_ = list(data.queries.values()) + list(data.corpus.values())
        elif isinstance(data, ScoredSet):
            pool_ = [t for a, b, _ in data.pairs for t in (a, b)]
        else:
            pool_ = list(data.texts)
        pool_ = sorted(set(pool_))
        texts += [t[:max_chars] for t in rng.sample(pool_, min(per_source, len(pool_)))]
    return texts
