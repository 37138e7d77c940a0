"""The ablation suite: every data set of ../shared/data under every variant, written to docs/results/quality.md.

The report follows the ablation table of the Jina v5 paper: rows are the variants (no prompt, generic prompt, task
prompt, task adapter), columns the data sets, with the published MTEB figure of the base model above them. The prompt
and adapter rows measure each task as the ship rule judges it (its shipped adapter, whether or not it runs by
default); a last row, *default*, is what ``task=`` runs today, read from the row that encodes the same way (the same
embedding space) or measured where none does. Every
number in the report is computed by this run or read from the published MTEB result files that ship with the data
(``<data root>/reference_scores/``); the raw results are written next to it as JSON, and the Markdown is rendered
from that JSON alone.

Why this module is past ~400 lines: the run and the rendering of its report share the set list and the row names;
the loading and measuring are the harness's (``taskvec.eval.datasets`` and ``taskvec.eval.runners``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskvec.engine.tasks import GENERIC_PROMPT, RERANK_KIND
from taskvec.errors import InvalidInputError
from taskvec.eval.datasets import LOADERS
from taskvec.eval.panel import proposed_task
from taskvec.eval.runners import RUNNERS
from taskvec.eval.variants import ABLATION, DEFAULT_TASKS, Variant
from taskvec.options import DEFAULT_CANDIDATES

DEFAULT_ROW = "default"
HYBRID_ROW = "default, hybrid search"  # retrieval columns: the default's search with mode="hybrid" (an option)
RERANK_ROW = "default + rerank"  # retrieval columns, where a reranker ships: the default's top candidates reranked
ROWS = (*(row for row, _ in ABLATION), DEFAULT_ROW, HYBRID_ROW, RERANK_ROW)
OPTIONAL_ROWS = (HYBRID_ROW, RERANK_ROW)  # shown where some column has them


@dataclass(frozen=True)
class SuiteSet:
    """One column: where the data lives, how it is scored, and which published MTEB result it compares with."""

    folder: str
    kind: str
    title: str
    metric_label: str
    mteb_task: str
    mteb_metric: str  # the key of the figure in the MTEB result file
    hf_subset: str = "default"
    # How the set here differs from MTEB's (a template over the result's details); None where it is MTEB's set.
    differs: str | None = None
    task: str | None = None  # the built-in task a user would pick for it; None: the kind's (DEFAULT_TASKS)

    @property
    def task_name(self) -> str:
        return self.task or DEFAULT_TASKS[self.kind]


SUITE: tuple[SuiteSet, ...] = (
    SuiteSet("scifact", "retrieval", "SciFact", "nDCG@10", "SciFact", "ndcg_at_10"),
    SuiteSet("stsbenchmark", "similarity", "STSBenchmark", "Spearman", "STSBenchmark", "cosine_spearman"),
    SuiteSet(
        "amazon_counterfactual",
        "classification",
        "AmazonCounterfactual (en)",
        "accuracy",
        "AmazonCounterfactualClassification",
        "accuracy",
        hf_subset="en",
        task="sentiment",
    ),
    SuiteSet("emotion", "classification", "Emotion", "accuracy", "EmotionClassification", "accuracy", task="sentiment"),
    SuiteSet(
        "twenty_newsgroups",
        "clustering",
        "20 Newsgroups (subjects)",
        "V-measure",
        "TwentyNewsgroupsClustering",
        "v_measure",
        differs="MTEB clusters 10 sets of subject lines that draw on more than the bydate test split; here the "
        "{texts} subject lines of that split form one set",
    ),
    SuiteSet(
        "twitter_url_corpus",
        "pairs",
        "TwitterURLCorpus",
        "AP (cosine)",
        "TwitterURLCorpus",
        "cosine_ap",
        differs="MTEB's set also holds the corpus's train pairs; here only its {pairs} test pairs",
    ),
)


def published_figure(reference_dir: Path, model: str, entry: SuiteSet) -> dict[str, Any] | None:
    """The published MTEB figure of ``model`` for ``entry``, read from ``<model>__<task>.json``; None if absent."""
    path = reference_dir / f"{model.rsplit('/', 1)[-1]}__{entry.mteb_task}.json"
    if not path.is_file():
        return None
    result = json.loads(path.read_text(encoding="utf-8"))
    for scores in result.get("scores", {}).get("test", []):
        if scores.get("hf_subset", "default") == entry.hf_subset and entry.mteb_metric in scores:
            return {"value": scores[entry.mteb_metric], "file": path.name, "mteb_version": result.get("mteb_version")}
    return None


def run_suite(
    encoder: Any,
    data_root: Path,
    *,
    out: Path,
    json_out: Path,
    seed_sets: int = 20,
    command: str = "taskvec eval suite",
    sets: tuple[SuiteSet, ...] = SUITE,
    only: Sequence[str] | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Run every set under every ablation row, write the JSON results and the Markdown report, return the report.

    ``only`` reruns just those sets (folder names) and keeps the other columns of the existing JSON, so a new
    adapter can be measured without re-encoding every corpus on a small machine; each column records when it was
    measured. The JSON is rewritten after each result so a long run that stops part-way keeps what it measured.
    """
    if not Path(data_root).is_dir():
        raise InvalidInputError(
            f"Data root {str(data_root)!r} is not a folder.",
            field="data_root",
            fix="Pass --data-root the folder holding scifact/, stsbenchmark/, ... (../shared/data in this repo).",
        )
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    report: dict[str, Any] = {
        "generated": now,
        "command": command,
        "data_root": str(data_root),
        "model": encoder.model_name,
        "model_fingerprint": encoder.model_fingerprint,
        "device": str(encoder.device),
        "dtype": encoder.describe()["dtype"],
        "seed_sets": seed_sets,
        "generic_prompt": GENERIC_PROMPT,
        "sets": [],
        "results": [],
    }
    previous = _previous_report(json_out, report, only, sets) if only else None
    for entry in sets:
        if previous is not None and entry.folder not in (only or ()):
            report["sets"] += [s for s in previous["sets"] if s["folder"] == entry.folder]
            report["results"] += [r for r in previous["results"] if r["folder"] == entry.folder]
            continue
        folder = data_root / entry.folder
        name = entry.task_name
        task, default = proposed_task(encoder, name), encoder.tasks[name]
        report["sets"].append(
            {
                "folder": entry.folder,
                "kind": entry.kind,
                "task": name,
                "title": entry.title,
                "metric_label": entry.metric_label,
                "mteb_task": entry.mteb_task,
                "differs": entry.differs,
                "present": folder.is_dir(),
                "adapter": str(task.adapter) if task.adapter else None,
                "default": {"status": default.status, "why": default.why, "blend": default.blend},
                "published": published_figure(data_root / "reference_scores", encoder.model_name, entry),
                "measured": now,
            }
        )
        if not folder.is_dir():
            continue
        data = LOADERS[entry.kind](folder)
        options: dict[str, Any] = {"show_progress": show_progress}
        if entry.kind == "classification":
            options["seed_sets"] = seed_sets
        by_space: dict[str, dict[str, Any]] = {}
        rows = [(row, variant, variant.apply(task)) for row, variant in ABLATION]
        for row, variant, applied in [*rows, (DEFAULT_ROW, Variant(), default)]:
            if row != DEFAULT_ROW and variant.adapter == "task" and applied.adapter is None:
                continue
            space = encoder.space(applied).id
            if space in by_space:  # encodes as a row above (the default is one of them): the same figures
                record = {**by_space[space], "row": row, "same_as": by_space[space]["row"]}
            else:
                result = RUNNERS[entry.kind](encoder, applied, data, **options)
                record = by_space[space] = {**result.record(variant), "row": row, "folder": entry.folder}
                print(
                    f"{entry.folder} / {row}: {result.metric} {result.value:.4f} ({result.seconds:.0f} s)",
                    file=sys.stderr,
                )
            report["results"].append(record)
            _write(json_out, json.dumps(report, indent=1, sort_keys=True))
        pipelines: dict[str, dict[str, str]] = {}  # retrieval's other pipelines over the default task
        if entry.kind == "retrieval":
            pipelines[HYBRID_ROW] = {"mode": "hybrid"}
            if RERANK_KIND in encoder.tasks:
                pipelines[RERANK_ROW] = {"rerank": RERANK_KIND}
        for row, pipeline in pipelines.items():
            result = RUNNERS["retrieval"](encoder, default, data, **pipeline, **options)
            report["results"].append({**result.record(Variant()), "row": row, "folder": entry.folder})
            print(
                f"{entry.folder} / {row}: {result.metric} {result.value:.4f} ({result.seconds:.0f} s)", file=sys.stderr
            )
            _write(json_out, json.dumps(report, indent=1, sort_keys=True))
    _write(json_out, json.dumps(report, indent=1, sort_keys=True))
    _write(out, render_markdown(report, json_name=json_out.name))
    return report


def _previous_report(
    json_out: Path, report: dict[str, Any], only: Sequence[str], sets: tuple[SuiteSet, ...]
) -> dict[str, Any]:
    """The earlier results that a partial run keeps; refused where they could not share a table with new ones."""
    unknown = sorted(set(only) - {s.folder for s in sets})
    if unknown:
        raise InvalidInputError(
            f"Unknown data sets {unknown}.", field="sets", fix=f"Use some of: {', '.join(s.folder for s in sets)}."
        )
    try:
        previous = json.loads(Path(json_out).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(
            f"--sets reruns part of an earlier suite, but {json_out} does not exist.",
            field="sets",
            fix="Run the whole suite first (leave out --sets).",
        ) from None
    for key in ("model_fingerprint", "seed_sets", "data_root", "dtype"):
        if previous.get(key) != report[key]:
            raise InvalidInputError(
                f"{json_out} was made with {key} {previous.get(key)!r}, this run uses {report[key]!r}.",
                field="sets",
                fix="Run the whole suite (leave out --sets) so every column is measured the same way.",
            )
    for s in previous["sets"]:
        s.setdefault("measured", previous["generated"])
    return previous


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------------- rendering
def render_report(json_path: Path, out: Path) -> None:
    """Rewrite the Markdown report from a suite's JSON results (after a change to the rendering, say)."""
    try:
        report = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(
            f"{json_path} does not exist.", field="json_out", fix="Run the suite first, or pass --json-out."
        ) from None
    _write(out, render_markdown(report, json_name=Path(json_path).name))


def render_markdown(report: dict[str, Any], *, json_name: str = "quality.json") -> str:
    """The report as Markdown, from the suite's JSON alone."""
    by_cell = {(r["folder"], r["row"]): r for r in report["results"]}
    sets = report["sets"]
    measured = {s.get("measured", report["generated"]) for s in sets}
    model_short = report["model"].rsplit("/", 1)[-1]
    lines = [
        "# Embedding quality: prompts and adapters",
        "",
        "<!-- Generated by the quality harness; do not edit. Rerun the command below instead. -->",
        "",
        f"Generated {report['generated']} with {report['model']} (weights {report['model_fingerprint'][:12]}) on "
        f"{report['device']} in {report.get('dtype', 'float32')}; rerun with `{report['command']}`. Every figure comes from the suite's results "
        f"(`{json_name}`) or from the published MTEB result files in `{report['data_root']}/reference_scores/`; "
        "none is typed by hand."
        + (" Columns were measured at different times (see the notes)." if len(measured) > 1 else ""),
        "",
        "| | " + " | ".join(f"{s['title']}<br>{s['metric_label']}" for s in sets) + " |",
        "|---|" + "---|" * len(sets),
        f"| published MTEB, {model_short}, no prompt | " + " | ".join(_published_cell(s) for s in sets) + " |",
    ]
    shown = {r["row"] for r in report["results"]}
    for row in (r for r in ROWS if r not in OPTIONAL_ROWS or r in shown):
        lines.append(f"| {row} | " + " | ".join(_cell(s, by_cell.get((s["folder"], row)), row) for s in sets) + " |")
    lines += [
        "",
        "Rows: *no prompt* encodes the bare text with no adapter; *generic prompt* puts "
        f"`{report['generic_prompt']}` before every text; *task prompt* uses each task's own prompts (below); "
        "*task adapter* adds the LoRA adapter shipped for the task to the prompts it was trained with, whether or "
        "not it runs by default; *no adapter*: none ships for the task. *default* is what the task runs today, "
        "as the ship rule decided on the held-out panel (docs/panel.md): its figure is that of the row named in "
        "brackets, which encodes the same way; a figure with no brackets encodes as no row above (a task blended "
        "with the bare model, taskvec.engine.blend) and was measured itself."
        + (
            f' *{HYBRID_ROW}* (retrieval): the default\'s search with `mode="hybrid"`, BM25 fused in at its '
            "default weight; an option a caller picks, not the default (docs/hybrid.md)."
            if HYBRID_ROW in shown
            else ""
        )
        + (
            f" *{RERANK_ROW}* (retrieval): the default's search with the shipped reranker rescoring its top "
            f"{DEFAULT_CANDIDATES} (docs/rerank.md)."
            if RERANK_ROW in shown
            else ""
        ),
        "",
        f"Classification cells are the mean over {report['seed_sets']} seed sets of MTEB's protocol (draws of "
        "training texts, logistic regression, mean test accuracy) ± the standard deviation across seed sets; the "
        "first seed set uses MTEB's seed and draws the same training texts as MTEB. Clustering cells are the "
        "mean V-measure over k-means runs with different seeds ± the standard deviation across runs (a k-means "
        "figure moves with its seed: two configurations within that spread of each other are level).",
        "",
        "## Notes per data set",
        "",
    ]
    lines += [_notes(s, by_cell) + (f" Measured {s['measured']}." if len(measured) > 1 else "") for s in sets]
    lines += ["", "## Prompts and adapters used", ""]
    lines += _prompts_table(report, by_cell)
    lines += [
        "",
        "## Time taken",
        "",
        f"Wall-clock seconds per cell (encoding and scoring) on {report['device']}. They depend on whatever else the "
        "machine was running: a record of this run, not a benchmark.",
        "",
    ]
    lines += [
        "| | " + " | ".join(s["title"] for s in sets) + " |",
        "|---|" + "---|" * len(sets),
    ]
    for row, _ in ABLATION:  # the default row repeats one of these
        cells = [
            f"{by_cell[(s['folder'], row)]['seconds']:.0f}" if (s["folder"], row) in by_cell else "–" for s in sets
        ]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _published_cell(s: dict[str, Any]) -> str:
    if not s["published"]:
        return "–"
    value = f"{s['published']['value']:.4f}"
    return f"{value} (other set, see notes)" if s["differs"] else value


def _cell(s: dict[str, Any], result: dict[str, Any] | None, row: str) -> str:
    if result is None:
        if not s["present"]:
            return "no data"
        return "no adapter" if row == "task adapter" and not s["adapter"] else "–"
    details = result["details"]
    if result["kind"] == "classification" and details["seed_sets"] > 1:
        value = f"{result['value']:.4f} ± {details['accuracy_std']:.4f}"
    elif result["kind"] == "clustering" and details["runs"] > 1:
        value = f"{result['value']:.4f} ± {details['v_measure_std']:.4f}"
    else:
        value = f"{result['value']:.4f}"
    return f"{value} ({result['same_as']})" if result.get("same_as") else value


def _notes(s: dict[str, Any], by_cell: dict[tuple[str, str], dict[str, Any]]) -> str:
    base = by_cell.get((s["folder"], "no prompt"))
    task = f", read with task={s['task']}" if s.get("task") not in (None, s["kind"]) else ""
    head = f"- **{s['title']}** (`{s['folder']}/`, {s['kind']}{task})"
    if base is None:
        return f"{head}: not run ({'no data' if not s['present'] else 'no result'})."
    details = base["details"]
    parts = [f"{head}: {_size(base)}."]
    published = s["published"]
    if published:
        parts.append(f"Published {published['value']:.5f} ({published['file']}, mteb {published['mteb_version']}).")
    if s["differs"]:
        parts.append(
            f"Not MTEB's set: {s['differs'].format(**details)}; the published figure is a same-domain "
            "reference, not a target."
        )
    if base["kind"] == "classification":
        means, first = details["seed_set_means"], details["first_seed"]
        parts.append(
            f"No prompt, seed {first} (MTEB's own draw): {means[0]:.5f}{_difference(means[0], published, s)}. "
            f"Over {len(means)} seed sets ({first}–{first + len(means) - 1}): mean {base['value']:.4f}, "
            f"sd {details['accuracy_std']:.4f}, range {details['accuracy_min']:.4f}–{details['accuracy_max']:.4f}."
        )
        if published:
            inside = details["accuracy_min"] <= published["value"] <= details["accuracy_max"]
            below = sum(m < published["value"] for m in means)
            parts.append(
                f"The published figure is {'inside' if inside else 'outside'} that range "
                f"({below} of {len(means)} seed sets score below it)."
            )
    elif published:
        parts.append(f"No prompt here: {base['value']:.5f}{_difference(base['value'], published, s)}.")
    return " ".join(parts)


def _difference(value: float, published: dict[str, Any] | None, s: dict[str, Any]) -> str:
    """The gap to the published figure, where the set is MTEB's own (elsewhere a gap means nothing)."""
    if not published or s["differs"]:
        return ""
    gap = value - published["value"]
    return " (equal to 5 decimals)" if round(gap, 5) == 0 else f" ({gap:+.5f} vs published)"


def _size(result: dict[str, Any]) -> str:
    """What was measured, in numbers taken from the no-prompt result."""
    d, kind = result["details"], result["kind"]
    if kind == "retrieval":
        return (
            f"{d['queries']} judged queries, {d['documents']} documents; with no prompt recall@100 "
            f"{d['recall_at_100']:.4f}, MRR@10 {d['mrr_at_10']:.4f}"
        )
    if kind == "classification":
        return (
            f"{d['test_texts']} test texts; {d['experiments']} draws of {d['samples_per_label']} training texts per "
            "label per seed set"
        )
    if kind == "clustering":
        return f"{d['texts']} texts, k = {d['clusters']}, {d['runs']} k-means runs"
    if kind == "pairs":
        return f"{d['pairs']} pairs ({d['positives']} positive); with no prompt MTEB's max_ap is {d['max_ap']:.4f}"
    return f"{d['pairs']} scored pairs"


def _prompts_table(report: dict[str, Any], by_cell: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    lines = [
        "| data set | task | query prompt | document prompt | adapter | default (ship rule) |",
        "|---|---|---|---|---|---|",
    ]
    for s in report["sets"]:
        result = by_cell.get((s["folder"], "task adapter")) or by_cell.get((s["folder"], "task prompt"))
        if result is None:
            continue
        adapter = "/".join(Path(result["adapter"]).parts[-3:]) if result["adapter"] else "none ships"
        default = s.get("default", {}).get("status", "–")
        if s.get("default", {}).get("blend") is not None:
            default += f", blended with the bare model at {s['default']['blend']:g}"
        lines.append(
            f"| {s['title']} | {result['task']} | `{result['query_prompt']!r}` | `{result['document_prompt']!r}` "
            f"| {adapter} | {default} |"
        )
    return lines
