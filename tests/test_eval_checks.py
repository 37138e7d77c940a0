"""``taskvec eval checks`` on the tiny random BERT over small sets written here in the layouts of ../shared/data:
every kind's sets, base against a random adapter, the harness's figures where the protocols meet, and --card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from data_files import FRUIT, METAL, make_beir, make_newsgroups, texts_of
from helpers import make_random_adapter

from taskvec.eval import cli, datasets, runners
from taskvec.eval.checks import CHECKS
from taskvec.eval.variants import Variant

REPO = Path(__file__).resolve().parents[1]
NEWSGROUPS = {
    "rec.autos": ["engine noise", "brake pads", "oil change", "tyre pressure"],
    "sci.space": ["orbit of mars", "moon landing", "rocket fuel", "space station"],
    "comp.graphics": ["image formats", "ray tracing", "colour palettes", "jpeg quality"],
}  # threads of both 2-folds in every group, so each fold can train a classifier


def _sts_rows(split: str) -> str:
    """Pairs of every genre and source the checks name; scores rise with the words two sentences share."""
    genres = [("main-news", "headlines"), ("main-captions", "MSRvid"), ("main-forums", "track5.en-en")]
    if split == "train":
        genres[2] = ("main-forum", "deft-forum")
    fruit, metal = texts_of(FRUIT, 12), texts_of(METAL, 12)
    rows = []
    for i in range(12):
        genre, source = genres[i % 3]
        second = fruit[(i + 1) % 12] if i % 2 else metal[i]
        score = 4.5 if i % 4 == 0 else 2.0 if i % 2 else 0.5
        rows.append(f"{genre}\t{source}\t2012\t{i:04d}\t{score}\t{fruit[i]} \t{fruit[i] if i % 4 == 0 else second}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def check_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("checks-data")
    make_beir(root / "scifact")
    (root / "stsbenchmark").mkdir()
    for split in ("train", "dev", "test"):
        (root / "stsbenchmark" / f"sts-{split}.csv").write_text(_sts_rows(split))
    fruit, metal = texts_of(FRUIT, 8), texts_of(METAL, 8)
    twitter = [
        f"{f} \t{f if i % 2 else m} \t({5 if i % 2 else 1 + i % 3},6)\thttps://t.co/{i}"
        for i, (f, m) in enumerate(zip(fruit, metal, strict=True))
    ]
    (root / "twitter_url_corpus").mkdir()
    (root / "twitter_url_corpus" / "Twitter_URL_Corpus_test.txt").write_text("\n".join(twitter) + "\n")
    posts = {}
    for group, subjects in NEWSGROUPS.items():
        for i, subject in enumerate(subjects):
            words = " ".join(subject.split() * 3)
            posts[f"{group}/{i}"] = f"From: a@b\nSubject: {subject}\n\n{words} in {group}\n"
            posts[f"{group}/{i}0"] = f"Subject: Re: {subject}\n\nmore on {words}\n"
    make_newsgroups(root / "twenty_newsgroups", posts)
    (root / "emotion").mkdir()
    for split in ("train", "test"):
        lines = [f"{t};joy" for t in fruit] + [f"{t};anger" for t in metal]
        (root / "emotion" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    (root / "amazon_counterfactual").mkdir()
    for split in ("train", "test"):
        lines = ["sentence\tis_counterfactual"] + [f"If only {t}\t1" for t in fruit] + [f"{t} works\t0" for t in metal]
        (root / "amazon_counterfactual" / f"EN_{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_random_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "random", seed=3)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TASKVEC_CHECKS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _checks(tiny_model_dir: Path, root: Path, *args: str) -> list[str]:
    return ["checks", *args, "--data-root", str(root), "--model", str(tiny_model_dir), "--draws", "2"]


@pytest.mark.parametrize("kind", ["retrieval", "similarity", "classification", "clustering"])
def test_checks_measure_every_set_of_the_kind_base_and_adapter(
    tiny_model_dir: Path, check_root: Path, adapter: Path, tmp_path: Path, capsys: pytest.CaptureFixture, kind: str
) -> None:
    out = tmp_path / "checks.json"
    argv = _checks(
        tiny_model_dir, check_root, "--task", kind, "--adapter", str(adapter), "--json", "--json-out", str(out)
    )
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    results = json.loads(lines[-1])
    assert list(results) == [name for name, check in CHECKS.items() if check.kind == kind]
    assert results == json.loads(out.read_text())
    assert len(lines) == len(results) + 1  # one line per set as it finishes, then the JSON
    for row in results.values():
        assert set(row) == {"metric", "base", "adapter"}
        assert all(-1.0 <= row[mode] <= 1.0 for mode in ("base", "adapter"))


def test_checks_score_as_the_harness_where_the_protocols_meet(
    tiny_model_dir: Path, tiny_encoder, check_root: Path, capsys: pytest.CaptureFixture, _cache: Path
) -> None:
    only = ["--only", "SciFact", "STS-B test (home)", "--modes", "base", "--json"]
    for task in ("retrieval", "similarity"):
        assert cli.main(_checks(tiny_model_dir, check_root, "--task", task, *only)) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{"))
    none = Variant("none", "none")
    sts = runners.run_variant("similarity", tiny_encoder, none, datasets.load_similarity(check_root / "stsbenchmark"))
    scifact = runners.run_variant("retrieval", tiny_encoder, none, datasets.load_retrieval(check_root / "scifact"))
    assert second == {"STS-B test (home)": {"metric": "Spearman", "base": round(sts.value, 5)}}
    assert (
        first == {"SciFact test (home)": {"metric": "nDCG@10", "base": round(scifact.value, 5)}} and scifact.value == 1
    )
    cached = sorted(_cache.iterdir())
    assert cached  # the vectors were kept; a second run reads them and gives the same figure
    assert cli.main(_checks(tiny_model_dir, check_root, "--task", "similarity", *only)) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == second
    assert sorted(_cache.iterdir()) == cached


def test_card_records_the_figures_and_the_command(
    tiny_model_dir: Path, check_root: Path, adapter: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = Path(shutil.copytree(adapter, tmp_path / "similarity"))
    shutil.copy(REPO / "adapters" / "all-MiniLM-L6-v2" / "similarity" / "taskvec_training.json", folder)
    argv = _checks(tiny_model_dir, check_root, "--task", "similarity", "--adapter", str(folder), "--card")
    assert cli.main([*argv, "--only", "TwitterURL", "--json"]) == 0
    out = capsys.readouterr().out
    assert f"recorded in {folder / 'README.md'}" in out
    results = json.loads(out.strip().splitlines()[-1])
    info = json.loads((folder / "taskvec_training.json").read_text())
    assert {name: info["test"][name] for name in results} == results  # the shipped card's other rows stay
    votes = results["TwitterURL test, n of 6 (held-out)"]
    assert votes["adapter"] != votes["base"]  # the adapter was applied: it moves this set's figure
    command = f"taskvec eval checks --task similarity --adapter {folder} --card"
    assert command in info["test_note"] and command in (folder / "README.md").read_text()


def test_checks_refuse_what_they_cannot_do(
    tiny_model_dir: Path, check_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(_checks(tiny_model_dir, check_root, "--task", "similarity", "--card")) == 2
    assert "Pass --adapter" in capsys.readouterr().err
    assert cli.main(_checks(tiny_model_dir, tmp_path / "nowhere", "--task", "similarity", "--only", "STS-B test")) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Fix:" in err
    # --only matches names in any case; one that matches no set of the kind is refused with the names it could take.
    assert cli.main(_checks(tiny_model_dir, check_root, "--task", "retrieval", "--only", "scifact", "--json")) == 0
    assert list(json.loads(capsys.readouterr().out.splitlines()[-1])) == ["SciFact test (home)"]
    assert cli.main(_checks(tiny_model_dir, check_root, "--task", "retrieval", "--only", "SciFcat")) == 2
    err = capsys.readouterr().err
    assert "--only SciFcat matches none of the retrieval checks" in err and "SciFact test (home)" in err
