"""The cross-space guard: a query is compared only with vectors made in the same embedding space.

Its refusals are instructions: they name the spaces a collection holds, the space the request asked for, and the
two ways out (query with a task the collection was indexed with, naming every one and the closest to the request
first, or index it again with this task). Where the collection holds the requested task made with other settings
(a task's default adapter changed in an upgrade, or another tasks file), the ways out are the settings: index again,
or serve the old ones.
"""

from __future__ import annotations

from taskvec.errors import SpaceMismatchError
from taskvec.spaces import EmbeddingSpace


def check_space(collection: str, held: dict[str, tuple[EmbeddingSpace, int]], requested: EmbeddingSpace) -> None:
    """Raise SpaceMismatchError unless ``requested`` is one of the spaces ``held`` (space id -> (space, rows))."""
    if requested.id in held and held[requested.id][1] > 0:
        return
    live = {sid: (space, n) for sid, (space, n) in held.items() if n > 0}
    if not live:
        raise SpaceMismatchError(
            f"Collection {collection!r} holds no vectors yet.",
            field="collection",
            fix=f"Index documents into {collection!r} with task={requested.task!r} first.",
        )
    listing = "; ".join(f"task {s.task!r} in {s.describe()} ({n} rows)" for s, n in live.values())
    width = next(iter(live.values()))[0].dimension  # a collection's vectors have one width
    # Indexing this collection again is a way out only where the requested space's vectors fit it (a blended task's
    # are twice the model's width, taskvec.engine.blend); otherwise the way out is a collection of its own.
    elsewhere = (
        None
        if requested.dimension == width
        else f"index the documents into a new collection with task={requested.task!r} (its vectors are "
        f"{requested.dimension}-dimensional and {collection!r} holds {width}-dimensional ones: they cannot share a "
        "collection)"
    )
    stale = [s for s, _ in live.values() if requested.is_stale_version_of(s)]
    if stale:
        what = ", ".join(requested.differences(stale[0]))
        reindex = elsewhere or (
            f"index the documents of {collection!r} again with task={requested.task!r} (upsert by id replaces the "
            "stale vectors)"
        )
        raise SpaceMismatchError(
            f"The vectors of task {requested.task!r} in collection {collection!r} are stale: the model or adapter "
            f"weights changed since they were indexed ({what}). Comparing old and new vectors gives meaningless "
            f"scores. Collection holds: {listing}.",
            field="task",
            fix=f"Either {reindex}, or serve the model and adapter they were made with.",
        )
    same_task = [s for s, _ in live.values() if s.task == requested.task]
    tasks = ranked_tasks(requested, live)
    if same_task:
        # Searching with the collection's own task is what the caller did: the way out is the settings, not the task.
        detail = "; ".join(", ".join(requested.differences(s)) for s in same_task)
        again = (
            f"index the documents of {collection!r} again with task={requested.task!r} (the rows made with the old "
            "settings stay beside them; delete them after with delete(space=...): "
            f"{', '.join(sid for sid, (s, _) in live.items() if s.task == requested.task)})"
        )
        raise SpaceMismatchError(
            f"Refused: collection {collection!r} cannot be searched in the embedding space you asked for, because "
            f"it holds task {requested.task!r} made with other settings ({detail}): this server makes "
            f"{requested.task!r} vectors differently now (a task's default adapter or prompt changed, or another "
            f"tasks file is in use). Collection holds: {listing}. You asked for: {requested.describe()}.",
            field="task",
            fix=f"Either {elsewhere or again}, or serve the "
            f"settings they were made with: override task {requested.task!r} in a tasks file (TASKVEC_TASKS_FILE) "
            'with that adapter and those prompts (adapter = "" for none).',
        )
    reason = f"it was indexed with task(s) {', '.join(map(repr, sorted(tasks)))}, not {requested.task!r}"
    if len(tasks) == 1:
        held = f"search with task={tasks[0]!r} (the task the collection was indexed with)"
    else:
        others = ", ".join(repr(t) for t in tasks[1:])
        held = (
            f"search with task={tasks[0]!r} (of the tasks the collection holds, the closest to your request; "
            f"it also holds {others})"
        )
    raise SpaceMismatchError(
        f"Refused: collection {collection!r} cannot be searched in the embedding space you asked for, because "
        f"{reason}. Collection holds: {listing}. You asked for: {requested.describe()}.",
        field="task",
        fix=f"Either {held}, or "
        + (
            elsewhere
            or f"index the collection again with task={requested.task!r}; one collection can hold several spaces"
        )
        + ".",
    )


def ranked_tasks(requested: EmbeddingSpace, live: dict[str, tuple[EmbeddingSpace, int]]) -> list[str]:
    """The tasks held, closest to the request first: fewest settings apart (prompts, adapter, model...), then the
    most rows."""
    best: dict[str, tuple[int, int]] = {}
    for space, rows in live.values():
        key = (len(requested.differences(space)), -rows)
        best[space.task] = min(best.get(space.task, key), key)
    return sorted(best, key=lambda task: (*best[task], task))
