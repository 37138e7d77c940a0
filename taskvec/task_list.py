"""What ``taskvec tasks`` and the ``taskvec://tasks`` resource show: each task with its prompts, its adapter and
its embedding space id. Adapters are named, never shown as paths of the server's disk: a shipped one as
``<model>/<task> (shipped)``, one of yours by its folder relative to the tasks file that names it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from taskvec.results import TaskInfo, TaskList

if TYPE_CHECKING:
    from taskvec.engine import Encoder, Task


def task_list(encoder: Encoder, tasks_file: Path | None = None) -> TaskList:
    infos = []
    for name in encoder.tasks:
        task = encoder.tasks[name]
        fields = {**task.to_dict(), "adapter": adapter_label(encoder, task, tasks_file)}
        infos.append(TaskInfo(**fields, space_id=encoder.space(task).id))
    return TaskList(model=encoder.model_name, prompt_source=encoder.profile.source, tasks=infos)


def adapter_label(encoder: Encoder, task: Task, tasks_file: Path | None) -> str | None:
    if task.adapter is None:
        return None
    shipped = encoder.profile.shipped_adapter(task.kind)
    if shipped is not None and Path(shipped).resolve() == Path(task.adapter).resolve():
        return f"{encoder.profile.adapters_slug}/{Path(task.adapter).name} (shipped)"
    if tasks_file is not None:
        return os.path.relpath(Path(task.adapter).resolve(), Path(tasks_file).resolve().parent)
    return Path(task.adapter).name
