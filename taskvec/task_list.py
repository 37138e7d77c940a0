"""What ``taskvec tasks`` and the ``taskvec://tasks`` resource show: each task with its prompts, its adapter and
its embedding space id. Adapters are named, never shown as paths of the server's disk: a shipped one as
``<model>/<task> (shipped)``, one of yours by its folder relative to the tasks file that names it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from taskvec.engine.tasks import BUILTIN_TASKS
from taskvec.results import TaskInfo, TaskList

if TYPE_CHECKING:
    from taskvec.engine import Task, TaskSpaces


def task_list(spaces: TaskSpaces, tasks_file: Path | None = None) -> TaskList:
    """The tasks of ``spaces`` (an encoder's ``spaces``, or ``TaskSpaces.from_files`` without loading a model)."""
    infos = []
    for name in spaces.tasks:
        task = spaces.tasks[name]
        fields = {**task.to_dict(), "adapter": adapter_label(spaces, task, tasks_file)}
        infos.append(TaskInfo(**fields, space_id=spaces.space(task).id))
    return TaskList(model=spaces.model_name, prompt_source=spaces.profile.source, tasks=infos)


def adapter_label(spaces: TaskSpaces, task: Task, tasks_file: Path | None) -> str | None:
    if task.adapter is None:
        return None
    for name in BUILTIN_TASKS:
        shipped = spaces.profile.shipped_adapter(name)
        if shipped is not None and Path(shipped).resolve() == Path(task.adapter).resolve():
            return f"{spaces.profile.adapters_slug}/{Path(task.adapter).name} (shipped)"
    if tasks_file is not None:
        return os.path.relpath(Path(task.adapter).resolve(), Path(tasks_file).resolve().parent)
    return Path(task.adapter).name
