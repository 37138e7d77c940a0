"""The licence of a data set, as its own files state it, to quote in a model card."""

from __future__ import annotations

from pathlib import Path

NOTE_FILES = ("SOURCE.md", "LICENSE", "LICENSE.txt", "README.md")
UNKNOWN = "see the data set's own licence"


def licence_near(path: Path) -> str:
    """The licence line of the first licence or source note beside the data (a folder, or a file's folder).

    A line starting "Licence:" or "License:" gives the rest of the line; a heading of that name gives the next
    non-empty line.
    """
    folder = path if path.is_dir() else path.parent
    for name in NOTE_FILES:
        note = folder / name
        if not note.is_file():
            continue
        lines = [line.strip() for line in note.read_text(errors="replace").splitlines()]
        for i, line in enumerate(lines):
            if line.lower().lstrip("#").strip().startswith(("license", "licence")):
                rest = line.split(":", 1)[1].strip() if ":" in line else ""
                if not rest:
                    rest = next((later for later in lines[i + 1 :] if later), "")
                return rest[:300]
    return UNKNOWN
