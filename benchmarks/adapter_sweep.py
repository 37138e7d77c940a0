"""Train several adapter configurations side by side and measure each with ``taskvec eval checks``.

For choosing hyperparameters where compute is plentiful (a GPU runs a dozen MiniLM trainings at once); the adapters
that ship are then trained with the chosen command on the CPU, so their model cards hold a 2-core wall time.
Needs only what training needs (torch, transformers, peft, numpy) plus scikit-learn and scipy for the checks.

    python benchmarks/adapter_sweep.py --configs sweep.json --out /tmp/sweep --parallel 6 --device cuda

On a lent GPU machine without the model or the data, ``benchmarks/sweeps/device_sweep.sh`` carries both.

``sweep.json`` is a list of ``{"name": ..., "task": ..., "args": [training arguments]}``; ``{data}`` in an argument
stands for the data root ($TASKVEC_DATA, default ../shared/data). Writes ``summary.json`` under ``--out``: per
configuration its validation figures, best step, wall time and the checks (base vs adapter per set), and prints one
line per configuration as it finishes. ``--weights 0.7 0.5`` also checks each trained adapter interpolated towards
the base model at those weights (``taskvec interpolate``), since a shipped adapter may be. ``--render summary.json
--markdown docs/results/adapters.md`` turns a summary into a report of record (docs/results/adapters.md for the first sweep of all
tasks, docs/results/similarity_sweep.md for the second of similarity).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TASKVEC_DATA", ROOT.parent / "shared" / "data"))


def run_one(
    config: dict[str, Any], out: Path, model: str | None, device: str, weights: tuple[float, ...] = ()
) -> dict[str, Any]:
    """Train one configuration, then check it (and its interpolations at ``weights``); failures are recorded, not
    raised, so one bad config costs one row."""
    folder = out / config["name"]
    log = out / f"{config['name']}.log"
    model_args = ["--model", model] if model else []
    cli = [sys.executable, "-m", "taskvec.train.cli"]
    train = [*cli, "--task", config["task"], "--out", str(folder)]
    train += [a.replace("{data}", str(DATA)) for a in config["args"]] + model_args
    train += ["--device", device, "--no-progress"]

    def checks(adapter: Path) -> list[str]:
        cmd = [sys.executable, "-m", "taskvec.eval.cli", "checks", "--task", config["task"], "--data-root", str(DATA)]
        cmd += ["--adapter", str(adapter), "--json-out", str(adapter / "checks.json")]
        return [*cmd, "--device", device, *model_args]

    steps = [("train", train), ("checks", checks(folder))]
    for w in weights:
        scaled = out / f"{config['name']}@{w}"
        steps += [("interpolate", [*cli, "interpolate", str(folder), "--weight", str(w), "--out", str(scaled)])]
        steps += [(f"checks at weight {w}", checks(scaled))]
    started = time.time()
    row: dict[str, Any] = {"name": config["name"], "task": config["task"], "args": config["args"]}
    with log.open("w") as f:
        for step, cmd in steps:
            done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
            if done.returncode:
                row["error"] = f"{step} exited {done.returncode}; see {log}"
                row["log_tail"] = log.read_text(errors="replace")[-1500:]
                return row
    if weights:
        row["interpolated"] = {
            str(w): json.loads((out / f"{config['name']}@{w}" / "checks.json").read_text()) for w in weights
        }
    info = json.loads((folder / "taskvec_training.json").read_text())
    row.update(
        validation=info["validation"],
        best_step=info["best_step"],
        steps=info["steps"],
        train_seconds=info["wall_seconds"],
        seconds=round(time.time() - started, 1),
        checks=json.loads((folder / "checks.json").read_text()),
    )
    return row


def _device(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    return f"{device} (torch {torch.__version__})"


def summary_line(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{row['name']}: {row['error']}"
    cells = [
        f"{name.split(' (')[0]} {c['adapter'] - c['base']:+.4f} ({c['adapter']:.4f})"
        for name, c in row["checks"].items()
    ]
    val = row["validation"]["adapter"]
    line = (
        f"{row['name']}: best step {row['best_step']}/{row['steps']}, {row['train_seconds']:.0f}s; "
        f"val {json.dumps(val)}; " + "; ".join(cells)
    )
    for w, checks in row.get("interpolated", {}).items():
        line += f"\n  at weight {w}: " + "; ".join(
            f"{name.split(' (')[0]} {c['adapter'] - c['base']:+.4f}" for name, c in checks.items()
        )
    return line


def _cell(check: dict[str, Any]) -> str:
    return f"{check['adapter']:.4f} ({check['adapter'] - check['base']:+.4f})"


def render_markdown(summary: dict[str, Any], configs: list[dict[str, Any]]) -> str:
    """One table per task: each configuration's differing arguments, its stopping point and every check."""
    rows = {r["name"]: r for r in summary["rows"]}
    tasks = list(dict.fromkeys(c["task"] for c in configs))
    lines = [
        f"# Adapter hyperparameter sweep: {', '.join(tasks)}",
        "",
        "<!-- Generated by benchmarks/adapter_sweep.py --render; do not edit. -->",
        "",
        f"How the shipped adapters' hyperparameters were chosen. Run: `{summary['command']}` on "
        f"{summary['device']}; {summary['weights']}. Configurations: `{summary['configs']}`. Each cell is the "
        "adapter's figure and, in brackets, its change against the same model with no prompt and no adapter, "
        "measured in the same run by `taskvec eval checks`; *home* sets carry the issue's targets (test "
        "splits), *held-out* sets were never trained on. The shipped adapters were then retrained on the CPU with "
        "the chosen command (see each model card); their figures of record are in the model cards and "
        "docs/results/quality.md.",
    ]
    if any("interpolated" in r for r in summary["rows"]):
        lines[-1] += (
            " A row *at weight w* is the adapter above it interpolated towards the base model (`taskvec interpolate "
            "--weight w`: `W + w * delta`), measured the same way."
        )
    for task in tasks:
        done = [rows[c["name"]] for c in configs if c["task"] == task and "checks" in rows.get(c["name"], {})]
        missing = [c["name"] for c in configs if c["task"] == task and "checks" not in rows.get(c["name"], {})]
        lines += ["", f"## {task}", ""]
        if done:
            sets = list(done[0]["checks"])
            base = [f"{done[0]['checks'][name]['base']:.4f}" for name in sets]
            lines += [
                "| configuration | best step / steps | validation | " + " | ".join(sets) + " |",
                "|---|---|---|" + "---|" * len(sets),
                "| base (no prompt, no adapter) | | | " + " | ".join(base) + " |",
            ]
            for r in done:
                val = ", ".join(f"{v:.4f}" for v in r["validation"]["adapter"].values())
                cells = [_cell(r["checks"][name]) for name in sets]
                lines.append(f"| `{r['name']}` | {r['best_step']} / {r['steps']} | {val} | " + " | ".join(cells) + " |")
                for w, checks in r.get("interpolated", {}).items():
                    cells = [_cell(checks[name]) if name in checks else "" for name in sets]
                    lines.append(f"| `{r['name']}` at weight {w} | | | " + " | ".join(cells) + " |")
        if missing:
            lines += ["", "Not finished within the device time: " + ", ".join(f"`{m}`" for m in missing) + "."]
        chosen = summary.get("chosen", {}).get(task)
        if chosen:
            lines += ["", f"Chosen: `{chosen['config']}`. {chosen['why']}"]
        lines += ["", "Arguments:", ""]
        lines += [f"- `{c['name']}`: `{' '.join(c['args'])}`" for c in configs if c["task"] == task]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", type=Path, required=True)
    ap.add_argument("--out", type=Path, help="folder for the adapters, logs and summary.json")
    ap.add_argument("--render", type=Path, help="a summary.json to render instead of running")
    ap.add_argument("--markdown", type=Path, help="where --render writes its Markdown")
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", nargs="*", default=None, help="names (or prefixes) of configurations to run")
    ap.add_argument(
        "--weights", nargs="*", type=float, default=[], help="also check each adapter interpolated to these weights"
    )
    args = ap.parse_args()
    configs = json.loads(args.configs.read_text())
    if args.render:
        summary = json.loads(args.render.read_text())
        summary["configs"] = str(args.configs)
        text = render_markdown(summary, configs)
        if args.markdown:
            args.markdown.write_text(text)
        else:
            print(text)
        return 0
    if args.out is None:
        ap.error("--out is required unless --render is given")
    if args.only:
        configs = [c for c in configs if any(c["name"].startswith(o) for o in args.only)]
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    summary = {
        "command": " ".join(["python benchmarks/adapter_sweep.py", *sys.argv[1:]]),
        "device": _device(args.device),
    }
    summary["weights"] = os.environ.get("TASKVEC_SWEEP_WEIGHTS_NOTE", "the bundled all-MiniLM-L6-v2 weights")
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        futures = [pool.submit(run_one, c, args.out, args.model, args.device, tuple(args.weights)) for c in configs]
        for fut in as_completed(futures):  # a summary line as each finishes; summary.json grows as it goes
            row = fut.result()
            rows.append(row)
            print(summary_line(row), flush=True)
            (args.out / "summary.json").write_text(json.dumps({**summary, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
