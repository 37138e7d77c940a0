"""The ablation variants: which prompt and which adapter a task is evaluated with.

Prompt and adapter switch independently, so each row of the ablation isolates one change. A variant is applied
to a :class:`~taskvec.engine.tasks.Task` and yields a new Task; the encoder derives the embedding space id from
that Task, so two variants never share vectors or a space id unless they really encode the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskvec.engine.tasks import GENERIC_PROMPT, Task
from taskvec.errors import InvalidInputError

PROMPT_CHOICES = ("none", "generic", "task")
ADAPTER_CHOICES = ("none", "task")

# The task each kind is evaluated with when --task is not given (pair classification is paraphrase detection).
DEFAULT_TASKS = {
    "retrieval": "retrieval",
    "similarity": "similarity",
    "classification": "classification",
    "clustering": "clustering",
    "pairs": "similarity",
}


@dataclass(frozen=True)
class Variant:
    prompt: str = "task"
    adapter: str = "task"

    def __post_init__(self) -> None:
        if self.prompt not in PROMPT_CHOICES:
            raise InvalidInputError(
                f"Unknown prompt variant {self.prompt!r}.",
                field="prompt",
                fix=f"Use one of {', '.join(PROMPT_CHOICES)}.",
            )
        if self.adapter not in ADAPTER_CHOICES:
            raise InvalidInputError(
                f"Unknown adapter variant {self.adapter!r}.",
                field="adapter",
                fix=f"Use one of {', '.join(ADAPTER_CHOICES)}.",
            )

    @property
    def label(self) -> str:
        return f"prompt={self.prompt},adapter={self.adapter}"

    def apply(self, task: Task) -> Task:
        """``task`` with this variant's prompts and adapter."""
        if self.prompt == "none":
            task = task.with_prompts("", "")
        elif self.prompt == "generic":
            task = task.with_prompts(GENERIC_PROMPT)
        return task.without_adapter() if self.adapter == "none" else task


# The rows of the ablation table, as in the Jina v5 paper: each adds one thing to the row above. The adapters were
# trained together with their task's prompt, so the adapter row keeps the task prompt.
ABLATION: tuple[tuple[str, Variant], ...] = (
    ("no prompt", Variant("none", "none")),
    ("generic prompt", Variant("generic", "none")),
    ("task prompt", Variant("task", "none")),
    ("task adapter", Variant("task", "task")),
)
