"""Errors are part of the interface: each says what went wrong, which input caused it and what to do next.

An agent reads these texts (MCP tool errors carry ``str(error)``), so every message names the field and the fix.
The tree (``exit_code`` is what the CLI exits with; ``taskvec.cli`` maps errors in one place)::

    TaskvecError                 2   anything taskvec refuses or cannot do
    ├── InvalidInputError        2   the request itself is wrong (also a ValueError)
    │   ├── DataError            2   a data file cannot be read as the layout it claims
    │   └── UnknownTaskError     2   a task name the registry does not hold
    ├── UnknownCollectionError   2   (also a LookupError)
    ├── SpaceMismatchError       2   the guard refused to compare embedding spaces
    ├── ModelLoadError           2   a model or adapter folder that cannot be loaded
    ├── WorkerError              2   a distributed (Ray) worker failed past its retries: nothing was written
    ├── StoreBusyError          75   another writer kept the collection: retry later (EX_TEMPFAIL)
    ├── StoreUnavailableError   69   the store cannot be reached or opened (EX_UNAVAILABLE)
    └── Interrupted            130   cancelled before anything was written (as after SIGINT)
"""

from __future__ import annotations


class TaskvecError(Exception):
    """Base class. ``field`` names the offending input; ``fix`` says what to do instead."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.fix = fix

    def __str__(self) -> str:
        parts = [self.message]
        if self.field:
            parts.append(f"(field: {self.field})")
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return " ".join(parts)


class InvalidInputError(TaskvecError, ValueError):
    """The request itself is malformed: empty text, wrong type, too large a batch, a filter that does not parse."""


class DataError(InvalidInputError):
    """A data file or folder that cannot be read: a missing file, an unknown layout, a bad record. The message
    names the file (and line or field); ``fix`` says how to write it or which layout to use instead."""


class UnknownTaskError(InvalidInputError):
    """A task name that the registry does not hold."""


class UnknownCollectionError(TaskvecError, LookupError):
    """A collection that does not exist in the store."""


class ModelLoadError(TaskvecError):
    """A model or adapter folder that cannot be loaded."""


class WorkerError(TaskvecError):
    """A worker of a distributed run (``taskvec index --ray``) failed past its retries; the run wrote nothing."""


class SpaceMismatchError(TaskvecError):
    """The guard refused to compare vectors made in different embedding spaces."""


class StoreBusyError(TaskvecError):
    """A write could not get its turn: another writer held the collection too long, or commits kept conflicting.

    Nothing of the refused call was written; retrying later is safe.
    """

    exit_code = 75


class StoreUnavailableError(TaskvecError):
    """The store cannot be reached or opened (an object-storage endpoint down, credentials refused, a path that
    cannot be created). Nothing was written."""

    exit_code = 69


class Interrupted(TaskvecError):
    """The caller cancelled the call (Ctrl-C, an MCP cancellation) before it committed: nothing was written."""

    exit_code = 130
