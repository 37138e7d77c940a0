"""How much one call may bring, in one place: the store, the service and the settings read these defaults.

Pure data (no lancedb, no torch), so settings can be read without importing either.
"""

from __future__ import annotations

from dataclasses import dataclass

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
