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
