"""Loaders for evaluation data: one generic JSON Lines layout per kind, plus the original layouts of the sets in
``../shared/data``, read in place (some of those sets are non-commercial and must never be copied into the repo).

Every loader takes a folder, finds which layout it holds and returns a plain dataclass; runners need nothing else.
Bad input raises :class:`~taskvec.errors.InvalidInputError` naming the file, line and field, and the fix.

Generic layouts (``.csv`` and ``.tsv`` with a header row are accepted wherever ``.jsonl`` is):

- retrieval: BEIR -- ``corpus.jsonl`` ({"_id", "title", "text"}), ``queries.jsonl`` ({"_id", "text"}),
  ``qrels/test.tsv`` (query-id, corpus-id, score; header row optional)
- similarity: ``test.jsonl`` of {"text1", "text2", "score"}
- classification: ``train.jsonl`` and ``test.jsonl`` of {"text", "label"}
- clustering: ``test.jsonl`` of {"text", "label"}, or MTEB's {"sentences": [...], "labels": [...]}, one set per record
- pairs: ``test.jsonl`` of {"text1", "text2", "label"}, label 0 or 1

MTEB's and Hugging Face's column names are accepted too: ``sentence`` for ``text``, ``sentence1``/``sentence2``
(or SICK's ``sentence_A``/``sentence_B``) for ``text1``/``text2`` (e.g. an STS or SICK-R split saved with
``Dataset.to_json``), ``label``, ``similarity_score`` or ``relatedness_score`` for a similarity ``score``, and MTEB's
pair-classification record of parallel ``sentence1``/``sentence2``/``labels`` lists.
"""

from __future__ import annotations

import csv
import json
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from taskvec.errors import InvalidInputError

GENERIC_SUFFIXES = (".jsonl", ".csv", ".tsv")


@dataclass(frozen=True)
class RetrievalData:
    """A BEIR-style test collection: documents, the queries that have judgements, and the judgements."""

    name: str
    layout: str
    doc_ids: list[str]
    docs: list[str]  # title + " " + text, stripped (what MTEB encodes)
    queries: dict[str, str]  # only the queries that appear in the qrels, in qrels order
    qrels: dict[str, dict[str, int]]


@dataclass(frozen=True)
class PairData:
    """Text pairs with a target each: a gold score (similarity) or a 0/1 label (pair classification)."""

    name: str
    layout: str
    texts1: list[str]
    texts2: list[str]
    targets: list[float]


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: list[str]


@dataclass(frozen=True)
class ClassificationData:
    name: str
    layout: str
    train: LabelledTexts
    test: LabelledTexts
    samples_per_label: int | None  # the layout's MTEB protocol value; None where the layout has none


@dataclass(frozen=True)
class ClusteringData:
    name: str
    layout: str
    test: LabelledTexts  # every text of every set, in order
    set_sizes: tuple[int, ...] = ()  # MTEB's layout: ``test`` is several sets, clustered one by one; () = one set

    def sets(self) -> list[tuple[int, int]]:
        """(start, end) of each set within ``test``."""
        sizes = self.set_sizes or (len(self.test.texts),)
        ends = list(accumulate(sizes))
        return [(end - size, end) for size, end in zip(sizes, ends, strict=True)]


# ------------------------------------------------------------------------------------------------ reading rows
Row = tuple[str, dict[str, Any]]  # ("file:line", fields)


def _rows(path: Path) -> Iterator[Row]:
    """The records of a .jsonl, .csv or .tsv file, each with where it came from (for error messages).

    Both CSV and TSV use standard CSV quoting (as pandas and Hugging Face datasets read them): the Amazon
    counterfactual TSVs quote the sentences that contain quotes, and MTEB's copy holds the unquoted text.
    """
    if path.suffix == ".jsonl":
        yield from _jsonl(path)
        return
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ",")
        for record in reader:
            yield f"{path}:{reader.line_num}", record


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its line end) for every non-blank line of a UTF-8 text file."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                yield number, line.rstrip("\r\n")


def _jsonl(path: Path) -> Iterator[Row]:
    for number, line in _lines(path):
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"{where} is not valid JSON ({exc.msg}).", field=str(path), fix="Write one JSON object per line."
            ) from None
        if not isinstance(record, dict):
            raise InvalidInputError(
                f"{where} holds a {type(record).__name__}, not a JSON object.",
                field=str(path),
                fix="Write one JSON object per line.",
            )
        yield where, record


def _field(row: Row, key: str, expected: str) -> Any:
    where, record = row
    if key not in record or record[key] is None:
        raise InvalidInputError(
            f"{where} has no {key!r} field (found: {', '.join(map(str, record)) or 'nothing'}).",
            field=key,
            fix=f"Each record needs {expected}.",
        )
    return record[key]


def _text(row: Row, key: str, expected: str) -> str:
    value = _field(row, key, expected)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(
            f"{row[0]}: field {key!r} must be a non-empty string, got {value!r}.",
            field=key,
            fix="Remove the record or give it text.",
        )
    return value


def _number(row: Row, key: str, expected: str) -> float:
    value = _field(row, key, expected)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{row[0]}: field {key!r} must be a number, got {value!r}.", field=key, fix=f"Each record needs {expected}."
        ) from None


def _binary(row: Row, key: str, expected: str) -> float:
    value = _number(row, key, expected)
    if value not in (0.0, 1.0):
        raise InvalidInputError(
            f"{row[0]}: field {key!r} must be 0 or 1, got {value!r}.", field=key, fix="Label pairs 1 (match) or 0."
        )
    return value


# ------------------------------------------------------------------------------------------- finding layouts
def _folder(path: str | Path) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InvalidInputError(
            f"Data folder {str(folder)!r} does not exist or is not a folder.",
            field="data",
            fix="Pass --data the folder that holds the data set's files.",
        )
    return folder


def _generic(folder: Path, split: str) -> Path | None:
    """``split.jsonl`` (or .csv/.tsv) in ``folder``, if there is one."""
    return next((folder / f"{split}{s}" for s in GENERIC_SUFFIXES if (folder / f"{split}{s}").is_file()), None)


def _no_layout(folder: Path, kind: str, layouts: list[str]) -> InvalidInputError:
    return InvalidInputError(
        f"{str(folder)!r} holds no {kind} data set in a layout this harness reads.",
        field="data",
        fix="Provide one of: " + "; ".join(layouts) + ".",
    )


# Column names of the same field in MTEB's and Hugging Face's exports, accepted in the generic layouts; the first is
# the one errors name.
TEXT_KEYS = ("text", "sentence")
TEXT1_KEYS = ("text1", "sentence1", "sentence_A")
TEXT2_KEYS = ("text2", "sentence2", "sentence_B")
# A similarity set's gold score: MTEB's STS sets say "score", GLUE's STS-B "label", stsb_multi_mt "similarity_score",
# SICK "relatedness_score". Spearman ignores the scale, so 0-1 and 0-5 scores both work.
SCORE_KEYS = ("score", "similarity_score", "relatedness_score", "label")


def _key(row: Row, keys: tuple[str, ...]) -> str:
    """The first of ``keys`` the record has, else the first (so the error names the documented field)."""
    return next((k for k in keys if k in row[1]), keys[0])


def _expected(keys: tuple[str, ...]) -> str:
    return repr(keys[0]) + "".join(f" (or {k!r})" for k in keys[1:])


def _labelled(path: Path, text_keys: tuple[str, ...] = TEXT_KEYS, label_key: str = "label") -> LabelledTexts:
    expected = f"{_expected(text_keys)} and {label_key!r} fields"
    texts, labels = [], []
    for row in _rows(path):
        texts.append(_text(row, _key(row, text_keys), expected))
        labels.append(str(_field(row, label_key, expected)).strip())
    if not texts:
        raise InvalidInputError(f"{path} holds no records.", field=str(path), fix="Add labelled texts to it.")
    return LabelledTexts(texts, labels)


def _pairs(
    folder: Path, path: Path, layout: str, target_keys: tuple[str, ...], parse: Callable[[Row, str, str], float]
) -> PairData:
    expected = f"{_expected(TEXT1_KEYS)}, {_expected(TEXT2_KEYS)} and {_expected(target_keys)} fields"
    texts1, texts2, targets = [], [], []
    for row in _rows(path):
        keys = (_key(row, TEXT1_KEYS), _key(row, TEXT2_KEYS), _key(row, target_keys))
        for item in _list_items(row, keys, expected):
            texts1.append(_text(item, keys[0], expected))
            texts2.append(_text(item, keys[1], expected))
            targets.append(parse(item, keys[2], expected))
    if not texts1:
        raise InvalidInputError(f"{path} holds no pairs.", field=str(path), fix="Add text pairs to it.")
    return PairData(folder.name, layout, texts1, texts2, targets)


def _list_items(row: Row, keys: tuple[str, ...], expected: str) -> Iterator[Row]:
    """The record itself, or, where its fields hold lists (MTEB's pair-classification layout: one record of
    parallel lists), one record per position."""
    where, record = row
    if not isinstance(record.get(keys[0]), list):
        yield row
        return
    columns = [record.get(k) for k in keys]
    if not all(isinstance(c, list) and len(c) == len(columns[0]) for c in columns):
        raise InvalidInputError(
            f"{where}: {', '.join(map(repr, keys))} must all be lists of the same length, or all single values.",
            field=keys[0],
            fix=f"Each record needs {expected}.",
        )
    for i, values in enumerate(zip(*columns, strict=True)):
        yield f"{where} item {i}", dict(zip(keys, values, strict=True))


# ----------------------------------------------------------------------------------------------- retrieval
def load_retrieval(path: str | Path, split: str = "test") -> RetrievalData:
    """A BEIR folder; documents become ``(title + " " + text).strip()`` as in MTEB."""
    folder = _folder(path)
    corpus, queries, qrels_file = folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"
    missing = [str(p.relative_to(folder)) for p in (corpus, queries, qrels_file) if not p.is_file()]
    if missing:
        raise InvalidInputError(
            f"{str(folder)!r} is not a BEIR folder: {', '.join(missing)} missing.",
            field="data",
            fix=f"A retrieval data set needs corpus.jsonl, queries.jsonl and qrels/{split}.tsv (BEIR layout).",
        )
    qrels = _read_qrels(qrels_file)
    doc_ids, docs = [], []
    expected = "'_id' and 'text' fields (and optionally 'title')"
    for row in _jsonl(corpus):
        doc_ids.append(str(_field(row, "_id", expected)))
        doc = f"{row[1].get('title') or ''} {_field(row, 'text', expected)}".strip()
        if not doc:
            raise InvalidInputError(
                f"{row[0]}: document {doc_ids[-1]!r} has neither title nor text.",
                field="text",
                fix="Remove the document or give it text.",
            )
        docs.append(doc)
    all_queries = {
        str(_field(row, "_id", "'_id' and 'text' fields")): _text(row, "text", "'_id' and 'text' fields")
        for row in _jsonl(queries)
    }
    unknown = [q for q in qrels if q not in all_queries]
    if unknown:
        raise InvalidInputError(
            f"{qrels_file} judges {len(unknown)} queries that {queries} lacks (e.g. {unknown[0]!r}).",
            field="qrels",
            fix="Use the queries file that belongs to these qrels.",
        )
    return RetrievalData(folder.name, "beir", doc_ids, docs, {q: all_queries[q] for q in qrels}, qrels)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for number, line in _lines(path):
        fields = line.split("\t")
        if len(fields) < 3:
            raise InvalidInputError(
                f"{path}:{number} has {len(fields)} tab-separated fields, not 3.",
                field="qrels",
                fix="Write each judgement as query-id<TAB>corpus-id<TAB>score.",
            )
        try:
            grade = int(float(fields[-1]))
        except ValueError:
            if number == 1:  # the header row: query-id, corpus-id, score
                continue
            raise InvalidInputError(
                f"{path}:{number}: score {fields[-1]!r} is not a number.",
                field="qrels",
                fix="Give each judgement an integer relevance grade.",
            ) from None
        qrels.setdefault(fields[0], {})[fields[1]] = grade
    if not qrels:
        raise InvalidInputError(f"{path} holds no judgements.", field="qrels", fix="Add query-document judgements.")
    return qrels


# ---------------------------------------------------------------------------------------------- similarity
def load_similarity(path: str | Path) -> PairData:
    """Generic ``test.jsonl`` of {text1, text2, score}, or the STS Benchmark's ``sts-test.csv``."""
    folder = _folder(path)
    if generic := _generic(folder, "test"):
        return _pairs(folder, generic, "generic", SCORE_KEYS, _number)
    if (folder / "sts-test.csv").is_file():
        return _read_sts_benchmark(folder, folder / "sts-test.csv")
    raise _no_layout(folder, "similarity", ["test.jsonl of {text1, text2, score}", "sts-test.csv (STS Benchmark)"])


def _read_sts_benchmark(folder: Path, path: Path) -> PairData:
    """Tab-separated, not real CSV: genre, file, year, id, score, sentence1, sentence2[, sources...]."""
    texts1, texts2, scores = [], [], []
    for number, line in _lines(path):
        fields = line.split("\t")
        try:
            score, s1, s2 = float(fields[4]), fields[5], fields[6]
        except (IndexError, ValueError):
            raise InvalidInputError(
                f"{path}:{number} is not an STS Benchmark row (genre, file, year, id, score, s1, s2).",
                field=str(path),
                fix="Use the sts-*.csv files of the original distribution, or the generic test.jsonl layout.",
            ) from None
        texts1.append(s1)
        texts2.append(s2)
        scores.append(score)
    return PairData(folder.name, "stsbenchmark", texts1, texts2, scores)


# ------------------------------------------------------------------------------------------ classification
# MTEB task metadata: AmazonCounterfactualClassification samples 32 training texts per label, Emotion 16.
_AMAZON_SAMPLES_PER_LABEL = 32
_EMOTION_SAMPLES_PER_LABEL = 16


def load_classification(path: str | Path) -> ClassificationData:
    """Generic train/test files of {text, label}; the Amazon counterfactual ``EN_*.tsv``; or emotion ``*.txt``."""
    folder = _folder(path)
    train, test = _generic(folder, "train"), _generic(folder, "test")
    if train or test:
        if not (train and test):
            raise InvalidInputError(
                f"{str(folder)!r} has {(train or test).name} but no {'test' if train else 'train'} split.",
                field="data",
                fix="Classification needs both train.jsonl and test.jsonl (or .csv/.tsv) of {text, label}.",
            )
        return ClassificationData(folder.name, "generic", _labelled(train), _labelled(test), None)
    if (folder / "EN_train.tsv").is_file() and (folder / "EN_test.tsv").is_file():
        return ClassificationData(
            folder.name,
            "amazon_counterfactual",
            _labelled(folder / "EN_train.tsv", ("sentence",), "is_counterfactual"),
            _labelled(folder / "EN_test.tsv", ("sentence",), "is_counterfactual"),
            _AMAZON_SAMPLES_PER_LABEL,
        )
    if (folder / "train.txt").is_file() and (folder / "test.txt").is_file():
        return ClassificationData(
            folder.name,
            "emotion",
            _read_semicolon_labelled(folder / "train.txt"),
            _read_semicolon_labelled(folder / "test.txt"),
            _EMOTION_SAMPLES_PER_LABEL,
        )
    raise _no_layout(
        folder,
        "classification",
        [
            "train.jsonl and test.jsonl of {text, label} (or .csv/.tsv)",
            "EN_train.tsv and EN_test.tsv (Amazon counterfactual: sentence, is_counterfactual)",
            "train.txt and test.txt of text;label lines (emotion)",
        ],
    )


def _read_semicolon_labelled(path: Path) -> LabelledTexts:
    """``text;label`` per line, split on the last ';' (texts may contain ';'); blank lines skipped."""
    texts, labels = [], []
    for number, line in _lines(path):
        text, sep, label = line.rpartition(";")
        if not sep or not text.strip() or not label.strip():
            raise InvalidInputError(
                f"{path}:{number} is not a 'text;label' line.",
                field=str(path),
                fix="Write each example as text;label, or use the generic train.jsonl/test.jsonl layout.",
            )
        texts.append(text)
        labels.append(label.strip())
    return LabelledTexts(texts, labels)


# ---------------------------------------------------------------------------------------------- clustering
_NEWSGROUPS_TAR = "20news-bydate-test.tar.gz"


def load_clustering(path: str | Path) -> ClusteringData:
    """Generic ``test.jsonl`` of {text, label}; MTEB's ``test.jsonl`` of {sentences: [...], labels: [...]}, one set
    per record, each clustered on its own; or the 20 Newsgroups bydate tar (Subject lines, as MTEB clusters)."""
    folder = _folder(path)
    if generic := _generic(folder, "test"):
        first = next(_rows(generic), None)
        if first is not None and "sentences" in first[1]:
            return _read_clustering_sets(folder, generic)
        return ClusteringData(folder.name, "generic", _labelled(generic))
    if (folder / _NEWSGROUPS_TAR).is_file():
        return ClusteringData(folder.name, "20newsgroups_subjects", _read_newsgroup_subjects(folder / _NEWSGROUPS_TAR))
    raise _no_layout(
        folder,
        "clustering",
        [
            "test.jsonl of {text, label}",
            "test.jsonl of {sentences, labels} lists, one set per record (MTEB)",
            f"{_NEWSGROUPS_TAR} (20 Newsgroups, bydate layout)",
        ],
    )


def _read_clustering_sets(folder: Path, path: Path) -> ClusteringData:
    expected = "'sentences' and 'labels' lists of the same length (one clustering set per record)"
    texts: list[str] = []
    labels: list[str] = []
    sizes: list[int] = []
    for row in _rows(path):
        if not isinstance(row[1].get("sentences"), list):
            raise InvalidInputError(f"{row[0]}: 'sentences' is not a list.", field="sentences", fix=f"Give {expected}.")
        items = list(_list_items(row, ("sentences", "labels"), expected))
        if not items:
            raise InvalidInputError(f"{row[0]} holds an empty set.", field="sentences", fix="Remove the record.")
        for item in items:
            texts.append(_text(item, "sentences", expected))
            labels.append(str(_field(item, "labels", expected)).strip())
        sizes.append(len(items))
    return ClusteringData(folder.name, "mteb_sets", LabelledTexts(texts, labels), tuple(sizes))


def _read_newsgroup_subjects(path: Path) -> LabelledTexts:
    """The ``Subject:`` header of every post (kept as written, "Re: " included), labelled by its newsgroup folder."""
    texts, labels = [], []
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if not member.isfile():
                continue
            parts = member.name.split("/")
            stream = archive.extractfile(member)
            if len(parts) < 3 or stream is None:
                continue
            header = stream.read().decode("latin-1").split("\n\n", 1)[0]
            subject = next(
                (line[len("Subject:") :].strip() for line in header.split("\n") if line.startswith("Subject:")), ""
            )
            if not subject:
                raise InvalidInputError(
                    f"{path}: post {member.name!r} has no Subject: header.",
                    field=str(path),
                    fix="Use the bydate distribution of 20 Newsgroups, or the generic test.jsonl layout.",
                )
            texts.append(subject)
            labels.append(parts[-2])
    if not texts:
        raise InvalidInputError(
            f"{path} holds no posts in <newsgroup>/<id> folders.", field=str(path), fix="Use 20news-bydate-test.tar.gz."
        )
    return LabelledTexts(texts, labels)


# -------------------------------------------------------------------------------------------------- pairs
_TWITTER_URL_FILE = "Twitter_URL_Corpus_test.txt"
_VOTES = re.compile(r"\((\d+),\s*(\d+)\)")


def load_pairs(path: str | Path) -> PairData:
    """Generic ``test.jsonl`` of {text1, text2, label}, or the Twitter URL Corpus test file."""
    folder = _folder(path)
    if generic := _generic(folder, "test"):
        return _pairs(folder, generic, "generic", ("label", "labels"), _binary)
    if (folder / _TWITTER_URL_FILE).is_file():
        return _read_twitter_url(folder, folder / _TWITTER_URL_FILE)
    raise _no_layout(
        folder, "pairs", ["test.jsonl of {text1, text2, label}", f"{_TWITTER_URL_FILE} (Twitter URL Corpus)"]
    )


def _read_twitter_url(folder: Path, path: Path) -> PairData:
    """``s1 TAB s2 TAB (n,6) TAB url``: n of 6 annotators said paraphrase; the corpus README's rule keeps n<=2 as
    0 and n>=4 as 1 and drops n==3. The label is the third field (some rows have an extra empty column later)."""
    texts1, texts2, labels = [], [], []
    for number, line in _lines(path):
        fields = line.split("\t")
        votes = _VOTES.fullmatch(fields[2].strip()) if len(fields) >= 3 else None
        if votes is None:
            raise InvalidInputError(
                f"{path}:{number} is not 'sentence1<TAB>sentence2<TAB>(n,6)<TAB>url'.",
                field=str(path),
                fix="Use the corpus's own test file, or the generic test.jsonl layout.",
            )
        yes = int(votes.group(1))
        if yes == 3:
            continue
        texts1.append(fields[0])
        texts2.append(fields[1])
        labels.append(1.0 if yes >= 4 else 0.0)
    return PairData(folder.name, "twitter_url_corpus", texts1, texts2, labels)


LOADERS: dict[str, Callable[[Path], Any]] = {
    "retrieval": load_retrieval,
    "similarity": load_similarity,
    "classification": load_classification,
    "clustering": load_clustering,
    "pairs": load_pairs,
}
