"""Per-call options and limits, as plain data: how much one call may bring, and how its documents are cut.

Their defaults live here, once: the settings (``taskvec.config``), the service, the tools and the CLI read them.
No lancedb, no torch, so settings can be read without importing either.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskvec.errors import InvalidInputError

MiB = 1 << 20


@dataclass(frozen=True)
class DocumentLimits:
    """How much one call may bring: every write is checked against these before anything is encoded or stored.

    The defaults are the server's (``TASKVEC_MAX_DOCUMENTS`` ... in ``taskvec.config`` read their defaults from here).
    ``max_call_bytes`` bounds a call's memory on every transport; None lifts it (the CLI reading local files).
    """

    max_documents: int = 2048
    max_text_bytes: int = 4 * MiB
    max_call_bytes: int | None = 32 * MiB


DEFAULT_LIMITS = DocumentLimits()


@dataclass(frozen=True)
class ChunkingOptions:
    enabled: bool = True
    max_tokens: int | None = None  # None: as many as the model takes after its prompt
    overlap: int = 32  # tokens shared by consecutive chunks, so a sentence cut at a border is whole in one

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 16:
            raise InvalidInputError(
                "chunking.max_tokens must be at least 16.",
                field="chunking.max_tokens",
                fix="Use a larger chunk size, or leave it unset for the model's limit.",
            )
        if self.overlap < 0 or (self.max_tokens and self.overlap >= self.max_tokens // 2):
            raise InvalidInputError(
                "chunking.overlap must be >= 0 and under half of max_tokens.",
                field="chunking.overlap",
                fix="Use a smaller overlap, e.g. 32.",
            )


DEFAULT_CHUNKING = ChunkingOptions()

DEFAULT_CANDIDATES = 50  # first-stage hits a reranked search rescores
SEARCH_MODES = ("vector", "hybrid")  # search's first stage: cosine alone, or fused with BM25 by score
# Hybrid search's share of BM25 in the fused score (the vectors get the rest) where a search names none. Chosen on
# validation queries of five training domains, never on the held-out panel: the weight whose smallest gain over
# vector search is largest, the lowest within 0.001 of it (docs/hybrid.md, benchmarks/hybrid_weights.py).
KEYWORD_WEIGHT = 0.3
MAX_CANDIDATES = 200  # a pair costs a document's forward pass: bound what one search may ask for


def keyword_weight_for(mode: str, weight: float | None) -> float | None:
    """The BM25 share a search in ``mode`` fuses with: ``weight``, or ``KEYWORD_WEIGHT`` for a hybrid search that
    names none; None for a vector search, which refuses a weight rather than ignore it."""
    if weight is None:
        return KEYWORD_WEIGHT if mode == "hybrid" else None
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 <= weight <= 1.0:
        raise InvalidInputError(
            f"keyword_weight must be a number from 0 to 1, got {weight!r}.",
            field="keyword_weight",
            fix=f"Pass a share such as {KEYWORD_WEIGHT} (0: the vectors' order, 1: BM25's), or leave it out.",
        )
    if mode != "hybrid":
        raise InvalidInputError(
            f"keyword_weight weighs BM25 in a hybrid search; this search's mode is {mode!r}.",
            field="keyword_weight",
            fix="Pass mode='hybrid' with it, or leave keyword_weight out.",
        )
    return float(weight)
