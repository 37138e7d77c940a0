"""The ship rule: what a task may run with by default, decided on its panel (:mod:`taskvec.eval.panel`).

An adapter is a task's default only if, with the prompt it was trained with, it is at or above the bare model on
every panel set beyond that set's noise: no set ``down``. The same rule decides the prompt of a task that runs
without an adapter: the prompt alone may not be ``down`` anywhere. Where neither passes, the task runs the bare
model (no prompt, no adapter). A panel read on a sample (``--sample``), on some of its sets (``--sets``) or on a
validation folder (benchmarks/validation_panel.py: sets for choosing, even a home test set) decides nothing: its
decision is marked provisional.
"""

from __future__ import annotations

from typing import Any

STATUSES = ("adapter", "prompt", "bare")


def _downs(result: dict[str, Any], mode: str) -> list[str]:
    return [
        f"{name} {row[f'{mode}_vs_base']['change']:+.4f} (noise ±{row[f'{mode}_vs_base']['noise']:.4f})"
        for name, row in result["sets"].items()
        if row.get(f"{mode}_vs_base", {}).get("verdict") == "down"
    ]


def _tally(result: dict[str, Any], mode: str) -> str:
    verdicts = [row[f"{mode}_vs_base"]["verdict"] for row in result["sets"].values() if f"{mode}_vs_base" in row]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("up", "level") if verdicts.count(v))
    return f"all {len(verdicts)} panel sets ({counts})"


def decide(result: dict[str, Any]) -> dict[str, Any]:
    """``{"status": adapter|prompt|bare, "adapter": bool, "prompt": bool, "why": str, "provisional": bool}``."""
    prompted = bool(result["query_prompt"] or result["document_prompt"])
    has_adapter = result["adapter"] is not None
    adapter_down, prompt_down = _downs(result, "adapter"), _downs(result, "prompt") if prompted else []
    adapter_ok = has_adapter and not adapter_down
    prompt_ok = prompted and not prompt_down
    with_prompt = " with its prompt" if prompted else ""
    if result.get("blend") is not None:  # taskvec.engine.blend: the pass is for this share only
        with_prompt = f" blended with the bare model at share {result['blend']:g}{with_prompt}"
    if adapter_ok:
        status, why = (
            "adapter",
            f"the adapter{with_prompt} is at or above the bare model on {_tally(result, 'adapter')}",
        )
    else:
        lost = (
            f"the adapter{with_prompt} is below the bare model on {'; '.join(adapter_down)}"
            if has_adapter
            else "no adapter"
        )
        if prompt_ok:
            status, why = "prompt", f"{lost}; the prompt alone is at or above it on {_tally(result, 'prompt')}"
        elif prompted:
            status, why = "bare", f"{lost}; the prompt alone is below it on {'; '.join(prompt_down)}"
        else:
            status, why = "bare", f"{lost}; no prompt"
    partial = []
    if result.get("sample"):
        partial.append(f"a sample of {result['sample']} per set")
    if result.get("left_out"):
        partial.append(f"{', '.join(result['left_out'])} left out")
    if result.get("validation"):
        partial.append("a validation folder, not the held-out panel")
    provisional = bool(partial)
    if provisional:
        why += f" ({'; '.join(partial)}: provisional, not a ship decision)"
    return {
        "status": status,
        "adapter": adapter_ok,
        "prompt": prompted and (adapter_ok or prompt_ok),
        "why": why,
        "provisional": provisional,
    }
