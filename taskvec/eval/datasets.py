"""Evaluation data: which layout a folder holds, per task kind, read with the readers of :mod:`taskvec.data`.

One generic layout per kind, plus the original layouts of the sets in ``../shared/data``, read in place (some of
those sets are non-commercial and must never be copied into the repo). Every loader takes a folder and returns a
plain dataclass; runners need nothing else. Bad input raises :class:`~taskvec.errors.DataError` (an
:class:`~taskvec.errors.InvalidInputError`) naming the file, line and field, and the fix.

Generic layouts (``.csv`` and ``.tsv`` with a header row are accepted wherever ``.jsonl`` is):

- retrieval: BEIR -- ``corpus.jsonl`` ({"_id", "title", "text"}), ``queries.jsonl`` ({"_id", "text"}),
  ``qrels/test.tsv`` (query-id, corpus-id, score; header row optional)
- similarity: ``test.jsonl`` of {"text1", "text2", "score"}
- classification: ``train.jsonl`` and ``test.jsonl`` of {"text", "label"}
- clustering: ``test.jsonl`` of {"text", "label"}, or MTEB's {"sentences": [...], "labels": [...]}, one set per record
- pairs: ``test.jsonl`` of {"text1", "text2", "label"}, label 0 or 1

MTEB's and Hugging Face's column names are accepted too (see :mod:`taskvec.data.fields`): ``sentence`` for
``text``, ``sentence1``/``sentence2`` (or SICK's ``sentence_A``/``sentence_B``) for ``text1``/``text2``, ``label``,
``similarity_score`` or ``relatedness_score`` for a similarity ``score``, and MTEB's pair-classification record of
parallel ``sentence1``/``sentence2``/``labels`` lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from taskvec.data.beir import RetrievalData, read_beir
from taskvec.data.clustering import ClusteringData, holds_clustering_sets, read_clustering_sets
from taskvec.data.labelled import LabelledTexts, read_labelled, read_semicolon_labelled
from taskvec.data.newsgroups import NEWSGROUPS_TAR, read_newsgroup_subjects
from taskvec.data.pairs import (
    PARAPHRASE_VOTES,
    TWITTER_URL_FILE,
    PairData,
    read_binary_pairs,
    read_scored_pairs,
    read_twitter_url,
)
from taskvec.data.sts import read_sts_benchmark
from taskvec.errors import DataError

GENERIC_SUFFIXES = (".jsonl", ".csv", ".tsv")

__all__ = [
    "LOADERS",
    "ClassificationData",
    "ClusteringData",
    "LabelledTexts",
    "PairData",
    "RetrievalData",
    "load_classification",
    "load_clustering",
    "load_pairs",
    "load_retrieval",
    "load_similarity",
]


@dataclass(frozen=True)
class ClassificationData:
    name: str
    layout: str
    train: LabelledTexts
    test: LabelledTexts
    samples_per_label: int | None  # the layout's MTEB protocol value; None where the layout has none


def _folder(path: str | Path) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(
            f"Data folder {str(folder)!r} does not exist or is not a folder.",
            field="data",
            fix="Pass --data the folder that holds the data set's files.",
        )
    return folder


def _generic(folder: Path, split: str) -> Path | None:
    """``split.jsonl`` (or .csv/.tsv) in ``folder``, if there is one."""
    return next((folder / f"{split}{s}" for s in GENERIC_SUFFIXES if (folder / f"{split}{s}").is_file()), None)


def _no_layout(folder: Path, kind: str, layouts: list[str]) -> DataError:
    return DataError(
        f"{str(folder)!r} holds no {kind} data set in a layout this harness reads.",
        field="data",
        fix="Provide one of: " + "; ".join(layouts) + ".",
    )


def load_retrieval(path: str | Path, split: str = "test") -> RetrievalData:
    """A BEIR folder; documents become ``(title + " " + text).strip()`` as in MTEB."""
    return read_beir(_folder(path), split)


def load_similarity(path: str | Path) -> PairData:
    """Generic ``test.jsonl`` of {text1, text2, score}, or the STS Benchmark's ``sts-test.csv``."""
    folder = _folder(path)
    if generic := _generic(folder, "test"):
        return read_scored_pairs(generic, folder.name)
    if (folder / "sts-test.csv").is_file():
        return read_sts_benchmark(folder / "sts-test.csv", name=folder.name)
    raise _no_layout(folder, "similarity", ["test.jsonl of {text1, text2, score}", "sts-test.csv (STS Benchmark)"])


# MTEB task metadata: AmazonCounterfactualClassification samples 32 training texts per label, Emotion 16.
_AMAZON_SAMPLES_PER_LABEL = 32
_EMOTION_SAMPLES_PER_LABEL = 16


def load_classification(path: str | Path) -> ClassificationData:
    """Generic train/test files of {text, label}; the Amazon counterfactual ``EN_*.tsv``; or emotion ``*.txt``."""
    folder = _folder(path)
    train, test = _generic(folder, "train"), _generic(folder, "test")
    if train or test:
        if not (train and test):
            raise DataError(
                f"{str(folder)!r} has {(train or test).name} but no {'test' if train else 'train'} split.",
                field="data",
                fix="Classification needs both train.jsonl and test.jsonl (or .csv/.tsv) of {text, label}.",
            )
        return ClassificationData(folder.name, "generic", read_labelled(train), read_labelled(test), None)
    amazon = folder / "EN_train.tsv", folder / "EN_test.tsv"
    if all(p.is_file() for p in amazon):  # columns sentence, is_counterfactual
        train_texts, test_texts = (read_labelled(p) for p in amazon)
        return ClassificationData(
            folder.name, "amazon_counterfactual", train_texts, test_texts, _AMAZON_SAMPLES_PER_LABEL
        )
    emotion = folder / "train.txt", folder / "test.txt"
    if all(p.is_file() for p in emotion):
        train_texts, test_texts = (read_semicolon_labelled(p) for p in emotion)
        return ClassificationData(folder.name, "emotion", train_texts, test_texts, _EMOTION_SAMPLES_PER_LABEL)
    raise _no_layout(
        folder,
        "classification",
        [
            "train.jsonl and test.jsonl of {text, label} (or .csv/.tsv)",
            "EN_train.tsv and EN_test.tsv (Amazon counterfactual: sentence, is_counterfactual)",
            "train.txt and test.txt of text;label lines (emotion)",
        ],
    )


def load_clustering(path: str | Path) -> ClusteringData:
    """Generic ``test.jsonl`` of {text, label}; MTEB's ``test.jsonl`` of {sentences: [...], labels: [...]}, one set
    per record, each clustered on its own; or the 20 Newsgroups bydate tar (Subject lines, as MTEB clusters)."""
    folder = _folder(path)
    if generic := _generic(folder, "test"):
        if holds_clustering_sets(generic):
            return read_clustering_sets(generic, folder.name)
        return ClusteringData(folder.name, "generic", read_labelled(generic))
    if (folder / NEWSGROUPS_TAR).is_file():
        return ClusteringData(folder.name, "20newsgroups_subjects", read_newsgroup_subjects(folder / NEWSGROUPS_TAR))
    raise _no_layout(
        folder,
        "clustering",
        [
            "test.jsonl of {text, label}",
            "test.jsonl of {sentences, labels} lists, one set per record (MTEB)",
            f"{NEWSGROUPS_TAR} (20 Newsgroups, bydate layout)",
        ],
    )


def load_pairs(path: str | Path) -> PairData:
    """Generic ``test.jsonl`` of {text1, text2, label}, or the Twitter URL Corpus test file (a pair is a
    paraphrase when at least 4 of its 6 annotators said so)."""
    folder = _folder(path)
    if generic := _generic(folder, "test"):
        return read_binary_pairs(generic, folder.name)
    if (folder / TWITTER_URL_FILE).is_file():
        votes = read_twitter_url(folder / TWITTER_URL_FILE, folder.name)
        return replace(votes, targets=[1.0 if n >= PARAPHRASE_VOTES else 0.0 for n in votes.targets])
    raise _no_layout(
        folder, "pairs", ["test.jsonl of {text1, text2, label}", f"{TWITTER_URL_FILE} (Twitter URL Corpus)"]
    )


LOADERS: dict[str, Callable[[Path], Any]] = {
    "retrieval": load_retrieval,
    "similarity": load_similarity,
    "classification": load_classification,
    "clustering": load_clustering,
    "pairs": load_pairs,
}
