"""The extra training sets under data/train (docs/training-data.md): the committed ones read through ``taskvec
train``'s data path with their recorded sizes; every builder's output reads so for its task kind (from small origins
made here, so CI needs no snapshot), and a rebuild from a pinned commit that disagrees with the builder's record of
the set fails; every set's SOURCE.md names its licence, origin commit and the recorded size; and no text of a set on
disk is a text of the held-out panel."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from taskvec.data.licence import UNKNOWN, licence_near
from taskvec.train.data import LabelledSet, PairSet, ScoredSet, for_kind, read_source

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
    "insuranceqa-similarity": BUILD.INSURANCEQA,
    "qatarliving-similarity": BUILD.IYAS,
    "qatarliving-retrieval": BUILD.IYAS,
    "trec-classification": BUILD.IYAS,
    "offensive-classification": BUILD.TWEETEVAL,
    "insuranceqa-clustering": BUILD.INSURANCEQA,
    "trec-clustering": BUILD.IYAS,
}
SHAPES = {"similarity": ScoredSet, "classification": LabelledSet, "clustering": LabelledSet}


def _kind(name: str) -> str:
    return name.rsplit("-", 1)[1]  # every set is named <origin>-<task kind>


def _texts(folder: Path) -> set[str]:
    """Every text of a set's JSON Lines files (documents, queries, labelled texts, both sides of pairs), whitespace
    collapsed and case folded."""
    out = set()
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            out |= {" ".join(record[k].split()).lower() for k in ("text", "text1", "text2") if k in record}
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
    """Exact matches (whitespace collapsed, case folded) of every set on disk against every panel set on disk, all
    kinds: a panel text in any training set could leak into an adapter of another kind through a later mix."""
    panel = {p.name: _texts(p) for p in sorted(PANEL.iterdir()) if p.is_dir() and any(p.glob("*.jsonl"))}
    assert {"medquad-retrieval", "argkp-retrieval", "argkp-pairs", "banking77-classification"} <= set(panel)
    assert all(panel.values())
    built = [p for p in sorted(TRAIN.iterdir()) if p.is_dir() and any(p.glob("*.jsonl"))]
    assert {p.name for p in built} >= set(COMMITTED)
    for folder in built:
        texts = _texts(folder)
        assert texts, folder.name
        assert {name: len(texts & other) for name, other in panel.items()} == dict.fromkeys(panel, 0), folder.name


def test_recorded_sizes_are_the_ones_each_source_note_gives() -> None:
    """The builder's record of each rebuilt set (what a rebuild from the pinned commit must give) is what the set's
    SOURCE.md tells a reader."""
    for name, (origin, commit, rows, distinct) in BUILD.RECORDED.items():
        assert getattr(BUILD, origin) == ORIGINS[name] and ORIGINS[name][1] == commit, name
        note = (TRAIN / name / "SOURCE.md").read_text(encoding="utf-8")
        unit = "pairs" if _kind(name) == "similarity" else "texts"
        assert f"| rows | {rows:,} {unit}" in note, name
        if unit == "texts":
            assert f"{rows:,} texts, {distinct} labels" in note, name


# ----------------------------------------------------------------------- the builders, on small origins made here
def _origin(mirrors: Path, repo: str, files: dict[str, bytes]) -> tuple[str, str]:
    """A git repository at ``mirrors/<owner>+<name>/repo`` holding ``files``: (repo, its commit)."""
    root = mirrors / repo.replace("/", "+") / "repo"
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)

    def git(*args: str) -> str:
        env = {  # PATH and HOME kept; the global and system git settings (commit signing, say) ignored
            **os.environ,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        }
        return subprocess.run(
            ["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=env
        ).stdout

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "origin")
    return repo, git("rev-parse", "HEAD").strip()


def _cqa_xml(qid: str, subject: str, body: str, grades: list[str]) -> bytes:
    comments = "".join(
        f'<Comment CID="{qid}_C{i}" CGOLD="{g}"><CSubject>s</CSubject><CBody>reply {i} {g}</CBody></Comment>'
        for i, g in enumerate(grades)
    )
    return (
        f'<root><Question QID="{qid}" QCATEGORY="Cars"><QSubject>{subject}</QSubject><QBody>{body}</QBody>{comments}'.encode()
        + b"</Question></root>"
    )


@pytest.fixture(scope="module")
def small_origins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small copies of the three origins, in their own layouts, pinned in BUILD for the module's tests."""
    mirrors = tmp_path_factory.mktemp("mirrors")
    words = {f"idx_{i}": f"word{i}" for i in range(30)} | {"idx_99": "cover?"}
    # Two products of 12 questions each; questions 0 and 1 share an answer.
    lines = [f"{'life' if i < 12 else 'auto'}-insurance\tidx_{i} idx_99\t{100 + max(i, 1)}" for i in range(24)]
    insurance = {
        "V2/vocabulary": "".join(f"{k}\t{v}\n" for k, v in words.items()).encode(),
        "V2/InsuranceQA.question.anslabel.raw.encoded.gz": gzip.compress(("\n".join(lines) + "\n").encode()),
    }
    trec = [f"HUM:ind Who was person {i} ?" for i in range(11)] + [
        f"NUM:date When did `` event {i} '' end ?" for i in range(10)
    ]
    trec += ["NUM:temp How hot is it ?", "HUM:ind Who is Pel\xe9 ?"]
    iyas = {
        BUILD.TREC_FILE: "\n".join(trec).encode("latin-1") + b"\n",
        BUILD.CQA_FILES[0]: _cqa_xml(
            "Q1", "Car price", "Is 54k a good price for a Lancer?", ["Good", "Dialogue", "Bad"]
        ),
        BUILD.CQA_FILES[1]: _cqa_xml("Q2", "Visa", "Visa rules for my wife?", ["Potential", "Not English"]),
    }
    tweets = {
        f"{BUILD.OFFENSIVE_DIR}/train_text.txt": "".join(f"@user tweet  {i}\n" for i in range(25)).encode(),
        f"{BUILD.OFFENSIVE_DIR}/train_labels.txt": "".join(f"{i % 2}\n" for i in range(25)).encode(),
        f"{BUILD.OFFENSIVE_DIR}/mapping.txt": b"0\tnot-offensive\n1\toffensive\n",
    }
    pins = {
        "INSURANCEQA": _origin(mirrors, BUILD.INSURANCEQA[0], insurance),
        "IYAS": _origin(mirrors, BUILD.IYAS[0], iyas),
        "TWEETEVAL": _origin(mirrors, BUILD.TWEETEVAL[0], tweets),
    }
    saved = {name: getattr(BUILD, name) for name in pins}
    for name, pin in pins.items():
        setattr(BUILD, name, pin)
    yield mirrors
    for name, pin in saved.items():
        setattr(BUILD, name, pin)


@pytest.mark.parametrize("name", sorted(BUILD.RECORDED))
def test_builder_output_reads_through_the_training_data_path(name: str, small_origins: Path, tmp_path: Path) -> None:
    out = tmp_path / name
    BUILD.BUILDERS[name](small_origins, out)
    first = (out / "train.jsonl").read_bytes()
    BUILD.BUILDERS[name](small_origins, out)
    assert (out / "train.jsonl").read_bytes() == first  # a rebuild is byte for byte the same
    data = for_kind(read_source(str(out / "train.jsonl")), _kind(name))
    assert isinstance(data, SHAPES[_kind(name)])
    if name == "insuranceqa-similarity":  # the one shared answer: a paraphrase, a same-product and an other pair
        assert [(a, s) for a, _, s in data.pairs] == [
            ("word0 cover?", 2.0),
            ("word0 cover?", 1.0),
            ("word0 cover?", 0.0),
        ]
        assert (
            data.pairs[0][1] == "word1 cover?" and data.pairs[2][1].startswith("word") and data.pairs[2][1] >= "word12"
        )
    elif name == "qatarliving-similarity":  # Good 2, Bad 0, Potential 1; chat and non-English replies dropped
        assert [(a, b, s) for a, b, s in data.pairs] == [
            ("Car price. Is 54k a good price for a Lancer?", "reply 0 Good", 2.0),
            ("Car price. Is 54k a good price for a Lancer?", "reply 2 Bad", 0.0),
            ("Visa rules for my wife?", "reply 0 Potential", 1.0),
        ]
    elif name.startswith("trec"):  # Latin-1 read, tokenisation undone, types under 10 questions dropped
        assert "Who is Pelé?" in data.texts and 'When did "event 0" end?' in data.texts
        assert data.label_names == (["HUM:ind", "NUM:date"] if name == "trec-classification" else ["HUM", "NUM"])
    elif name == "insuranceqa-clustering":
        assert data.label_names == ["auto-insurance", "life-insurance"] and len(data) == 24
    else:
        assert data.label_names == ["not-offensive", "offensive"] and "@user tweet 0" in data.texts


def test_forum_retrieval_set_judges_good_replies_against_every_reply(small_origins: Path, tmp_path: Path) -> None:
    """qatarliving-retrieval: every reply is a document, a question with a good reply is a query, and only its good
    replies are relevant (its other replies stay in the corpus as distractors)."""
    out = tmp_path / "qatarliving-retrieval"
    BUILD.BUILDERS["qatarliving-retrieval"](small_origins, out)
    data = for_kind(read_source(str(out)), "retrieval")
    assert isinstance(data, PairSet)
    assert data.queries == {"Q1": "Car price. Is 54k a good price for a Lancer?"}
    assert {d: set(r) for d, r in data.relevant.items()} == {"Q1": {"Q1_C0"}}
    assert sorted(data.corpus) == ["Q1_C0", "Q1_C1", "Q1_C2", "Q2_C0", "Q2_C1"]
    assert data.corpus["Q1_C1"] == "reply 1 Dialogue"


def test_a_rebuild_that_disagrees_with_its_record_fails(small_origins: Path, tmp_path: Path) -> None:
    """A set rebuilt from its recorded commit must have the recorded size; here the small origin's commit stands in
    for the pinned one."""
    name = "trec-classification"
    saved = BUILD.RECORDED[name]
    try:
        BUILD.RECORDED[name] = ("IYAS", BUILD.IYAS[1], 22, 2)  # what the small origin gives
        BUILD.BUILDERS[name](small_origins, tmp_path / "right")
        BUILD.RECORDED[name] = ("IYAS", BUILD.IYAS[1], 5331, 42)
        with pytest.raises(ValueError, match=r"built 22 rows with 2 distinct .* SOURCE.md records 5331 and 42"):
            BUILD.BUILDERS[name](small_origins, tmp_path / "wrong")
    finally:
        BUILD.RECORDED[name] = saved


def test_only_the_committed_sets_are_let_into_git() -> None:
    lines = (REPO / ".gitignore").read_text().splitlines()
    let_in = {line.split("/")[3] for line in lines if line.startswith("!/data/train/") and line.endswith("/*")}
    assert let_in == set(COMMITTED)
    assert "/data/train/*/*" in lines and "!/data/train/*/SOURCE.md" in lines
    for name in ORIGINS:
        note = (TRAIN / name / "SOURCE.md").read_text(encoding="utf-8")
        assert ("**Not committed**" in note) != (name in COMMITTED), name
