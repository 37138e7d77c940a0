"""``taskvec eval panel``: a task's prompt and adapter against the bare model on held-out sets of other domains.

The panel (docs/panel.md) is a folder of public sets that no training run reads, described by ``panel.json``: for
each task kind at least three sets from domains its training data does not cover, each in a layout the harness
reads (BEIR folder, scored or 0/1 pairs, labelled train/test texts, labelled texts to cluster). For one task the
panel scores three modes on every set of its kind: ``base`` (no prompt, no adapter: the model as shipped),
``prompt`` (the task's prompts) and ``adapter`` (the prompts and the adapter), and compares the last two with the
base by a paired bootstrap over queries, pairs or test texts and over few-shot draws or k-means runs
(:mod:`taskvec.eval.bootstrap`). A change inside 1.96 standard deviations of the bootstrap reads ``level``; beyond
it ``up`` or ``down``. :mod:`taskvec.eval.ship` turns the verdicts into what may ship.

``sample`` keeps that many units of each set (queries with their relevant documents and some distractors, pairs,
test texts): for CI and smoke runs, never for a ship decision.

Past ~400 lines: the manifest, one measure per layout, the run and its rendering belong together; the pieces the
two-pipeline panels share (``--mode hybrid``, ``--rerank``: their scope, rows and lines) sit here with them.
"""

from __future__ import annotations

import json
import os
import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from taskvec import metrics
from taskvec.engine import Encoder
from taskvec.engine.tasks import BUILTIN_TASKS, Task, is_builtin
from taskvec.errors import DataError
from taskvec.eval import bootstrap
from taskvec.eval.checks import Runner, mode_tasks
from taskvec.eval.datasets import LOADERS
from taskvec.eval.runners import MTEB_SEED

MANIFEST = "panel.json"
REPO = Path(__file__).resolve().parents[2]
REPO_PANEL = REPO / "data" / "panel"
ROUNDS = 1000
DRAWS = 10  # few-shot draws per classification set (MTEB's n_experiments), seeds 42, 43, ...
KMEANS_RUNS = 20
DEFAULT_SAMPLES_PER_LABEL = 8  # MTEB's default where a set names none
DISTRACTORS_PER_QUERY = 4  # with --sample: documents kept per sampled query besides its relevant ones


@dataclass(frozen=True)
class PanelSet:
    """One set of the panel, as ``panel.json`` describes it."""

    name: str
    kind: str  # the panel it belongs to: a task kind's, or a built-in task's of its own (panel_name)
    layout: str  # the harness layout it is stored in: retrieval, similarity, pairs, classification, clustering
    domain: str
    metric: str
    licence: str
    committed: bool
    origin: str
    commit: str
    samples_per_label: int | None = None


def default_root() -> Path | None:
    """``$TASKVEC_PANEL``, else the repository's ``data/panel`` when it has a manifest, else None."""
    env = os.environ.get("TASKVEC_PANEL")
    if env:
        return Path(env)
    return REPO_PANEL if (REPO_PANEL / MANIFEST).is_file() else None


def read_manifest(root: Path) -> list[PanelSet]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DataError(
            f"{path} does not exist: {root} is not a panel folder.",
            field="panel_root",
            fix="Pass --panel-root the folder holding panel.json (the repository's data/panel, see docs/panel.md).",
        )
    return [PanelSet(**spec) for spec in json.loads(path.read_text())["sets"]]


def is_validation_folder(root: Path) -> bool:
    """Whether ``root`` is a validation folder (``"validation": true`` in its manifest, as
    benchmarks/validation_panel.py writes): sets for choosing and comparing, whose readings decide nothing."""
    return bool(json.loads((Path(root) / MANIFEST).read_text()).get("validation"))


def missing_sets(root: Path, kind: str) -> list[str]:
    """The sets of one task kind that are not on disk (the ones rebuilt outside git may not be)."""
    return [s.name for s in read_manifest(root) if s.kind == kind and not _on_disk(Path(root) / s.name)]


def _on_disk(folder: Path) -> bool:
    """Whether a set's data is there: a fresh checkout has the folder of a set rebuilt outside git, with its
    SOURCE.md alone."""
    return folder.is_dir() and any(f.name != "SOURCE.md" for f in folder.iterdir())


def rebuild_command(root: Path, names: Sequence[str]) -> str:
    """The command that rebuilds ``names`` under ``root`` from snapshots of their origin repositories."""
    out = "" if Path(root).resolve() == REPO_PANEL else f" --out {root}"
    return f"python data/panel/build.py --mirrors MIRRORS{out} --sets {' '.join(names)}"


def panel_sets(root: Path, kind: str, names: Sequence[str] | None = None) -> list[PanelSet]:
    """The sets of one task kind (only ``names`` where given), each checked to be on disk."""
    sets = [s for s in read_manifest(root) if s.kind == kind]
    if not sets:
        raise DataError(f"The panel at {root} has no {kind} sets.", field="task", fix="Add sets to panel.json.")
    if names:
        unknown = sorted(set(names) - {s.name for s in sets})
        if unknown:
            raise DataError(
                f"{', '.join(unknown)}: not {kind} sets of the panel at {root}.",
                field="sets",
                fix=f"Name sets of the {kind} panel: {', '.join(s.name for s in sets)}.",
            )
        sets = [s for s in sets if s.name in names]
    missing = [s.name for s in sets if not _on_disk(Path(root) / s.name)]
    if missing:
        on_disk = [s.name for s in sets if s.name not in missing]
        raise DataError(
            f"Panel sets missing under {root}: {', '.join(missing)} (not committed: their licence does not allow "
            "redistribution; see each set's SOURCE.md).",
            field="panel_root",
            fix=f"Rebuild them from snapshots of their origin repositories (MIRRORS/<owner>+<name>/repo, docs/panel.md): "
            f"{rebuild_command(root, missing)}"
            + (
                f"; or score only the sets on disk, which decides nothing: --sets {' '.join(on_disk)}"
                if on_disk
                else ""
            )
            + ".",
        )
    return sets


def panel_name(task: str, kind: str) -> str:
    """The panel a task is judged on (``kind`` of panel.json's sets): a built-in task's own, named after it (a
    kind's, or sentiment's), and a task from a tasks file its kind's."""
    return task if is_builtin(task, kind) else kind


def candidate_prompts(encoder: Encoder, task: str) -> tuple[str, str]:
    """The prompts the panel judges: a built-in task's prompts as its model profile proposes them (whatever the
    registry now runs with), a task from a tasks file as written there."""
    registered = encoder.tasks[task]
    if is_builtin(task, registered.kind):
        return encoder.profile.task_prompts(task, registered.kind)
    return registered.query_prompt, registered.document_prompt


def proposed_task(encoder: Encoder, task: str) -> Task:
    """``task`` as the ship rule judges it, whatever the registry now runs: the adapter shipped for it (a built-in
    task's ``adapters/<model>/<task>``, a tasks-file task's own), whether or not it runs by default, with the
    prompts it was trained with, else the candidate prompts. The quality suite's prompt and adapter rows use it."""
    registered = encoder.tasks[task]
    shipped = encoder.profile.adapter_folder(task) if is_builtin(task, registered.kind) else None
    adapter = registered.adapter or shipped
    chosen = mode_tasks(encoder, task, adapter, *_unrecorded_prompts(encoder, task, adapter))["adapter"]
    return replace(  # the adapter alone: a blend with the bare model is judged with --blend (taskvec.engine.blend)
        registered,
        query_prompt=chosen.query_prompt,
        document_prompt=chosen.document_prompt,
        adapter=chosen.adapter,
        blend=None,
    )


def _unrecorded_prompts(encoder: Encoder, task: str, adapter: Path | None) -> tuple[str | None, str | None]:
    """(None, None) where the adapter records the prompts it was trained with (mode_tasks reads them), else the
    candidate prompts."""
    if adapter is not None and (adapter / "taskvec_training.json").is_file():
        return None, None
    return candidate_prompts(encoder, task)


# ------------------------------------------------------------------------------------------------- measures
Embed = Callable[[Sequence[str], str], np.ndarray]


def _keep(n: int, sample: int | None, rng: random.Random) -> list[int]:
    return sorted(rng.sample(range(n), sample)) if sample and sample < n else list(range(n))


@dataclass
class RetrievalUnits:
    """A retrieval set as the panel scores it: the queries (the bootstrap's units), their graded relevance, and
    the documents searched (all of them, or with ``sample`` the sampled queries' relevant ones and distractors)."""

    queries: list[str]
    grades: list[dict[str, int]]
    doc_ids: list[str]
    docs: list[str]


def retrieval_units(folder: Path, sample: int | None) -> RetrievalUnits:
    data = LOADERS["retrieval"](folder)
    rng = random.Random(0)
    all_queries = list(data.queries)
    query_ids = [all_queries[i] for i in _keep(len(all_queries), sample, rng)]
    doc_rows = list(range(len(data.doc_ids)))
    if sample:
        relevant = {d for q in query_ids for d, g in data.qrels[q].items() if g > 0}
        others = [i for i in doc_rows if data.doc_ids[i] not in relevant]
        extra = set(rng.sample(others, min(len(others), DISTRACTORS_PER_QUERY * len(query_ids))))
        doc_rows = [i for i in doc_rows if data.doc_ids[i] in relevant or i in extra]
    return RetrievalUnits(
        [data.queries[q] for q in query_ids],
        [data.qrels[q] for q in query_ids],
        [data.doc_ids[i] for i in doc_rows],
        [data.docs[i] for i in doc_rows],
    )


def _retrieval(folder: Path, embed: Embed, sample: int | None) -> bootstrap.Measure:
    units = retrieval_units(folder, sample)
    rankings = metrics.exact_search(
        embed(units.queries, "query"), embed(units.docs, "document"), units.doc_ids, depth=10
    )
    return bootstrap.MeanOfUnits([metrics.ndcg_at_k(r, g, 10) for r, g in zip(rankings, units.grades, strict=True)])


def _pairs(folder: Path, embed: Embed, sample: int | None, layout: str) -> bootstrap.Measure:
    """Cosine of each pair against its gold score (Spearman) or its 0/1 label (average precision)."""
    data = LOADERS[layout](folder)
    rows = _keep(len(data.texts1), sample, random.Random(0))
    cosine = metrics.paired_cosine(
        embed([data.texts1[i] for i in rows], "query"), embed([data.texts2[i] for i in rows], "document")
    )
    return bootstrap.PairScore(cosine, [data.targets[i] for i in rows], "ap" if layout == "pairs" else "spearman")


def _classification(folder: Path, embed: Embed, sample: int | None, per_label: int) -> bootstrap.Measure:
    """MTEB's few-shot protocol: logistic regression on ``per_label`` texts per label, ``DRAWS`` draws."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    data = LOADERS["classification"](folder)
    rng = random.Random(0)
    test = _keep(len(data.test.texts), sample, rng)
    pool = list(range(len(data.train.texts)))
    if sample:  # the sampled test texts' labels, each with twice the texts a draw takes, so the draws still differ
        by_label: dict[str, list[int]] = {}
        for i in pool:
            by_label.setdefault(data.train.labels[i], []).append(i)
        kept = {data.test.labels[i] for i in test}
        pool = sorted(
            i for c in kept for i in rng.sample(by_label.get(c, []), min(2 * per_label, len(by_label.get(c, []))))
        )
    pool_labels = np.asarray([data.train.labels[i] for i in pool])
    draws = []
    for draw in range(DRAWS):
        generator = np.random.default_rng(MTEB_SEED + draw)
        draws.append(
            np.concatenate(
                [generator.permutation(np.flatnonzero(pool_labels == c))[:per_label] for c in sorted(set(pool_labels))]
            )
        )
    used = sorted(set(np.concatenate(draws).tolist()))
    vectors = dict(zip(used, embed([data.train.texts[pool[i]] for i in used], "document"), strict=True))
    test_vectors = embed([data.test.texts[i] for i in test], "document")
    test_labels = np.asarray([data.test.labels[i] for i in test])
    correct = []
    for rows in draws:
        # runners.logistic_accuracy's classifier (MTEB's), here for its predictions, not only their mean
        model = LogisticRegression(max_iter=100, random_state=MTEB_SEED)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # MTEB caps iterations on purpose; so do we
            model.fit(np.stack([vectors[i] for i in rows]), pool_labels[rows])
        correct.append(model.predict(test_vectors) == test_labels)
    return bootstrap.Accuracy(np.asarray(correct))


def _clustering(folder: Path, embed: Embed, sample: int | None) -> bootstrap.Measure:
    """MTEB's clusterer (mini-batch k-means, k = number of labels), ``KMEANS_RUNS`` seeds."""
    from sklearn.cluster import MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    data = LOADERS["clustering"](folder)
    if data.set_sizes:
        raise DataError(
            f"{folder}: a panel clustering set is one set of {{text, label}} records, not MTEB's several sets.",
            field="panel",
            fix="Write the set as test.jsonl of {text, label}.",
        )
    rows = _keep(len(data.test.texts), sample, random.Random(0))
    labels = [data.test.labels[i] for i in rows]
    vectors = embed([data.test.texts[i] for i in rows], "document")
    k = len(set(labels))
    # One thread: OpenMP's threads made mini-batch k-means four times slower on a shared 2-core machine.
    with threadpool_limits(1):
        clusters = [
            MiniBatchKMeans(n_clusters=k, batch_size=500, n_init="auto", random_state=run).fit_predict(vectors)
            for run in range(KMEANS_RUNS)
        ]
    return bootstrap.VMeasure(np.asarray(clusters), labels)


def measure_set(ps: PanelSet, folder: Path, embed: Embed, sample: int | None) -> bootstrap.Measure:
    if ps.layout == "retrieval":
        return _retrieval(folder, embed, sample)
    if ps.layout in ("similarity", "pairs"):
        return _pairs(folder, embed, sample, ps.layout)
    if ps.layout == "classification":
        return _classification(folder, embed, sample, ps.samples_per_label or DEFAULT_SAMPLES_PER_LABEL)
    if ps.layout == "clustering":
        return _clustering(folder, embed, sample)
    raise DataError(f"Panel set {ps.name}: unknown layout {ps.layout!r}.", field="panel", fix="Fix panel.json.")


# ------------------------------------------------------------------------------------------------------ run
def run_panel(
    encoder: Encoder,
    task: str,
    root: Path,
    *,
    adapter: Path | None = None,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
    sample: int | None = None,
    sets: Sequence[str] | None = None,
    rounds: int = ROUNDS,
    cache: Path | None = None,
    report: Callable[[str, dict[str, Any]], None] | None = None,
    against: Path | None = None,
    blend: float | None = None,
) -> dict[str, Any]:
    """Every set of the task kind's panel under base, prompt and (with ``adapter``) adapter modes, with paired
    bootstrap noise and a verdict per set; ``report`` gets each set's row when done. ``sets`` keeps only those sets
    of the kind's panel: a partial panel, like a sample, decides nothing.

    ``against``: a second adapter of the task (with its own training prompts), scored in the same bootstrap, so
    each row also reads the adapter against it (``adapter_vs_against``): whether a new adapter beats the one it
    would replace, paired on the same units (two changes over the base, each with its own band, say nothing about
    their difference).

    ``blend``: the adapter mode blends the adapter with the bare model at this share (taskvec.engine.blend); the
    result records it, and a pass counts for that share only (profiles.panel_passes)."""
    from taskvec.eval.ship import decide

    if query_prompt is None:
        query_prompt, document_prompt = _unrecorded_prompts(encoder, task, adapter)
    tasks = mode_tasks(encoder, task, adapter, query_prompt, document_prompt, blend)
    modes = ["base", "prompt"] + (["adapter"] if adapter is not None else [])
    if against is not None:
        tasks["against"] = mode_tasks(encoder, task, against, *_unrecorded_prompts(encoder, task, against))["adapter"]
        modes.append("against")
    kind = tasks["base"].kind
    panel = panel_name(task, kind)
    root = Path(root)
    rows: dict[str, dict[str, Any]] = {}
    chosen = panel_sets(root, panel, sets)
    for ps in chosen:
        by_space: dict[str, bootstrap.Measure] = {}
        measures: dict[str, bootstrap.Measure] = {}
        for mode in modes:
            space = encoder.space(tasks[mode]).id
            if space not in by_space:  # a mode that encodes as another (an empty prompt) is measured once
                runner = Runner(encoder, tasks[mode], cache)
                by_space[space] = measure_set(ps, root / ps.name, runner.embed, sample)
            measures[mode] = by_space[space]
        rows[ps.name] = _row(ps, measures, rounds)
        if report:
            report(ps.name, rows[ps.name])
    result: dict[str, Any] = {
        "task": task,
        "kind": kind,
        "model": encoder.model_name,
        "model_fingerprint": encoder.model_fingerprint,
        "query_prompt": tasks["prompt"].query_prompt,
        "document_prompt": tasks["prompt"].document_prompt,
        "adapter": str(adapter) if adapter is not None else None,
        **({"blend": blend} if blend is not None and adapter is not None else {}),
        **({"against": str(against)} if against is not None else {}),
        **({"panel": panel} if panel != kind else {}),
        **panel_scope(root, panel, chosen, sample, rounds),
        "sets": rows,
    }
    result["decision"] = decide(result)
    return result


def panel_scope(root: Path, kind: str, chosen: Sequence[PanelSet], sample: int | None, rounds: int) -> dict[str, Any]:
    """What a panel result says about its own coverage: the folder, the sample, the kind's sets left out, the
    bootstrap rounds, and whether the folder is a validation folder (every panel reading records them: a partial
    panel, or one of validation sets, decides nothing)."""
    return {
        "panel_root": str(root),
        "sample": sample,
        "left_out": [s.name for s in read_manifest(Path(root)) if s.kind == kind and s not in chosen],
        "rounds": rounds,
        **({"validation": True} if is_validation_folder(root) else {}),
    }


def comparison_row(
    ps: PanelSet, before: tuple[str, np.ndarray], after: tuple[str, np.ndarray], rounds: int
) -> dict[str, Any]:
    """One set of a two-pipeline panel (hybrid or rerank): each pipeline's per-query figures under its name, the
    change, its noise and the verdict (taskvec.eval.bootstrap.paired_change)."""
    change = bootstrap.paired_change(before[1], after[1], rounds)
    return {
        "domain": ps.domain,
        "metric": ps.metric,
        "units": len(before[1]),
        before[0]: round(change.pop("before"), 5),
        after[0]: round(change.pop("after"), 5),
        **change,
    }


def comparison_line(name: str, row: dict[str, Any], before: tuple[str, str], after: tuple[str, str]) -> str:
    """One set of a two-pipeline panel (hybrid or rerank) for people; ``before``/``after``: (row key, label)."""
    return (
        f"  {name} [{row['domain']}; {row['metric']}; n={row['units']}]: {before[1]} {row[before[0]]:.4f}, "
        f"{after[1]} {row[after[0]]:.4f} ({row['change']:+.4f} ± {row['noise']:.4f}, {row['verdict']})"
    )


def scope_note(result: dict[str, Any]) -> str:
    """The header's tail for a partial panel: '; SAMPLE of N; LEFT OUT a, b' (empty for a whole one)."""
    return (f"; SAMPLE of {result['sample']}" if result["sample"] else "") + (
        f"; LEFT OUT {', '.join(result['left_out'])}" if result.get("left_out") else ""
    )


def _row(ps: PanelSet, measures: dict[str, bootstrap.Measure], rounds: int) -> dict[str, Any]:
    point = {mode: round(m.score(), 5) for mode, m in measures.items()}
    draws = bootstrap.paired_bootstrap(measures, rounds)
    row: dict[str, Any] = {
        "domain": ps.domain,
        "metric": ps.metric,
        "units": measures["base"].units,
        **point,
        "spread": {mode: round(float(np.std(v)), 5) for mode, v in draws.items()},
    }
    pairs = [(mode, "base") for mode in measures if mode != "base"]
    if "against" in measures and "adapter" in measures:
        pairs.append(("adapter", "against"))
    for after, before in pairs:
        change = point[after] - point[before]
        noise = bootstrap.Z95 * float(np.std(draws[after] - draws[before]))
        row[f"{after}_vs_{before}"] = {
            "change": round(change, 5),
            "noise": round(noise, 5),
            "verdict": bootstrap.verdict(change, noise),
        }
    return row


def render(result: dict[str, Any]) -> str:
    """The panel as a text table for people."""
    head = (
        f"panel for task {result['task']} ({result['kind']}): prompts {result['query_prompt']!r} / "
        f"{result['document_prompt']!r}; adapter {result['adapter'] or 'none'}; "
        + (f"blended with the bare model at share {result['blend']:g}; " if result.get("blend") is not None else "")
        + (f"against {result['against']}; " if result.get("against") else "")
        + f"{result['rounds']} paired bootstrap rounds"
        + scope_note(result)
    )
    lines = [head]
    for name, row in result["sets"].items():
        cells = [f"{name} [{row['domain']}; {row['metric']}; n={row['units']}]: base {row['base']:.4f}"]
        for mode in ("prompt", "adapter", "against"):
            if f"{mode}_vs_base" in row:
                c = row[f"{mode}_vs_base"]
                cells.append(f"{mode} {row[mode]:.4f} ({c['change']:+.4f} ± {c['noise']:.4f}, {c['verdict']})")
        if "adapter_vs_against" in row:
            c = row["adapter_vs_against"]
            cells.append(f"adapter vs against {c['change']:+.4f} ± {c['noise']:.4f}, {c['verdict']}")
        lines.append("  " + "; ".join(cells))
    decision = result["decision"]
    lines.append(f"ship rule: {decision['status']} - {decision['why']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- docs/panel.md
FIGURES_HEADING = "## Figures"


def prompt_panel_record(kind: str) -> Path:
    """Where the panel of a task kind that ships no adapter (its prompt alone against the bare model) is recorded:
    the ``--json-out`` of ``taskvec eval panel --task KIND --panel-root data/panel``, kept with the repository's
    results. A shipped adapter's panel is recorded in its own folder (``--card``)."""
    return REPO / "docs" / "results" / f"panel_{kind}.json"


def figures_markdown(model: str = "sentence-transformers/all-MiniLM-L6-v2") -> str:
    """docs/panel.md's figures: each task's recorded panel (a shipped adapter's as its model card shows it, else
    the prompt's from :func:`prompt_panel_record`) and what the task runs with. ``python -m taskvec.eval.panel``
    prints it; tests/test_panel.py keeps the page in step."""
    from taskvec.engine import TaskRegistry
    from taskvec.engine.profiles import profile_for
    from taskvec.train.model_card import INFO_FILE, panel_section

    profile = profile_for(model)
    registry = TaskRegistry.from_profile(profile)
    lines = [
        FIGURES_HEADING,
        "",
        "<!-- generated by `python -m taskvec.eval.panel` from the shipped adapters' records; do not edit -->",
        "",
        f"{profile.name}: the panel of each shipped adapter, recorded in its model card by the command shown; for a "
        "task that ships no adapter, its prompt's panel, recorded in `docs/results/panel_<task>.json`.",
        "",
    ]
    for name in BUILTIN_TASKS:
        folder = profile.adapter_folder(name)
        task = registry[name]
        lines += [f"### {name}", "", f"Runs by default: **{task.status}**: {task.why}", ""]
        if folder is not None:
            lines += panel_section(json.loads((folder / INFO_FILE).read_text()))[2:]
        elif prompt_panel_record(name).is_file():
            lines += panel_section({"panel": json.loads(prompt_panel_record(name).read_text())})[2:]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(figures_markdown(), end="")
