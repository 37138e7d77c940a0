"""The ship rule at the end of ``taskvec train`` and ``taskvec interpolate``: the new adapter on the held-out panel.

The panel's figures and the rule's decision are recorded in the adapter's facts and model card
(:func:`taskvec.train.model_card.add_panel`). An adapter runs as a built-in task's default only where its recorded
panel passes and the model profile's verdict names it (:meth:`taskvec.engine.profiles.ModelProfile.shipped_adapter`),
so an adapter that fails, or was never measured, is never registered. Without a panel root the step says so and
records nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskvec.train.model_card import INFO_FILE, add_panel


def end_with_panel(
    adapter: Path,
    *,
    panel_root: Path | None,
    sample: int | None = None,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """Run the panel of the adapter's task on ``adapter``, record it, and log the verdict; None without a panel."""
    from taskvec.engine import Encoder
    from taskvec.eval.cli import checks_cache
    from taskvec.eval.panel import (
        default_root,
        missing_sets,
        panel_name,
        read_manifest,
        rebuild_command,
        render,
        run_panel,
    )

    root = panel_root or default_root()
    if root is None:
        log(
            "ship rule: no panel (pass --panel-root or set TASKVEC_PANEL; docs/panel.md), so it was not applied. "
            "This adapter is not registered as a task's default until `taskvec eval panel --card` records a pass."
        )
        return None
    info = json.loads((Path(adapter) / INFO_FILE).read_text())
    hp = info.get("hyperparameters") or {}
    sets = None
    panel = panel_name(info["task"], info["kind"])
    if missing := missing_sets(Path(root), panel):
        sets = [s.name for s in read_manifest(Path(root)) if s.kind == panel and s.name not in missing]
        log(
            f"ship rule: the panel at {root} lacks {', '.join(missing)} (rebuild them: {rebuild_command(root, missing)};"
            " docs/panel.md). "
            + (f"Scoring the sets present ({', '.join(sets)}) decides nothing: " if sets else "It was not applied: ")
            + "this adapter is not registered as a task's default until `taskvec eval panel --card` passes on the "
            "whole panel."
        )
        if not sets:
            return None
    encoder = Encoder(hp.get("model"), tasks_file=hp.get("tasks_file"), device=device, dtype="fp32")
    blend = hp.get("blend_share")  # an adapter trained for a blend is judged in it
    result = run_panel(
        encoder,
        info["task"],
        Path(root),
        adapter=Path(adapter),
        sample=sample,
        sets=sets,
        cache=checks_cache(),
        blend=blend,
    )
    result["command"] = (
        f"taskvec eval panel --task {info['task']} --adapter {adapter} --panel-root {root}"
        + (f" --blend {blend:g}" if blend is not None else "")
        + (f" --sample {sample}" if sample else "")
        + (f" --sets {' '.join(sets)}" if sets else "")
    )
    add_panel(Path(adapter), result)
    log(render(result))
    if result["decision"]["adapter"] and not result["decision"]["provisional"]:
        log(
            "ship rule: passes. To make it the default, put it in adapters/<model>/<task>/ and record the verdict in "
            "taskvec/engine/profiles.py"
            + (f", with blend={blend:g}" if blend is not None else "")
            + " (docs/panel.md)."
        )
    else:
        log("ship rule: not a default. The model card says why.")
    return result
