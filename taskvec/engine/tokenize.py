"""Texts to token ids: checking what may be embedded, putting the task's prompt in front, tokenizing with
truncation to the model's limit, and counting the texts that were cut.

The hot path calls a private copy of the fast tokenizer's Rust core rather than the transformers wrapper: the same
ids without the wrapper's per-row Python bookkeeping, and safe to call from several threads at once (the wrapper
re-configures its own core on every call). Slow (pure Python) tokenizers keep the wrapper path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from taskvec.errors import InvalidInputError

_TOKENIZE_CHUNK = 4096  # texts per call of the wrapper path, to bound memory on huge inputs
_TOKENIZE_SLICE = 64  # accelerators: texts per tokenizing task, so a step's tokens are ready in a few ms


def check_text(text: object, index: int) -> None:
    """Refuse what has no meaning to embed, naming the offending text by its position."""
    if not isinstance(text, str):
        raise InvalidInputError(
            f"Text #{index} is a {type(text).__name__}, not a string.",
            field=f"texts[{index}]",
            fix="Pass every text as a string.",
        )
    if not text.strip():
        raise InvalidInputError(
            f"Text #{index} is empty or only whitespace.",
            field=f"texts[{index}]",
            fix="Remove empty texts before sending them; they have no meaning to embed.",
        )


def with_prompts(texts: Sequence[str], prompts: Sequence[str]) -> list[str]:
    """Each text with its prompt in front, as sentence-transformers' ``encode(prompt=...)`` does: a plain
    concatenation, tokenized together, so the prompt counts towards the length limit."""
    return [prompt + text for prompt, text in zip(prompts, texts, strict=True)]


class TextTokenizer:
    """Token ids per text, truncated to ``max_length``, and how many texts were cut.

    ``pool`` (accelerators only, see ``tokenize_pool``) tokenizes slices of a large input on worker threads.
    """

    def __init__(self, tokenizer: Any, max_length: int, pool: ThreadPoolExecutor | None = None) -> None:
        self.tokenizer = tokenizer  # the transformers wrapper: the fallback path and token counts
        self.max_length = max_length
        self.backend = _truncating_backend(tokenizer, max_length)
        self.pool = pool

    def __call__(self, texts: list[str]) -> tuple[list[list[int]], int]:
        if self.backend is not None:
            if self.pool is not None and len(texts) > _TOKENIZE_SLICE:
                slices = [texts[a : a + _TOKENIZE_SLICE] for a in range(0, len(texts), _TOKENIZE_SLICE)]
                encodings = [e for part in self.pool.map(self.backend.encode_batch, slices) for e in part]
            else:
                encodings = self.backend.encode_batch(texts)
            return [e.ids for e in encodings], sum(1 for e in encodings if e.overflowing)
        return self._with_wrapper(texts)

    def _with_wrapper(self, texts: list[str]) -> tuple[list[list[int]], int]:
        ids: list[list[int]] = []
        truncated = 0
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            enc = self.tokenizer(
                texts[start : start + _TOKENIZE_CHUNK],
                truncation=True,
                max_length=self.max_length,
                return_overflowing_tokens=True,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            mapping = enc.get("overflow_to_sample_mapping")
            if mapping is None:  # tokenizers without overflow support: lengths tell only when cut exactly
                ids.extend(enc["input_ids"])
                continue
            last = -1
            overflowed: set[int] = set()
            for row, sample in enumerate(mapping):
                if sample != last:
                    ids.append(enc["input_ids"][row])  # the first piece is the usual truncated sequence
                    last = sample
                else:
                    overflowed.add(sample)  # a second piece: this text was longer than the limit
            truncated += len(overflowed)
        return ids, truncated

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text with special tokens and without truncation."""
        return [len(x) for x in self.tokenizer(list(texts), add_special_tokens=True)["input_ids"]]


def _truncating_backend(tokenizer: Any, max_length: int) -> Any | None:
    """A private copy of the fast tokenizer's Rust core, set to truncate like ``tokenizer(truncation=True)``.

    A copy, because the transformers wrapper re-configures its own core on every call: sharing it between
    threads would race. ``None`` for slow (pure Python) tokenizers, which keep the wrapper path.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    from tokenizers import Tokenizer

    core = Tokenizer.from_str(backend.to_str())
    core.no_padding()
    core.enable_truncation(max_length, stride=0, strategy="longest_first", direction=tokenizer.truncation_side)
    return core


def tokenize_pool(device: torch.device) -> ThreadPoolExecutor | None:
    """Threads that tokenize slices of a large input in parallel (the Rust tokenizer releases the GIL), for
    accelerators only: there the forward pass is fast enough that one tokenizing thread would leave the device
    idle. On CPU the forward pass costs far more than tokenizing, and the cores are better left to torch."""
    threads = (os.cpu_count() or 1) - 1
    if device.type == "cpu" or threads < 2:
        return None
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="taskvec-tokenize")
