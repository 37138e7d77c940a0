"""The extra training sets under data/train (docs/training-data.md): the committed ones read through
``taskvec train``'s data path with their recorded sizes, every set's SOURCE.md names its licence and origin commit,
and no text of a set on disk is a text of the held-out panel."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from taskvec.data.licence import UNKNOWN, licence_near
from taskvec.train.data import PairSet, for_kind, read_source

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "data" / "train"
PANEL = REPO / "data" / "panel"
# Committed sets: (queries, documents, judgements), as their SOURCE.md records them.
COMMITTED = {"tatqa-retrieval": (3331, 3190, 4441)}


def _builder():
    spec = importlib.util.spec_from_file_location("train_build", TRAIN / "build.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


BUILD = _builder()
ORIGINS = {
    "tatqa-retrieval": BUILD.TATQA,
    "policyqa-retrieval": BUILD.POLICYQA,
    "stackoverflow-retrieval": BUILD.LINKSO,
}


def _texts(folder: Path) -> set[str]:
    out = set()
    for name in ("corpus.jsonl", "queries.jsonl"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            out.add(" ".join(json.loads(line)["text"].split()).lower())
    return out


def test_every_built_set_has_an_origin_and_a_source_note() -> None:
    assert set(ORIGINS) == set(BUILD.BUILDERS)
    assert set(COMMITTED) <= set(BUILD.BUILDERS)
    assert sorted(p.name for p in TRAIN.iterdir() if p.is_dir()) == sorted(BUILD.BUILDERS)


@pytest.mark.parametrize("name", sorted(ORIGINS))
def test_source_note_names_licence_origin_and_commit(name: str) -> None:
    note = (TRAIN / name / "SOURCE.md").read_text(encoding="utf-8")
    repo, commit = ORIGINS[name]
    assert f"https://github.com/{repo} at commit `{commit}`" in note
    assert f"--sets {name}" in note
    assert ("**Committed**" in note) == (name in COMMITTED)
    # The model card quotes this line (taskvec.data.licence), so it must be found.
    assert licence_near(TRAIN / name) not in ("", UNKNOWN)


@pytest.mark.parametrize("name", sorted(COMMITTED))
def test_committed_set_reads_through_the_training_data_path(name: str) -> None:
    data = for_kind(read_source(str(TRAIN / name)), "retrieval")
    assert isinstance(data, PairSet)
    queries, documents, judgements = COMMITTED[name]
    assert (len(data.queries), len(data.corpus), sum(len(d) for d in data.relevant.values())) == (
        queries,
        documents,
        judgements,
    )
    assert all(data.queries[q].strip() for q in data.queries)
    assert all(d in data.corpus for docs in data.relevant.values() for d in docs)
    assert data.licence.startswith("CC BY 4.0")


def test_no_training_text_is_a_panel_text() -> None:
    """Exact matches (whitespace collapsed, case folded) against every panel retrieval set on disk."""
    panel = {p.name: _texts(p) for p in sorted(PANEL.glob("*-retrieval")) if (p / "corpus.jsonl").is_file()}
    assert {"medquad-retrieval", "argkp-retrieval"} <= set(panel)  # the committed ones at least
    built = [p for p in sorted(TRAIN.iterdir()) if (p / "corpus.jsonl").is_file()]
    assert {p.name for p in built} >= set(COMMITTED)
    for folder in built:
        texts = _texts(folder)
        assert {name: len(texts & other) for name, other in panel.items()} == dict.fromkeys(panel, 0), folder.name


def test_only_the_committed_sets_are_let_into_git() -> None:
    lines = (REPO / ".gitignore").read_text().splitlines()
    let_in = {line.split("/")[3] for line in lines if line.startswith("!/data/train/") and line.endswith("/*")}
    assert let_in == set(COMMITTED)
    assert "/data/train/*/*" in lines and "!/data/train/*/SOURCE.md" in lines
    for name in ORIGINS:
        note = (TRAIN / name / "SOURCE.md").read_text(encoding="utf-8")
        assert ("**Not committed**" in note) != (name in COMMITTED), name
