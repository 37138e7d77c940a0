"""Model cards: each shipped card is what its recorded facts render to, and names every set the adapter was read on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskvec.train.model_card import INFO_FILE, render

ADAPTERS = Path(__file__).resolve().parents[1] / "adapters" / "all-MiniLM-L6-v2"
SHIPPED = sorted(p for p in ADAPTERS.iterdir() if (p / INFO_FILE).is_file())


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_shipped_card_is_rendered_from_its_record(folder: Path) -> None:
    """A hand edit to a card, or a record changed without re-rendering, would make them disagree."""
    assert (folder / "README.md").read_text() == render(json.loads((folder / INFO_FILE).read_text()))


def test_other_reads_are_listed_with_where_their_figures_are() -> None:
    info = json.loads((ADAPTERS / "retrieval" / INFO_FILE).read_text())
    card = render(info)
    assert info["other_reads"], "the shipped retrieval adapter was read on validation-only sets (docs/hybrid.md)"
    assert "## Other sets it was read on" in card
    for read in info["other_reads"]:
        assert f"| {read['set']} | {read['study']} | {read['doc']} |" in card
    without = render({**info, "other_reads": []})
    assert "Other sets it was read on" not in without and "## Held-out panel and ship rule" in without


def test_a_prompt_panel_shows_the_prompt_alone_and_what_the_task_runs():
    """A task that ships no adapter (code) has its prompt's panel rendered without adapter columns; a partial
    reading says it decides nothing."""
    from taskvec.eval.ship import decide
    from taskvec.train.model_card import panel_section

    row = {"domain": "shell", "metric": "nDCG@10", "units": 8, "base": 0.5, "prompt": 0.4}
    row["prompt_vs_base"] = {"change": -0.1, "noise": 0.02, "verdict": "down"}
    panel = {"adapter": None, "query_prompt": "query: ", "document_prompt": "code: ", "rounds": 1000}
    panel |= {"command": "taskvec eval panel --task code", "sets": {"toy-code": row}}
    full = panel_section({"panel": {**panel, "decision": decide({**panel, "sample": None})}})
    table = next(part for part in full if part.startswith("| panel set")).splitlines()
    assert table[0] == "| panel set (domain) | metric | n | base | prompt only | prompt vs base |"
    assert table[2] == "| toy-code (shell) | nDCG@10 | 8 | 0.5000 | 0.4000 | -0.1000 ± 0.0200 **down** |"
    assert full[-2].endswith("**The task runs the bare model.**") and "adds this adapter" not in full[2]
    partial = panel_section({"panel": {**panel, "decision": decide({**panel, "sample": 8})}})
    assert partial[-2].endswith("**A partial reading: it decides nothing.**")


def test_a_panel_of_another_task_or_share_keeps_the_earlier_reading(tmp_path: Path) -> None:
    """An adapter read on the classification panel and then on the sentiment panel (or at another blend share) is
    two candidates: the card keeps both readings, says which panel the earlier one was, and a rerun of the same
    reading replaces it instead of piling up."""
    import shutil

    from taskvec.train.model_card import add_panel

    folder = tmp_path / "adapter"
    shutil.copytree(ADAPTERS / "clustering", folder)
    first = json.loads((folder / INFO_FILE).read_text())["panel"]
    moved = {**first, "kind": "classification", "panel": "sentiment", "blend": None}
    add_panel(folder, moved)
    add_panel(folder, moved)  # the same reading again: nothing more to keep
    info = json.loads((folder / INFO_FILE).read_text())
    assert info["panel"] == moved
    kept = [(p.get("blend"), p.get("panel", p.get("kind"))) for p in info["earlier_panels"]]
    assert kept == [(None, "clustering"), (0.25, "clustering")]
    card = (folder / "README.md").read_text()
    assert "- the adapter alone on the clustering panel: **bare**" in card and "banking77-clustering -0.0059" in card
    assert "- blended at share 0.25 on the clustering panel: **adapter**" in card
