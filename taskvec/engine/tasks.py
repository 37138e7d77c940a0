"""The task registry: which prompt (per role) and which LoRA adapter each task uses.

Built-in tasks come from the model's profile; a TOML file adds tasks or overrides fields of built-in ones::

    [tasks.support-tickets]
    kind = "classification"          # retrieval | similarity | classification | clustering | code
    description = "Route customer tickets to a team"
    prompt = "ticket: "              # symmetric shorthand; or query_prompt / document_prompt
    adapter = "adapters/tickets"     # a PEFT LoRA folder, relative to this file; "" removes an adapter
    blend = 0.25                     # optional: blend the adapter with the bare model (taskvec.engine.blend)

    [tasks.ms-marco]
    kind = "rerank"                  # a second stage for search: scores (query, document) pairs
    model = "/models/ms-marco-MiniLM-L6-v2"   # a sentence-transformers CrossEncoder folder (or adapter = ...)
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from taskvec.engine.profiles import ModelProfile
from taskvec.errors import InvalidInputError, UnknownTaskError

TASK_KINDS = ("retrieval", "similarity", "classification", "clustering", "code")
# The built-in tasks, name -> kind: one per kind, plus ``sentiment``, a classification task of its own. One
# classification space cannot serve every label scheme: an adapter that spreads texts by how their writer feels
# spreads texts of one topic apart too, and few-shot topic classifiers lose (docs/panel.md). So sentiment, emotion
# and attitude get a task, judged on a panel of its own, and ``classification`` keeps topics and intents.
BUILTIN_TASKS = {**{kind: kind for kind in TASK_KINDS}, "sentiment": "classification"}


def is_builtin(name: str, kind: str) -> bool:
    """Whether a task of this name and kind is a built-in one (a tasks file may override its fields, not its kind):
    its prompts, shipped adapter and panel are the model profile's."""
    return BUILTIN_TASKS.get(name) == kind


ASYMMETRIC_KINDS = frozenset({"retrieval", "code"})
RERANK_KIND = "rerank"  # scores (query, document) pairs; makes no vectors (taskvec.engine.rerank)
Role = Literal["query", "document"]
ROLES: tuple[Role, ...] = ("query", "document")

# The "generic prompt" of the ablation: one instruction for every task, as a non-task-aware tool would use.
GENERIC_PROMPT = "Represent this text: "

BUILTIN_DESCRIPTIONS = {
    "retrieval": "Find documents that answer a query. Asymmetric: index documents with this task, then search "
    "with queries under the same task.",
    "similarity": "Score how alike two texts are in meaning (paraphrases, near-duplicates). Symmetric.",
    "classification": "Assign labels about what a text is about (topics, intents): zero-shot against label names or "
    "descriptions, or few-shot from labelled examples; use sentiment for how its writer feels. Symmetric.",
    "sentiment": "Assign labels about how a text's writer feels or stands rather than what it is about: sentiment, "
    "emotion, attitude, wishful or counterfactual statements. Zero-shot against label names or few-shot from "
    "labelled examples; use classification for topics and intents. Symmetric.",
    "clustering": "Group texts by topic or theme. Symmetric.",
    "code": "Find code that does what a natural-language query asks. Asymmetric: index code, search with "
    "natural-language queries.",
    RERANK_KIND: "Rerank documents for a query with a cross-encoder (query and document read together): the second "
    "stage of search (search with rerank=true), or the rerank tool on texts you already have.",
}


# What a task runs with, and who decided it (see Task.status).
STATUSES = ("adapter", "prompt", "bare", "unchecked", "custom")


@dataclass(frozen=True)
class Task:
    """One task: its kind, its prompts per role, and an optional LoRA adapter folder.

    ``status`` and ``why`` say what the task runs with and why: ``adapter``, ``prompt`` or ``bare`` (the bare
    model) where the ship rule decided it on the held-out panel (the model profile's verdict, docs/panel.md);
    ``unchecked`` where the profile's prompts run with no panel verdict; ``custom`` where a tasks file set it.
    """

    name: str
    kind: str
    description: str
    query_prompt: str = ""
    document_prompt: str = ""
    adapter: Path | None = None
    status: str = "unchecked"
    why: str = ""
    model: Path | None = None  # rerank tasks: a sentence-transformers CrossEncoder folder instead of an adapter
    blend: float | None = None  # the adapter's share of a blended space (taskvec.engine.blend); None: the adapter alone

    @property
    def symmetric(self) -> bool:
        return self.kind not in ASYMMETRIC_KINDS

    def prompt(self, role: Role) -> str:
        check_role(role)
        return self.query_prompt if role == "query" else self.document_prompt

    def with_prompts(self, query: str, document: str | None = None) -> Task:
        return replace(self, query_prompt=query, document_prompt=query if document is None else document)

    def without_adapter(self) -> Task:
        return replace(self, adapter=None, blend=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "symmetric": self.symmetric,
            "query_prompt": self.query_prompt,
            "document_prompt": self.document_prompt,
            "adapter": str(self.adapter) if self.adapter else None,
            "status": self.status,
            "why": self.why,
            **({"model": str(self.model)} if self.model else {}),
            **({"blend": self.blend} if self.blend is not None else {}),
        }


def check_role(role: str) -> None:
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidInputError(
            f"Unknown role {role!r}; the roles are {' and '.join(map(repr, ROLES))}.",
            field="role",
            fix="Use 'query' for questions and 'document' for indexed text.",
        )


class TaskRegistry(Mapping[str, Task]):
    """Tasks by name. Unknown names raise an error that lists the known ones."""

    def __init__(self, tasks: Mapping[str, Task]) -> None:
        self._tasks = dict(tasks)

    @classmethod
    def from_profile(cls, profile: ModelProfile, tasks_file: Path | None = None) -> TaskRegistry:
        tasks = {name: _builtin(profile, name, kind) for name, kind in BUILTIN_TASKS.items()}
        if reranker := profile.shipped_reranker():  # only where a trained reranker ships and passed its rule
            tasks[RERANK_KIND] = Task(
                RERANK_KIND,
                RERANK_KIND,
                BUILTIN_DESCRIPTIONS[RERANK_KIND],
                adapter=reranker,
                why="the shipped reranker: at or above the one-stage search on every held-out set and panel set "
                "(its model card; docs/rerank.md)",
            )
        registry = cls(tasks)
        return registry.with_file(tasks_file) if tasks_file else registry

    def with_file(self, path: Path) -> TaskRegistry:
        """A registry with the tasks of a TOML file added or merged over the built-in ones."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise InvalidInputError(
                f"Tasks file {str(path)!r} does not exist.", field="tasks_file", fix="Check the path."
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInputError(
                f"Tasks file {str(path)!r} is not valid TOML: {exc}.",
                field="tasks_file",
                fix="Repair the file.",
            ) from exc
        tasks = dict(self._tasks)
        for name, spec in (data.get("tasks") or {}).items():
            tasks[name] = _task_from_toml(name, spec, tasks.get(name), path.parent)
        return TaskRegistry(tasks)

    def __contains__(self, name: object) -> bool:  # Mapping's own would meet UnknownTaskError, not KeyError
        return name in self._tasks

    def __getitem__(self, name: str) -> Task:
        try:
            return self._tasks[name]
        except KeyError:
            # A role passed where the task goes (encode(texts, "query")) is the likeliest slip: say so.
            hint = f" {name!r} is a role: pass it as role=, and the task as task=." if name in ROLES else ""
            raise UnknownTaskError(
                f"Unknown task {name!r}. Known tasks: {', '.join(sorted(self._tasks))}.{hint}",
                field="task",
                fix="Use one of the known tasks, or add yours to the tasks TOML file (TASKVEC_TASKS_FILE).",
            ) from None

    def resolve(self, task: str | Task) -> Task:
        if isinstance(task, Task):
            return task
        if not isinstance(task, str):
            raise InvalidInputError(
                f"task must be a task name or a Task, not a {type(task).__name__}.",
                field="task",
                fix=f"Pass one task name, one of: {', '.join(sorted(self._tasks))}.",
            )
        return self[task]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)


def _builtin(profile: ModelProfile, name: str, kind: str) -> Task:
    """A built-in task as the profile's verdict for it says: the shipped adapter with its prompts, the prompts
    alone, or the bare model; the profile's prompts, unchecked, where there is no verdict."""
    query, document = profile.task_prompts(name, kind)
    task = Task(name, kind, BUILTIN_DESCRIPTIONS[name], query, document)
    verdict = profile.verdicts.get(name)
    if verdict is None:
        why = f"no held-out panel verdict for {profile.name}: the prompts of its profile ({profile.source})"
        if profile.adapter_folder(name):
            why += "; its shipped adapter does not run until the ship rule passes it (docs/panel.md)"
        return replace(task, status="unchecked", why=why)
    adapter = profile.shipped_adapter(name)
    if verdict.adapter and adapter is None:
        # The verdict names an adapter whose folder is missing or whose recorded panel does not pass: never run it.
        return replace(
            task.with_prompts("", "") if not verdict.prompt else task,
            status="bare" if not verdict.prompt else "prompt",
            why="the shipped adapter is missing or its recorded panel does not pass the ship rule: "
            "it does not run (docs/panel.md)",
        )
    if verdict.adapter:
        return replace(task, adapter=adapter, blend=verdict.blend, status="adapter", why=verdict.why)
    if not verdict.prompt:
        task = task.with_prompts("", "")
    return replace(task, status=verdict.status, why=verdict.why)


def _task_from_toml(name: str, spec: Any, base: Task | None, root: Path) -> Task:
    where = f"tasks.{name}"
    if not isinstance(spec, dict):
        raise InvalidInputError(f"[{where}] must be a table.", field=where, fix="Write it as [tasks.NAME] key = value.")
    keys = {"kind", "description", "prompt", "query_prompt", "document_prompt", "adapter", "blend", "model"}
    if unknown := set(spec) - keys:
        raise InvalidInputError(
            f"[{where}] has unknown keys {sorted(unknown)}.",
            field=where,
            fix="Allowed: kind, description, prompt, query_prompt, document_prompt, adapter, blend, model (rerank "
            "tasks).",
        )
    kind = spec.get("kind", base.kind if base else None)
    if kind not in (*TASK_KINDS, RERANK_KIND):
        raise InvalidInputError(
            f"[{where}] kind {kind!r} is not one of {', '.join((*TASK_KINDS, RERANK_KIND))}.",
            field=f"{where}.kind",
            fix="Set kind to the task family closest to yours.",
        )
    task = base or Task(name=name, kind=kind, description=spec.get("description", f"User task {name}."))
    task = replace(
        task,
        kind=kind,
        description=spec.get("description", task.description),
        status="custom",
        why="set in a tasks file: the ship rule judges only the shipped adapters",  # no server path: agents read it
    )
    if "prompt" in spec:
        task = task.with_prompts(str(spec["prompt"]))
    task = replace(
        task,
        query_prompt=str(spec.get("query_prompt", task.query_prompt)),
        document_prompt=str(spec.get("document_prompt", task.document_prompt)),
    )
    if "adapter" in spec:
        adapter = str(spec["adapter"])
        path = (root / adapter).resolve() if adapter else None
        if path is not None and not (path / "adapter_config.json").is_file():
            raise InvalidInputError(
                f"[{where}] adapter {adapter!r} is not a PEFT adapter folder (no adapter_config.json in {path}).",
                field=f"{where}.adapter",
                fix='Point it at a folder written by `taskvec train` or PEFT\'s save_pretrained, or set it to "".',
            )
        task = replace(task, adapter=path, blend=None)  # a blend belongs to the adapter it was measured with
    if "blend" in spec:
        task = replace(task, blend=_blend(spec["blend"], task, where))
    if "model" in spec:
        task = replace(task, model=_cross_encoder_folder(spec["model"], kind, where, root))
    if kind == RERANK_KIND and task.model is None and task.adapter is None:
        raise InvalidInputError(
            f"[{where}] is a rerank task with neither model nor adapter.",
            field=f"{where}.model",
            fix="Set model to a sentence-transformers CrossEncoder folder, or adapter to a `taskvec train --task "
            "rerank` folder.",
        )
    return task


def _blend(value: Any, task: Task, where: str) -> float | None:
    """A tasks file's ``blend``: the adapter's share, strictly between 0 and 1; "" runs the adapter alone."""
    if value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise InvalidInputError(
            f"[{where}] blend {value!r} is not a number strictly between 0 and 1.",
            field=f"{where}.blend",
            fix='Set blend to the adapter\'s share, e.g. 0.25, or to "" to run the adapter alone.',
        )
    if task.adapter is None or task.kind not in TASK_KINDS:
        raise InvalidInputError(
            f"[{where}] sets blend but has no adapter to blend with the bare model.",
            field=f"{where}.blend",
            fix="Set adapter to a LoRA folder of an embedding task, or remove blend.",
        )
    return float(value)


def _cross_encoder_folder(value: Any, kind: str, where: str, root: Path) -> Path:
    """A rerank task's ``model``: a local CrossEncoder folder (nothing is downloaded), relative to the TOML file."""
    path = (root / str(value)).expanduser().resolve()
    if kind != RERANK_KIND:
        raise InvalidInputError(
            f"[{where}] sets model, which only rerank tasks take.",
            field=f"{where}.model",
            fix='Remove model, or set kind = "rerank"; embedding tasks share the server\'s one model.',
        )
    if not (path / "config.json").is_file():
        raise InvalidInputError(
            f"[{where}] model {str(value)!r} is not a model folder (no config.json in {path}).",
            field=f"{where}.model",
            fix="Point it at a folder saved by sentence-transformers' CrossEncoder.save_pretrained.",
        )
    return path
