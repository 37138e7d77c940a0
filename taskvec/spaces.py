"""Embedding spaces: what a vector was made with, so vectors from different spaces are never compared.

A vector's meaning depends on the model weights, the task's prompts, the LoRA adapter (and its weights), the
pooling, normalisation, sequence limit and dimension. Two vectors are comparable only if all of these agree.
For asymmetric tasks (retrieval, code) queries and documents share one space: the space records both prompts.

This module is pure data (no torch, no lancedb) so the store and the engine can both depend on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import Any

# Fields whose disagreement means the vectors are stale (same task, but the weights changed under them).
_STALE_FIELDS = ("model_fingerprint", "adapter_fingerprint")


@dataclass(frozen=True)
class EmbeddingSpace:
    model: str
    model_fingerprint: str
    task: str
    query_prompt: str
    document_prompt: str
    adapter: str | None
    adapter_fingerprint: str | None
    pooling: str
    normalize: bool
    max_seq_length: int
    dimension: int
    truncate_dim: int | None = None
    # A blended task's adapter share: each vector is the bare model's and the adapter's side by side
    # (taskvec.engine.blend). None for every other space, and then left out of the id, so that no id changed.
    blend: float | None = None

    @cached_property  # computed once per object: the store checks it several times on every search
    def id(self) -> str:
        """Short stable id: the first 16 hex digits of a SHA-256 over the canonical JSON of every field."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["blend"] is None:
            del data["blend"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddingSpace:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        """One readable line: enough for a person or an agent to tell two spaces apart."""
        adapter = f"adapter {self.adapter}@{(self.adapter_fingerprint or '')[:8]}" if self.adapter else "no adapter"
        if self.blend is not None:
            adapter += f" blended with the bare model (adapter share {self.blend:g})"
        prompts = (
            f"prompt {self.query_prompt!r}"
            if self.query_prompt == self.document_prompt
            else f"query prompt {self.query_prompt!r}, document prompt {self.document_prompt!r}"
        )
        dim = f"dim {self.dimension}" + (" (truncated from the model's)" if self.truncate_dim else "")
        return (
            f"space {self.id}: task {self.task!r}, model {self.model}@{self.model_fingerprint[:8]}, {adapter}, "
            f"{prompts}, {self.pooling} pooling{', normalized' if self.normalize else ''}, {dim}"
        )

    def differences(self, other: EmbeddingSpace) -> list[str]:
        """The fields in which ``other`` differs from this space, as readable phrases."""
        out = []
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if mine != theirs:
                out.append(f"{f.name}: {theirs!r} -> {mine!r}" + _precision_note(f.name, theirs, mine))
        return out

    def is_stale_version_of(self, other: EmbeddingSpace) -> bool:
        """True when ``other`` is this same task/model/adapter setup, but made with different weights."""
        diff = {f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)}
        return bool(diff) and diff <= set(_STALE_FIELDS)


def _precision_note(name: str, theirs: Any, mine: Any) -> str:
    """Why two fingerprints of one model differ when only the precision suffix does (``+int8``, the engine's)."""
    if name != "model_fingerprint" or not isinstance(theirs, str) or not isinstance(mine, str):
        return ""
    if theirs.split("+", 1)[0] != mine.split("+", 1)[0]:
        return ""
    return (
        " (the same model weights at another precision: int8-quantized vectors form a space of their own, while "
        "fp32, bf16 and fp16 share one; serve the dtype the vectors were made with, or index them again)"
    )
