"""The embedding engine: torch + transformers + peft. Importable without lancedb or mcp.

``Encoder`` loads one frozen backbone, attaches a LoRA adapter per task by name, and encodes texts of any mix of
tasks. ``TaskRegistry`` says which prompt and adapter each task uses.
"""

from taskvec.engine.encoder import Encoder, EncodeResult, EncodeRow
from taskvec.engine.model_files import ModelFiles, resolve_model_path
from taskvec.engine.tasks import TASK_KINDS, Task, TaskRegistry

__all__ = [
    "TASK_KINDS",
    "EncodeResult",
    "EncodeRow",
    "Encoder",
    "ModelFiles",
    "Task",
    "TaskRegistry",
    "resolve_model_path",
]
