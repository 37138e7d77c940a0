"""The model card (README.md) of a trained adapter, rendered from the run's recorded facts.

``taskvec_training.json`` beside the adapter holds the facts (base model and fingerprint, prompts, data and
licences, hyperparameters, validation history, wall time, command); the card is regenerated from it, so test
figures added later by the evaluation harness (``add_test_figures``) and the held-out panel with the ship rule's
decision (``add_panel``) land in both without retyping anything.

Why this module is past ~400 lines: one renderer per card section (data, validation, test figures, panel and
earlier readings, other reads, soup), kept in one file so that the card's order and wording read top to bottom.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INFO_FILE = "taskvec_training.json"


def _fmt(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def _prompt_phrase(info: dict[str, Any]) -> str:
    if info["query_prompt"] or info["document_prompt"]:
        return "trained together with the task's prompts"
    return "trained on unprompted text (the task has no prompt on this model, so at step 0 it is the base model)"


def _selection(info: dict[str, Any]) -> str:
    decision = (info.get("panel") or {}).get("decision") or {}
    if decision.get("adapter") and not decision.get("provisional"):
        blend = info["panel"].get("blend")
        how = (
            "" if blend is None else f", blended with the bare model at adapter share {blend:g} (taskvec.engine.blend)"
        )
        that_way = "" if blend is None else " that way"
        return (
            f"It passed the ship rule on the held-out panel (below){how}: it may run as `task={info['task']}`'s "
            f"default{that_way}."
        )
    return (
        f"It is **not** a default of `task={info['task']}`: it has not passed the ship rule on the held-out panel "
        "(see below); a tasks file can still name it as a task's adapter."
    )


def _cpu(info: dict[str, Any]) -> str:
    cpu = info.get("cpu_seconds")
    return f"{cpu / 60:.1f} CPU-min" if cpu else "CPU time not recorded"


def _device(info: dict[str, Any]) -> str:
    device = info.get("device", "cpu")
    return "" if device == "cpu" else f", trained on {device}"


def _autocast(info: dict[str, Any]) -> str:
    return "; forward passes under bf16 autocast" if info.get("bf16_autocast") else ""


def _negatives_rows(hp: dict[str, Any]) -> list[str]:
    """Where each query's hard negatives came from: mined before training (and by what), or the data's own."""
    if hp.get("mine_negatives"):
        by = {"model": "the base model's cosine", "hybrid": "the base model's hybrid search (cosine and BM25)"}
        return [
            f"| hard negatives | {hp['mine_negatives']} per query, mined by {by[hp.get('mine_with', 'model')]} "
            f"over the whole corpus, after skipping its first {hp['mine_skip']} ranks |"
        ]
    if hp.get("hard_negatives"):
        return [f"| hard negatives | {hp['hard_negatives']} per query, from the data |"]
    return []


def _teacher_rows(info: dict[str, Any]) -> list[str]:
    """Who taught a distilled adapter (``--teacher``): the reranker's description and its folder's fingerprint."""
    teacher = info.get("teacher")
    if not teacher:
        return []
    if teacher["folder"] is None:  # --teacher hybrid: a search, not a model folder
        return [f"| teacher | {teacher['description']}; {teacher['pairs_scored']:,} pairs scored |"]
    return [
        f"| teacher | {teacher['description']} (folder `{teacher['folder']}`, fingerprint `{teacher['fingerprint']}`, "
        f"reranker identity `{teacher['identity_id']}`; {teacher['pairs_scored']:,} pairs scored in "
        f"{teacher['dtype']}) |"
    ]


def _table(rows: list[list[Any]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render(info: dict[str, Any]) -> str:
    hp = info["hyperparameters"]
    val = info["validation"]
    sources = sorted(val.get("base", {}))
    val_rows = [
        [s, val["base"].get(s, ""), val["prompt_only"].get(s, ""), val.get("adapter", {}).get(s, "")] for s in sources
    ]
    metric = {
        "retrieval": "nDCG@10 (exact search over validation positives + sampled distractors)",
        "code": "nDCG@10 (exact search over validation positives + sampled distractors)",
        "similarity": "Spearman of cosine vs gold score",
        "classification": "few-shot (16 per label) nearest-centroid accuracy, 10 draws",
        "clustering": "k-means V-measure (k = number of labels), 3 seeds",
    }[info["kind"]]
    data_rows = [[d["source"], d["train"], d["validation"], d["licence"]] for d in info["data"]]
    parts = [
        "---",
        "library_name: peft",
        f"base_model: {info['base_model']}",
        "tags: [taskvec, lora, sentence-embeddings, " + info["kind"] + "]",
        "---",
        "",
        f"# taskvec `{info['task']}` adapter for {info['base_model']}",
        "",
        f"A LoRA adapter (rank {hp['rank']}, alpha {hp['alpha']:g}, dropout {hp['dropout']:g}, on "
        f"{', '.join(info['target_modules'])}; {info['trainable_parameters']:,} parameters) over the frozen "
        f"backbone, {_prompt_phrase(info)}. {_selection(info)}",
        "",
        "| | |",
        "|---|---|",
        f"| base model | `{info['base_model']}` |",
        f"| base model fingerprint | `{info['base_model_fingerprint']}` (taskvec `fingerprint_folder`) |",
        f"| task (kind) | `{info['task']}` ({info['kind']}) |",
        f"| query prompt | `{info['query_prompt']!r}` |",
        f"| document prompt | `{info['document_prompt']!r}` |",
        f"| pooling, max tokens in training | {info['pooling']}, {info['max_seq_length']} (at inference: the "
        "model's own limit) |",
        f"| loss | {info['loss']} |",
        *_negatives_rows(info["hyperparameters"]),
        *_teacher_rows(info),
        f"| training wall time | {info['wall_seconds'] / 60:.1f} min ({_cpu(info)}) on {info['machine']}{_device(info)}{_autocast(info)} |",
        f"| steps | {info['steps']} run, best at step {info['best_step']} |",
        "",
        "## Data",
        "",
        "Read by path, never copied into the repository. Validation is carved from the training data by a seeded "
        "hash of each group (query, pair, text or thread); test splits are never read by training.",
        "",
        _table(data_rows, ["source", "train", "validation", "licence"]),
        "",
    ]
    if hp.get("matryoshka_dims"):
        dims = ", ".join(str(d) for d in hp["matryoshka_dims"])
        parts += [
            f"Trained with a Matryoshka loss over the first {dims} dimensions as well as the full vector, so that a "
            "space truncated to one of them (`TASKVEC_TRUNCATE_DIM`) keeps more of its quality; whether it does is "
            "measured by `python benchmarks/compression.py --adapter DIR --no-indexes` against the same recipe "
            "without the loss (docs/results/compression.md).",
            "",
        ]
    if info.get("anchor_data"):
        parts += [
            "Anchor texts (unlabelled; their similarity structure under the adapter is kept near the base "
            f"model's, weight {hp['anchor_weight']:g}): " + ", ".join(f"`{a}`" for a in info["anchor_data"]) + ".",
            "",
        ]
    if info.get("val_data"):
        parts += [
            "Validation-only sources (never trained on; they steer early stopping towards what generalises): "
            + ", ".join(f"`{a}`" for a in info["val_data"])
            + ".",
            "",
        ]
    if info.get("data_note"):
        parts += [info["data_note"], ""]
    share = hp.get("blend_share")
    if share is not None:
        parts += [
            f"Trained for a blend (`--blend-share {share:g}`): the loss saw the bare model's vector of each text "
            f"beside the adapter's, at adapter share {share:g}, as a blended task serves them (taskvec.engine.blend). "
            "Serve it blended (choose the share on validation sets: benchmarks/blend_share.py); alone, it was never "
            "trained to be a space of its own.",
            "",
        ]
    parts += [
        "## Validation",
        "",
        f"Metric: {metric}. *base* is the model as shipped (no prompt, no adapter); *prompt only* adds the task's "
        "prompt without the adapter"
        + (f"; *adapter* is blended with the bare model at share {share:g}, as trained." if share is not None else "."),
        "",
        _table(val_rows, ["validation set", "base", "prompt only", "adapter"]),
        "",
    ]
    interpolation = info.get("interpolation")
    if info.get("soup"):
        parts += soup_section(info)
    elif interpolation:
        parts += [
            "## Interpolation",
            "",
            f"The trained update is scaled by **{interpolation['weight']:g}** (WiSE-FT: `W + w * delta`; 1 is the "
            "adapter as trained, 0 the base model), a weight chosen on held-out sets (see the test figures) to keep "
            "most of the gain at home and lose less elsewhere. The validation figures above are of the adapter as trained.",
            "",
        ]
    test = info.get("test") or {}
    if test:
        blend = info.get("test_blend") or {}  # the same sets with the adapter blended (taskvec.engine.blend)
        blended = blend.get("figures", {})
        rows = [
            [
                name,
                t["metric"],
                t["base"],
                t["adapter"],
                round(t["adapter"] - t["base"], 4),
                *(
                    [blended[name], round(blended[name] - t["base"], 4)]
                    if name in blended
                    else [""] * (2 * bool(blend))
                ),
            ]
            for name, t in test.items()
        ]
        headers = ["data set (split)", "metric", "base (no prompt, no adapter)", "with adapter", "change"]
        parts += [
            "## Test figures",
            "",
            test_note(info)
            + (f" The blended columns (share {blend['share']:g}): `{blend['command']}`." if blend else ""),
            "",
            _table(rows, headers + ([f"blended at {blend['share']:g}", "change"] if blend else [])),
            "",
        ]
    parts += panel_section(info)
    parts += other_reads_section(info)
    parts += [
        "## Hyperparameters",
        "",
        "```json",
        json.dumps({k: v for k, v in hp.items() if k not in ("out",)}, indent=2, ensure_ascii=False),
        "```",
        "",
        "## Reproduce",
        "",
        "```bash",
        *[c or "(not recorded)" for i in info.get("soup") or [] for c in i["commands"]],
        *([] if info.get("soup") else [info.get("command") or "(not recorded)"]),
        *(interpolation or {}).get("commands", []),
        "```",
        "",
        "Seeded: the same command on the same software gives the same adapter (thread counts can move the last "
        "float digits).",
        "",
    ]
    return "\n".join(parts)


def soup_section(info: dict[str, Any]) -> list[str]:
    """What a soup averaged (``taskvec interpolate A B ... --out DIR``): each adapter, its weight and validation."""
    soup, weight = info["soup"], info["interpolation"]["weight"]
    rows = [
        [f"`{i['folder']}`", f"`{i['fingerprint']}`", f"{i['weight']:g}", _fmt_figures(i["validation"])] for i in soup
    ]
    return [
        "## Soup",
        "",
        f"The update is **{weight:g} x the mean** of the updates of {len(soup)} adapters of this task (a uniform "
        "model soup: one LoRA whose rank is the sum of theirs). The prompts, hyperparameters and validation figures "
        "above are the first adapter's; the data table lists every adapter's data. Each was trained by its own "
        "command under Reproduce.",
        "",
        _table(rows, ["adapter", "fingerprint", "its own weight", "its validation"]),
        "",
    ]


def _fmt_figures(figures: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in figures.items()) or "not recorded"


def _change(row: dict[str, Any], mode: str) -> str:
    c = row.get(f"{mode}_vs_base")
    if not c:
        return ""
    word = f"**{c['verdict']}**" if c["verdict"] == "down" else c["verdict"]
    return f"{c['change']:+.4f} ± {c['noise']:.4f} {word}"


def panel_section(info: dict[str, Any]) -> list[str]:
    """The held-out panel and the ship rule's decision; says so plainly where none was measured. A panel read
    without an adapter (a task's prompt alone, such as code's) shows the prompt's columns only."""
    panel = info.get("panel")
    if not panel:
        return [
            "## Held-out panel and ship rule",
            "",
            "Not measured: this adapter has no panel record, so taskvec never runs it as a task's default "
            "(docs/panel.md). Measure it with `taskvec eval panel --task TASK --adapter FOLDER --card`.",
            "",
        ]
    decision = panel["decision"]
    modes = ("prompt", "adapter") if panel.get("adapter") is not None else ("prompt",)
    rows = [
        [
            f"{name} ({row['domain']})",
            row["metric"],
            row["units"],
            row["base"],
            *(row.get(mode, "") for mode in modes),
            *(_change(row, mode) for mode in modes),
        ]
        for name, row in panel["sets"].items()
    ]
    runs = "the bare model" + (" with the task's prompt" if decision["prompt"] else "")
    if len(modes) == 1:  # a prompt's panel: what the task runs, unless the reading was partial
        default = (
            "**A partial reading: it decides nothing.**" if decision["provisional"] else f"**The task runs {runs}.**"
        )
    elif decision["adapter"] and not decision["provisional"]:
        default = "**It is the task's default.**"
    else:
        default = f"**It does not run by default: the task runs {runs}.**"
    blend = panel.get("blend")
    headers = {"prompt": "prompt only", "adapter": "adapter" if blend is None else f"blend {blend:g}"}
    changes = {"prompt": "prompt", "adapter": headers["adapter"]}
    return [
        "## Held-out panel and ship rule",
        "",
        f"Measured by `{panel.get('command') or 'taskvec eval panel'}`: public sets of other domains that no "
        "taskvec adapter trains on (docs/panel.md), fp32 on the CPU. *base* is the model with no prompt and no "
        f"adapter, *prompt only* adds the prompts {panel['query_prompt']!r} / {panel['document_prompt']!r}"
        + (", *adapter* adds this adapter" if len(modes) == 2 and blend is None else "")
        + (
            f", *blend {blend:g}* is this adapter (with those prompts) blended with the bare model at adapter share "
            f"{blend:g}: the two vectors side by side, cosine = {1 - blend:g} x base + {blend:g} x adapter "
            "(taskvec.engine.blend)"
            if len(modes) == 2 and blend is not None
            else ""
        )
        + ". Each change is ± 1.96 standard deviations of a paired bootstrap "
        f"({panel['rounds']} rounds over queries, pairs or test texts, and over few-shot draws or k-means runs); "
        "a change inside it is *level*.",
        "",
        _table(
            rows,
            [
                "panel set (domain)",
                "metric",
                "n",
                "base",
                *(headers[mode] for mode in modes),
                *(f"{changes[mode]} vs base" for mode in modes),
            ],
        ),
        "",
        f"Ship rule (taskvec.eval.ship): **{decision['status']}**: {decision['why']}. {default}",
        "",
        *_earlier_panels(info),
    ]


def _reading(panel: dict[str, Any]) -> tuple[float | None, str]:
    """What makes two panel readings of one adapter different candidates: the blend share and the panel read."""
    return panel.get("blend"), str(panel.get("panel", panel.get("kind")))


def _earlier_panels(info: dict[str, Any]) -> list[str]:
    """The adapter's panels at other blend shares (alone, or blended) or of another task, kept when a newer one
    replaced them: every reading of a panel stays on the card, with what the ship rule said of it."""
    earlier = info.get("earlier_panels") or []
    if not earlier:
        return []
    current = _reading(info["panel"])[1]
    lines = [
        "Earlier readings, at other blend shares or of another task's panel (their figures: `taskvec_training.json`):",
        "",
    ]
    for panel in earlier:
        share = "the adapter alone" if panel.get("blend") is None else f"blended at share {panel['blend']:g}"
        where = "" if _reading(panel)[1] == current else f" on the {_reading(panel)[1]} panel"
        sets = "; ".join(f"{name} {_change(row, 'adapter')}" for name, row in panel["sets"].items())
        lines.append(f"- {share}{where}: **{panel['decision']['status']}**: {panel['decision']['why']}. Sets: {sets}.")
    return [*lines, ""]


def add_panel(folder: Path, panel: dict[str, Any]) -> None:
    """Record the panel (``taskvec eval panel``'s result, with its decision) in the run's facts; re-render the card."""
    folder = Path(folder)
    info = json.loads((folder / INFO_FILE).read_text())
    old = info.get("panel")
    if old and _reading(old) != _reading(panel) and not old["decision"].get("provisional"):
        # a reading at another share, or on another task's panel, is another candidate's: keep it (the card lists
        # every reading)
        info["earlier_panels"] = [p for p in info.get("earlier_panels", []) if _reading(p) != _reading(old)]
        info["earlier_panels"].append(old)
    info["panel"] = panel
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    write_model_card(folder, info)


def other_reads_section(info: dict[str, Any]) -> list[str]:
    """Sets the adapter was read on outside training, the checks and the panel (``info["other_reads"]``: studies
    such as the hybrid weight or the update's scale, each with the document that holds its figures), so that the
    card names every set the adapter was ever checked on."""
    reads = info.get("other_reads") or []
    if not reads:
        return []
    rows = [[r["set"], r["study"], r["doc"]] for r in reads]
    return [
        "## Other sets it was read on",
        "",
        "Studies that ran this adapter on sets it did not train on, outside the test and panel figures above; their "
        "figures are in the documents named (none of these sets decided whether the adapter ships).",
        "",
        _table(rows, ["set", "study", "figures"]),
        "",
    ]


def test_note(info: dict[str, Any]) -> str:
    return str(
        info.get("test_note")
        or "Test splits, measured once after training; base and adapter measured the same way in the same run."
    )


def write_model_card(folder: Path, info: dict[str, Any]) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render(info))
    return path


def add_test_figures(
    folder: Path,
    figures: dict[str, dict[str, Any]],
    *,
    note: str | None = None,
    data_note: str | None = None,
    blend: tuple[float, str] | None = None,
) -> None:
    """Record final figures (``{set: {"metric", "base", "adapter"}}``) in the run's facts and re-render the card.
    ``blend`` (share, command): the figures are of the adapter blended with the bare model, kept beside the
    adapter's own (taskvec.engine.blend)."""
    folder = Path(folder)
    info = json.loads((folder / INFO_FILE).read_text())
    if blend is not None:
        share, command = blend
        info["test_blend"] = {
            "share": share,
            "command": command,
            "figures": {n: f["adapter"] for n, f in figures.items()},
        }
        figures, note = {}, None
    info.setdefault("test", {}).update(figures)
    if note is not None:
        info["test_note"] = note
    if data_note is not None:
        info["data_note"] = data_note
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    write_model_card(folder, info)
