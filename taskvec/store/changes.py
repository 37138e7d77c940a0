"""Telling cheaply whether a local LanceDB table may have changed, so the store re-reads its state only then.

Local tables keep one manifest per version in ``<name>.lance/_versions``; adding one changes the folder's
timestamp. A timestamp younger than its granularity could hide a second write in the same tick, so a recent one is
not trusted (None: ask LanceDB) until it has aged. A dropped and re-created table gets a new folder (a new
timestamp; its inode may be the freed one again, so the store tells tables apart by the id each is created with).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

TRUSTED_MTIME_AGE_NS = 1_000_000_000  # a folder timestamp younger than this may hide a second write in its tick


def versions_folder(root: str, name: str) -> Path:
    return Path(root) / f"{name}.lance" / "_versions"


def folder_id(root: str, name: str) -> int | None:
    """The inode of the table's versions folder: what tells apart tables created before table ids, as far as it can
    (a re-created table's folder can get the freed inode back)."""
    try:
        return os.stat(versions_folder(root, name)).st_ino
    except OSError:
        return None


def change_token(root: str, name: str, generation: int) -> tuple[int, ...] | None:
    """A token that changes whenever the table may have changed; None when only LanceDB can tell.

    ``generation`` counts the writes made through this process's store, so its own writes always change it.
    """
    try:
        st = os.stat(versions_folder(root, name))
    except OSError:
        return None
    if time.time_ns() - st.st_mtime_ns < TRUSTED_MTIME_AGE_NS:
        return None
    return (generation, st.st_mtime_ns, st.st_ino)
