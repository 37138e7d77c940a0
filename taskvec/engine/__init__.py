"""The embedding engine: torch + transformers + peft. Importable without lancedb or mcp.

``Encoder`` loads one frozen backbone, attaches a LoRA adapter per task by name, and encodes texts of any mix of
tasks. ``TaskRegistry`` says which prompt and adapter each task uses.

Importing this package imports no torch: the names below load their modules on first use (PEP 562), so the
torch-free parts (tasks, profiles, model files, ``TaskSpaces``) serve commands that never load a model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskvec.engine.encoder import Encoder, EncodeResult, EncodeRow
    from taskvec.engine.model_files import ModelFiles, resolve_model_path
    from taskvec.engine.task_spaces import TaskSpaces
    from taskvec.engine.tasks import BUILTIN_TASKS, TASK_KINDS, Task, TaskRegistry

_HOMES = {
    "Encoder": "encoder",
    "EncodeResult": "encoder",
    "EncodeRow": "encoder",
    "ModelFiles": "model_files",
    "resolve_model_path": "model_files",
    "TaskSpaces": "task_spaces",
    "BUILTIN_TASKS": "tasks",
    "TASK_KINDS": "tasks",
    "Task": "tasks",
    "TaskRegistry": "tasks",
}

__all__ = [
    "BUILTIN_TASKS",
    "TASK_KINDS",
    "EncodeResult",
    "EncodeRow",
    "Encoder",
    "ModelFiles",
    "Task",
    "TaskRegistry",
    "TaskSpaces",
    "resolve_model_path",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:  # submodules (``from taskvec.engine import forward``) are found by the import system
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
