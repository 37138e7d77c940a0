"""Small files in the original layouts of the sets in ../shared/data, with the quirks their SOURCE.md describe, for
the data layer's, the harness's and the checks' tests (the real sets are never copied into the repo)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def texts_of(words: list[str], count: int) -> list[str]:
    """``count`` distinct texts made only of ``words``."""
    return [" ".join(words[(i + j) % len(words)] for j in range(3 + i % 3)) for i in range(count)]


FRUIT = ["apple", "banana", "cherry", "mango", "pear", "plum", "grape", "lemon"]
METAL = ["iron", "copper", "zinc", "nickel", "cobalt", "tin", "lead", "silver"]


def make_beir(folder: Path) -> None:
    """Each query's text equals its relevant document's title + " " + text, so exact search ranks it first."""
    docs = [{"_id": f"d{i}", "title": "", "text": t} for i, t in enumerate(texts_of(FRUIT + METAL, 12))]
    docs.append({"_id": "d99", "title": "copper kettle", "text": "polished at home"})
    write_jsonl(folder / "corpus.jsonl", docs)
    queries = [
        {"_id": "q1", "text": docs[1]["text"], "metadata": {}},
        {"_id": "q2", "text": docs[5]["text"]},
        {"_id": "q3", "text": "copper kettle polished at home"},
        {"_id": "q4", "text": "an unjudged query"},
    ]
    write_jsonl(folder / "queries.jsonl", queries)
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td5\t1\nq3\td99\t1\n")


_AMAZON = 'sentence\tis_counterfactual\n"""I wish it had ""worked"""""\t1\n' + "It works.\t0\n" * 3
ORIGINAL_FILES = {
    "stsbenchmark/sts-test.csv": (
        'main-captions\tMSRvid\t2012test\t0001\t5.000\tA "quoted" man plays.\tA man plays.\n'
        "main-news\theadlines\t2013\t0002\t1.250\tStocks fall.\tCats sleep.\tsource-a\tsource-b\n"
        "main-news\theadlines\t2013\t0003\t0.000\tIron melts.\tA pear ripens.\n"
    ),
    "amazon_counterfactual/EN_train.tsv": _AMAZON + "If only it were red.\t1\n",
    "amazon_counterfactual/EN_test.tsv": _AMAZON,
    "emotion/train.txt": "i feel great; really;joy\ni am sad;sadness\n\ni feel fine;joy\n",
    "emotion/test.txt": "what a day;joy\ni cry;sadness\n",
    "twitter_url_corpus/Twitter_URL_Corpus_test.txt": (
        "Trump dossier news \tTrump dossier story \t(5,6)\thttps://t.co/a\n"
        "Trump dossier news \tsomething else \t(2,6)\thttps://t.co/a\n"
        "\n"
        "Trump dossier news \ta maybe \t(3,6)\thttps://t.co/a\n"
        "Mars rover lands \tthe rover landed \t(4,6)\t\thttps://t.co/b\n"
    ),
}

NEWSGROUP_POSTS = {
    "rec.autos/1": "From: a@b\nSubject: Re: engine noise\nLines: 2\n\nbody\nSubject: not this one\n",
    "rec.autos/2": "From: a@b\nSubject: brake pads\n\nbody\n",
    "sci.space/3": "Subject: orbit of Mars \xe9t\xe9\nFrom: c@d\n\nbody\n",
}


def make_newsgroups(folder: Path, posts: dict[str, str] = NEWSGROUP_POSTS) -> None:
    """A 20news-bydate-test.tar.gz of ``<top>/<newsgroup>/<id>`` posts (latin-1, as the original)."""
    folder.mkdir(parents=True)
    with tarfile.open(folder / "20news-bydate-test.tar.gz", "w:gz") as archive:
        for name, text in posts.items():
            payload = text.encode("latin-1")
            member = tarfile.TarInfo(f"20news-bydate-test/{name}")
            member.size = len(payload)
            archive.addfile(member, io.BytesIO(payload))


def write_original_layouts(root: Path) -> Path:
    """Every set of the suite under ``root`` in its original layout."""
    make_beir(root / "scifact")
    for name, text in ORIGINAL_FILES.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(text)
    make_newsgroups(root / "twenty_newsgroups")
    return root
