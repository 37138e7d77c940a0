"""Where a training or interpolation run writes: a new or empty folder, or an adapter folder it may replace.

Checked before any work, so a run never ends in a crash over its output, and never writes over files it did not
make: a folder of other files is refused outright, and an adapter folder (a shipped one included) is replaced only
with ``--overwrite``, whole (``taskvec interpolate`` swaps the new folder in; ``taskvec train`` writes its files over
the old ones).
"""

from __future__ import annotations

from pathlib import Path

from taskvec.errors import InvalidInputError

ADAPTER_CONFIG = "adapter_config.json"  # PEFT's: the mark of an adapter folder


def check_out_folder(out: Path, *, overwrite: bool) -> None:
    """Refuse ``out`` unless it is new, an empty folder, or (with ``overwrite``) an adapter folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(
            f"--out {str(out)!r} is a file; a run writes a folder (the adapter and its model card).",
            field="out",
            fix="Name a new folder.",
        )
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / ADAPTER_CONFIG).is_file():
        others = sorted(p.name for p in out.iterdir())
        raise InvalidInputError(
            f"--out {str(out)!r} holds files that are not an adapter ({', '.join(others[:5])}"
            f"{', ...' if len(others) > 5 else ''}); a run writes only into a new or empty folder, or over an adapter.",
            field="out",
            fix="Name a new folder.",
        )
    if not overwrite:
        from taskvec.engine.profiles import _shipped_adapters_root

        shipped = _shipped_adapters_root().resolve() in out.resolve().parents
        raise InvalidInputError(
            f"--out {str(out)!r} already holds an adapter{' shipped with taskvec (a task default)' if shipped else ''}; "
            "this run would replace it.",
            field="out",
            fix="Name a new folder (a tasks file can point a task at it), or pass --overwrite to replace that adapter.",
        )
