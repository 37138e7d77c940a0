"""Training data for task adapters: a ``--data`` path read with the readers of :mod:`taskvec.data`, in the shape the
task kind trains on, and a seeded validation carve-out.

Every source becomes one of three shapes, chosen by the task kind being trained:

* ``PairSet`` (retrieval, code): queries with their relevant documents, a corpus for validation, optional hard
  negatives. In-batch negatives need nothing more.
* ``ScoredSet`` (similarity): sentence pairs with a graded score, for CoSENT / AnglE.
* ``LabelledSet`` (classification, clustering): texts with a label, for supervised contrastive loss.

Only training splits are read: a BEIR folder gives ``qrels/train.tsv``, never ``test.tsv``; files are read where
they lie and nothing is copied. The validation split is carved from the training data by a seeded hash of a
*group* key (a query, a pair, a text, or a discussion thread), so near-duplicates never straddle the split.

A path may end in ``#K/N`` to keep only fold K of N (0-based) of a source, folds drawn by the same group hash. That
is how a clean part of a set can be trained on while the rest stays held out (e.g. 20 Newsgroups threads). An STS
Benchmark file may end in ``#genre=G`` to keep one genre (news, captions, forums), so genres can be mixed as separate
sources with ``--mix-temperature``, or in ``#source=S`` to keep the pairs of named original sets (column 1:
``headlines``, ``MSRpar``, ``images``, ...); either takes a comma-separated list.

Formats recognised by name and content:

* BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/train.tsv``) -> pairs.
* STS Benchmark ``sts-*.csv`` (tab-separated, score in column 4, sentences in 5 and 6) -> scored pairs.
* ``*.tsv`` with a header naming a text and a label column (``sentence``/``text`` and ``label``/``is_counterfactual``
  /``category``/``class``) -> labels.
* ``*.txt`` of ``text;label`` lines (the Emotion data set) -> labels.
* ``*.tar.gz`` of 20 Newsgroups (``<group>/<id>`` files) -> the ``Subject:`` lines labelled by newsgroup.
* ``*.jsonl`` with ``query``/``positive``[/``negatives``], ``text1``/``text2``/``score``, or ``text``/``label`` (and
  their MTEB and Hugging Face names, see :mod:`taskvec.data.fields`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from taskvec.data import fields, splits
from taskvec.data.beir import read_beir
from taskvec.data.labelled import LabelledTexts, read_labelled, read_semicolon_labelled
from taskvec.data.licence import licence_near
from taskvec.data.newsgroups import read_newsgroup_subjects, thread_key
from taskvec.data.pairs import PairData, read_query_positives, read_scored_pairs
from taskvec.data.records import read_records, source_name
from taskvec.data.sts import read_sts_benchmark
from taskvec.errors import DataError

PAIR_KINDS = frozenset({"retrieval", "code"})
SCORED_KINDS = frozenset({"similarity"})
LABEL_KINDS = frozenset({"classification", "clustering"})


# ------------------------------------------------------------------------------------------------ shapes
@dataclass
class PairSet:
    """Retrieval pairs: each query with its relevant document ids, plus the documents they point at."""

    name: str
    queries: dict[str, str]  # query id -> text
    relevant: dict[str, list[str]]  # query id -> relevant doc ids
    corpus: dict[str, str]  # doc id -> text (the whole corpus when known, for validation distractors)
    negatives: dict[str, list[str]] = field(default_factory=dict)  # query id -> hard-negative doc ids
    licence: str = ""

    def __len__(self) -> int:
        return sum(len(v) for v in self.relevant.values())

    def subset(self, query_ids: Iterable[str], name: str | None = None) -> PairSet:
        keep = [q for q in query_ids if q in self.relevant]
        return PairSet(
            name=name or self.name,
            queries={q: self.queries[q] for q in keep},
            relevant={q: self.relevant[q] for q in keep},
            corpus=self.corpus,
            negatives={q: self.negatives[q] for q in keep if q in self.negatives},
            licence=self.licence,
        )

    def group_keys(self) -> list[str]:
        return sorted(self.relevant)


@dataclass
class ScoredSet:
    """Sentence pairs with a graded similarity score (any scale: CoSENT only compares scores)."""

    name: str
    pairs: list[tuple[str, str, float]]
    licence: str = ""

    def __len__(self) -> int:
        return len(self.pairs)

    def subset(self, indices: Iterable[int], name: str | None = None) -> ScoredSet:
        return ScoredSet(name or self.name, [self.pairs[i] for i in indices], self.licence)

    def group_keys(self) -> list[str]:
        # A pair and its mirror image are one group, so (a, b) and (b, a) never straddle the split.
        return ["\t".join(sorted((a, b))) for a, b, _ in self.pairs]

    def as_pairs(self, min_score: float | None = None) -> PairSet:
        """The high-scoring pairs as retrieval pairs (first sentence as query), to mix into retrieval training."""
        if not self.pairs:
            raise DataError(f"{self.name} holds no pairs.", field="data", fix="Pass a source (or fold) with pairs.")
        top = max(s for _, _, s in self.pairs)
        threshold = 0.8 * top if min_score is None else min_score
        queries: dict[str, str] = {}
        relevant: dict[str, list[str]] = {}
        corpus: dict[str, str] = {}
        for i, (a, b, s) in enumerate(self.pairs):
            corpus[f"d{i}"] = b
            if s >= threshold:
                queries[f"q{i}"] = a
                relevant[f"q{i}"] = [f"d{i}"]
        return PairSet(f"{self.name}(pairs>={threshold:g})", queries, relevant, corpus, licence=self.licence)


@dataclass
class LabelledSet:
    """Texts with labels. Labels are local to one source: batches never mix sources."""

    name: str
    texts: list[str]
    labels: list[str]
    groups_: list[str] | None = None  # group key per text (e.g. a thread); the text itself when None
    licence: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Iterable[int], name: str | None = None) -> LabelledSet:
        idx = list(indices)
        groups = [self.groups_[i] for i in idx] if self.groups_ else None
        return LabelledSet(
            name or self.name, [self.texts[i] for i in idx], [self.labels[i] for i in idx], groups, self.licence
        )

    def group_keys(self) -> list[str]:
        return self.groups_ or [t.strip().lower() for t in self.texts]

    @property
    def label_names(self) -> list[str]:
        return sorted(set(self.labels))


Dataset = PairSet | ScoredSet | LabelledSet


# ------------------------------------------------------------------------------------------------ carving
def _select(data: Dataset, keep: list[bool], name: str) -> Dataset:
    """The groups whose ``keep`` is true, in order: a PairSet's groups are its queries, the others' their items."""
    if isinstance(data, PairSet):
        return data.subset([k for k, hit in zip(data.group_keys(), keep, strict=True) if hit], name)
    return data.subset([i for i, hit in enumerate(keep) if hit], name)


def take_fold(data: Dataset, fold: int, folds: int, *, seed: int = 0) -> Dataset:
    """Keep fold ``fold`` of ``folds``: whole groups, by hash, so the other folds stay clean for evaluation."""
    return _select(data, splits.in_fold(data.group_keys(), fold, folds, seed=seed), f"{data.name}#{fold}/{folds}")


def carve_validation(data: Dataset, fraction: float, max_size: int, *, seed: int) -> tuple[Dataset, Dataset]:
    """Split ``data`` into (train, validation) by group hash: ``fraction`` of the groups, at most ``max_size``
    (a PairSet keeps at least one query for training). See :func:`taskvec.data.splits.validation_groups`."""
    keys = data.group_keys()
    held_out = splits.validation_groups(keys, fraction, max_size, seed=seed, keep_one=isinstance(data, PairSet))
    in_validation = [k in held_out for k in keys]
    return (
        _select(data, [not v for v in in_validation], data.name),
        _select(data, in_validation, f"{data.name}[val]"),
    )


# ------------------------------------------------------------------------------------------------ sources
def _strip(texts: list[str]) -> list[str]:
    # These formats' texts have always been stripped for training: a pair's group key (its side of the validation
    # carve) hashes the exact text, and some STS Benchmark sentences end in spaces.
    return [t.strip() for t in texts]


def _scored(data: PairData, licence: str, strip: bool = False) -> ScoredSet:
    texts1, texts2 = (_strip(data.texts1), _strip(data.texts2)) if strip else (data.texts1, data.texts2)
    return ScoredSet(data.name, list(zip(texts1, texts2, data.targets, strict=True)), licence)


def _labelled(name: str, data: LabelledTexts, licence: str, strip: bool = False) -> LabelledSet:
    return LabelledSet(name, _strip(data.texts) if strip else data.texts, data.labels, licence=licence)


def read_beir_pairs(folder: Path) -> PairSet:
    """A BEIR folder's training qrels as pairs: judgements above 0 whose query and document exist, with the whole
    corpus kept for validation distractors."""
    data = read_beir(folder, "train")
    corpus = dict(zip(data.doc_ids, data.docs, strict=True))
    relevant: dict[str, list[str]] = {}
    for query, grades in data.qrels.items():
        for doc, grade in grades.items():
            if grade > 0 and doc in corpus:
                relevant.setdefault(query, []).append(doc)
    queries = {q: data.queries[q] for q in relevant}
    return PairSet(folder.name, queries, relevant, corpus, licence=licence_near(folder))


def read_jsonl(path: Path) -> Dataset:
    """A JSON Lines file, its shape told by its first record's fields."""
    first = next(read_records(path), None)
    if first is None:
        raise DataError(f"{path} is empty.", field=str(path), fix="Add training records to it.")
    keys = set(first[1])
    name, licence = source_name(path), licence_near(path)
    if {"query", "positive"} <= keys:
        found = read_query_positives(path)
        doc_ids: dict[str, str] = {}  # text -> id: a text that is several queries' positive is one document
        queries, relevant, negatives = {}, {}, {}
        for i, (query, positives, hard) in enumerate(zip(found.queries, found.positives, found.negatives, strict=True)):
            queries[f"q{i}"] = query
            relevant[f"q{i}"] = [doc_ids.setdefault(t, f"d{len(doc_ids)}") for t in positives]
            if hard:
                negatives[f"q{i}"] = [doc_ids.setdefault(t, f"d{len(doc_ids)}") for t in hard]
        return PairSet(name, queries, relevant, {i: t for t, i in doc_ids.items()}, negatives, licence=licence)
    if all(keys & set(k) for k in (fields.TEXT1_KEYS, fields.TEXT2_KEYS, fields.SCORE_KEYS)):
        return _scored(read_scored_pairs(path, name), licence)
    if all(keys & set(k) for k in (fields.TEXT_KEYS, fields.LABEL_KEYS)):
        return _labelled(name, read_labelled(path), licence)
    raise DataError(
        f"{path}: the first record has {', '.join(sorted(keys)) or 'no fields'}.",
        field=str(path),
        fix="Write records of query/positive[/negatives], text1/text2/score, or text/label.",
    )


def _parse_spec(spec: str) -> tuple[str, tuple[int, int] | None, dict[str, str]]:
    """``path#K/N`` and ``path#genre=G#source=S`` -> (path, fold, filters)."""
    fold: tuple[int, int] | None = None
    filters: dict[str, str] = {}
    if m := re.fullmatch(r"(.+)#(\d+)/(\d+)", spec):
        spec, fold = m.group(1), (int(m.group(2)), int(m.group(3)))
    while m := re.fullmatch(r"(.+)#(genre|source)=([^#/=]+)", spec):
        spec, filters[m.group(2)] = m.group(1), m.group(3)
    return spec, fold, filters


def _read_folder(folder: Path) -> Dataset:
    """A BEIR folder's train split, or the ``train.jsonl`` a folder holds (data/train's layout for scored pairs and
    labelled texts)."""
    if (folder / "corpus.jsonl").is_file() or (folder / "qrels").is_dir():
        return read_beir_pairs(folder)
    if (folder / "train.jsonl").is_file():
        return read_jsonl(folder / "train.jsonl")
    raise DataError(
        f"{str(folder)!r} holds no training data: neither a BEIR folder (corpus.jsonl, queries.jsonl, "
        "qrels/train.tsv) nor a train.jsonl.",
        field="data",
        fix="Pass a BEIR folder, a folder holding train.jsonl, or the training file itself.",
    )


# A file named as a test split: "test" as a word of its name (test.jsonl, sts-test.csv, EN_test.tsv), not inside
# one (latest_tickets.jsonl, contest.jsonl).
_TEST_SPLIT = re.compile(r"(?<![a-z])test(?![a-z])")


def read_source(spec: str | Path) -> Dataset:
    """Read one ``--data`` entry: a path, optionally ending in ``#K/N`` to keep fold K of N, or (STS Benchmark
    files) in ``#genre=G`` and/or ``#source=S`` to keep some genres or original sets."""
    spec, fold, filters = _parse_spec(str(spec))
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"training data {spec!r} does not exist.", field="data", fix="Check the path.")
    name = path.name.lower()
    is_sts = name.startswith("sts-") and name.endswith(".csv")
    if filters and not is_sts:
        raise DataError(
            f"{spec}#{'#'.join(f'{k}={v}' for k, v in filters.items())}: only STS Benchmark files (sts-*.csv) have "
            "genres and sources.",
            field="data",
            fix="Drop '#genre=...' / '#source=...'.",
        )
    if path.is_dir():
        data: Dataset = _read_folder(path)
    elif _TEST_SPLIT.search(name) and not name.endswith(".tar.gz"):
        raise DataError(
            f"{path} looks like a test split: test splits are for the final figures only.",
            field="data",
            fix="Train on the set's train split; measure on the test split with taskvec eval.",
        )
    elif is_sts:
        data = _scored(read_sts_benchmark(path, **filters), licence_near(path), strip=True)
    elif name.endswith(".tsv"):
        # Quotes read as text: the shipped adapters were trained so (see taskvec.data.records.read_records).
        data = _labelled(source_name(path), read_labelled(path, quoting=False), licence_near(path), strip=True)
    elif name.endswith(".txt"):
        data = _labelled(source_name(path), read_semicolon_labelled(path), licence_near(path), strip=True)
    elif name.endswith((".tar.gz", ".tgz")):
        subjects = read_newsgroup_subjects(path)
        groups = [thread_key(s) for s in subjects.texts]
        data = LabelledSet(
            path.name.removesuffix(".tar.gz"), subjects.texts, subjects.labels, groups, licence_near(path)
        )
    elif name.endswith(".jsonl"):
        data = read_jsonl(path)
    else:
        raise DataError(
            f"{path}: unknown training data format.",
            field="data",
            fix="Use a BEIR folder, sts-*.csv, a labelled .tsv, a text;label .txt, a 20 Newsgroups .tar.gz or .jsonl.",
        )
    if fold is not None:
        data = take_fold(data, *fold)  # fixed seed: a fold is the same whatever the training seed
    return data


def check_learnable(data: Dataset, spec: str) -> None:
    """Refuse a training source no loss can learn from, which would otherwise "train" to an unchanged adapter and
    exit 0: no usable item at all, scored pairs that all share one score, or labels that never group two texts."""
    if not len(data):
        raise DataError(
            f"{spec} holds nothing to train on: no usable item (a BEIR folder: no judgement above 0 that names a "
            "document of corpus.jsonl and a query of queries.jsonl).",
            field="data",
            fix="Check that the ids in the judgements match the corpus and the queries, and that grades are above 0.",
        )
    if isinstance(data, ScoredSet) and len({score for *_, score in data.pairs}) < 2:
        raise DataError(
            f"{spec}: all {len(data)} pairs have the score {data.pairs[0][2]:g}; a similarity loss learns from the "
            "differences between scores.",
            field="data",
            fix="Give the pairs graded scores (e.g. 0 to 5), or train --task retrieval on the pairs as they are.",
        )
    if isinstance(data, LabelledSet):
        counts = Counter(data.labels)
        if len(counts) < 2 or max(counts.values()) < 2:
            what = "one label" if len(counts) < 2 else "a label of its own for every text"
            raise DataError(
                f"{spec}: {what} over {len(data)} texts; a labelled loss needs two labels or more, and texts that "
                "share a label.",
                field="data",
                fix="Train on texts grouped by at least two labels, several texts each.",
            )


def for_kind(data: Dataset, kind: str) -> Dataset:
    """Fit a source to what a task kind trains on, converting where it makes sense; refuse where it does not."""
    if kind in PAIR_KINDS:
        if isinstance(data, ScoredSet):
            return data.as_pairs()
        if isinstance(data, PairSet):
            return data
    elif kind in SCORED_KINDS:
        if isinstance(data, ScoredSet):
            return data
    elif kind in LABEL_KINDS and isinstance(data, LabelledSet):
        return data
    shape = {PairSet: "query-document pairs", ScoredSet: "scored pairs", LabelledSet: "labelled texts"}[type(data)]
    needs = (
        "query-document pairs (or scored pairs, whose best become pairs)"
        if kind in PAIR_KINDS
        else "scored pairs"
        if kind in SCORED_KINDS
        else "labelled texts"
    )
    raise DataError(
        f"{data.name} ({type(data).__name__}: {shape}) cannot train a {kind} adapter.",
        field="data",
        fix=f"A {kind} adapter trains on {needs}; pass such a source, or train a task of another kind.",
    )
