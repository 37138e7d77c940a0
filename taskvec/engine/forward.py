"""The forward pass: token ids grouped into batches, padded, run through the model, pooled, truncated
(Matryoshka) and normalised into one float32 vector per text.

``embed`` is the one path from padded ids to vectors. The encoder runs it under ``torch.inference_mode`` for
serving; the trainer runs the same function with gradients flowing into its LoRA weights. Everything around it
(which adapter each row uses, who may run at once) belongs to the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from taskvec.engine.pooling import pool

# CPU: forward passes of at most this many padded tokens (queries, a few short texts) run on one thread. Splitting
# a pass that small over cores costs more in synchronisation than it saves, and on a busy machine every OpenMP
# barrier waits for a descheduled thread: measured here at load ~6.6 on 2 cores, one query took a median 34-41 ms
# on one thread against 167-808 ms on two. Larger passes keep every core.
_SMALL_PASS_TOKENS = 1024


@dataclass(frozen=True)
class VectorSpec:
    """How token states become one vector: pooling, then Matryoshka truncation, then L2 normalisation.

    A truncated vector is always normalised again, so cosine similarity stays a dot product; that is
    sentence-transformers' ``encode(..., truncate_dim=d, normalize_embeddings=True)``.
    """

    pooling: str  # mean | cls | lasttoken
    normalize: bool
    truncate_dim: int | None = None

    def vectors(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        vectors = pool(hidden, mask, self.pooling)
        if self.truncate_dim:
            vectors = vectors[:, : self.truncate_dim]
        if self.normalize or self.truncate_dim:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        return vectors


def embed(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    spec: VectorSpec,
    *,
    threads: int | None = None,
) -> torch.Tensor:
    """Vectors (float32, on the model's device) of one padded batch. Only ids and mask reach the model, so token
    type ids and positions take the model's defaults, as in sentence-transformers.

    ``threads``: run the model call on that many torch threads (``pass_threads`` decides), then give the old
    count back. The setting is process-wide; it costs well under a microsecond.
    """
    saved = torch.get_num_threads()
    if threads is not None and threads != saved:
        torch.set_num_threads(threads)
    try:
        hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    finally:
        if threads is not None and threads != saved:
            torch.set_num_threads(saved)
    return spec.vectors(hidden, mask)


def pass_threads(input_ids: torch.Tensor) -> int | None:
    """One thread for a small pass on the CPU (see ``_SMALL_PASS_TOKENS``); None keeps the current count."""
    if input_ids.device.type == "cpu" and input_ids.numel() <= _SMALL_PASS_TOKENS and torch.get_num_threads() > 1:
        return 1
    return None


@dataclass(frozen=True)
class Padding:
    """Pads rows of token ids into one batch with its attention mask, on ``device``.

    ``multiple``: round widths up to a multiple of it, at most to ``max_length`` (8 for CUDA tensor cores). Right
    padding only: left padding would shift the positions of a causal model's tokens.
    """

    pad_id: int
    left: bool
    device: torch.device
    max_length: int
    multiple: int = 1

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, device: torch.device, max_length: int, multiple: int = 1) -> Padding:
        """Padding with the tokenizer's pad token, on the tokenizer's side (left for Qwen3-Embedding and other
        last-token models), as sentence-transformers pads."""
        return cls(int(tokenizer.pad_token_id or 0), tokenizer.padding_side == "left", device, max_length, multiple)

    def __call__(self, ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        width = int(lengths.max())
        if self.multiple > 1 and not self.left:
            width = min(-(-width // self.multiple) * self.multiple, max(width, self.max_length))
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        for i, row in enumerate(ids):
            if self.left:
                input_ids[i, width - len(row) :] = row
            else:
                input_ids[i, : len(row)] = row
        positions = np.arange(width)
        mask = (positions >= width - lengths[:, None]) if self.left else (positions < lengths[:, None])
        ids_t, mask_t = torch.from_numpy(input_ids), torch.from_numpy(mask.astype(np.int64))
        if self.device.type == "cuda":  # pinned host memory: the copy runs asynchronously
            return (
                ids_t.pin_memory().to(self.device, non_blocking=True),
                mask_t.pin_memory().to(self.device, non_blocking=True),
            )
        return ids_t.to(self.device), mask_t.to(self.device)


def fits(rows: int, longest: int, batch_size: int, max_batch_tokens: int | None) -> bool:
    """Whether ``rows`` rows padded to ``longest`` tokens fit one forward pass (rows and token budget)."""
    return rows <= batch_size and not (max_batch_tokens and rows > 1 and rows * longest > max_batch_tokens)


def batches(lengths: Sequence[int], batch_size: int, max_batch_tokens: int | None) -> Iterator[list[int]]:
    """Indices grouped longest first, bounded by rows and by padded tokens (rows x longest row): similar lengths
    share a batch, so little is padded."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batch: list[int] = []
    for i in order.tolist():
        if batch and not fits(len(batch) + 1, lengths[batch[0]], batch_size, max_batch_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def run_parallel(run: Callable[[list[int]], torch.Tensor], groups: list[list[int]], workers: int) -> list[torch.Tensor]:
    """CPU: ``workers`` batches at once, each on one torch thread, instead of one batch on all threads.

    Every operator of a forward pass ends in a barrier where all its threads wait for the slowest; passes on
    one thread each have none, and keep every core busy just the same. On a machine that other jobs share,
    where a waiting thread is often descheduled, this is the difference between using the cores and waiting
    for them (docs/results/performance.md has the figures).
    """
    threads = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as executor:
            return list(executor.map(run, groups))
    finally:
        torch.set_num_threads(threads)  # the pool set MKL's process-wide count to 1: give it back
