"""The sweep report (benchmarks/adapter_sweep.py --render): what docs/results/adapters.md and docs/results/similarity_sweep.md are
generated from, so a rendering slip would put wrong figures in the docs."""

from __future__ import annotations

from pathlib import Path

from helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def _checks(home: float, held_out: float) -> dict[str, dict[str, float | str]]:
    return {
        "STS-B test (home)": {"metric": "Spearman", "base": 0.82, "adapter": home},
        "TwitterURL test (held-out)": {"metric": "cosine AP", "base": 0.77, "adapter": held_out},
    }


def test_render_puts_interpolated_rows_under_their_adapter_and_names_unfinished_configs():
    sweep = load_benchmark("adapter_sweep")
    configs = [
        {"name": "a_lr5e-4", "task": "similarity", "args": ["--lr", "5e-4"]},
        {"name": "b_scale10", "task": "similarity", "args": ["--scale", "10"]},
    ]
    row = {
        "name": "a_lr5e-4",
        "task": "similarity",
        "args": ["--lr", "5e-4"],
        "validation": {"adapter": {"sts[val]": 0.89}},
        "best_step": 520,
        "steps": 648,
        "checks": _checks(0.86, 0.765),
        "interpolated": {"0.7": _checks(0.85, 0.772)},
    }
    summary = {"command": "python benchmarks/adapter_sweep.py ...", "device": "cpu", "weights": "w", "rows": [row]}
    summary["configs"] = "sweep.json"
    text = sweep.render_markdown(summary, configs)
    lines = text.splitlines()
    trained = lines.index("| `a_lr5e-4` | 520 / 648 | 0.8900 | 0.8600 (+0.0400) | 0.7650 (-0.0050) |")
    assert lines[trained + 1] == "| `a_lr5e-4` at weight 0.7 | | | 0.8500 (+0.0300) | 0.7720 (+0.0020) |"
    assert "A row *at weight w* is the adapter above it interpolated" in text
    assert "Not finished within the device time: `b_scale10`." in text
    assert text.startswith("# Adapter hyperparameter sweep: similarity\n")
