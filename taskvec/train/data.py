"""Training data for task adapters: readers for the formats we train on, and a seeded validation carve-out.

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
* ``*.tsv`` with a header naming a text and a label column (``sentence``/``text`` and ``label``/``is_*``) -> labels.
* ``*.txt`` of ``text;label`` lines (the Emotion data set) -> labels.
* ``*.tar.gz`` of 20 Newsgroups (``<group>/<id>`` files) -> the ``Subject:`` lines labelled by newsgroup.
* ``*.jsonl`` with ``query``/``positive``[/``negatives``], ``text1``/``text2``/``score``, or ``text``/``label``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PAIR_KINDS = frozenset({"retrieval", "code"})
SCORED_KINDS = frozenset({"similarity"})
LABEL_KINDS = frozenset({"classification", "clustering"})


class DataError(ValueError):
    """A training data path that cannot be read as any known format, or does not fit the task kind."""


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

    def groups(self) -> list[str]:
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
def _bucket(key: str, seed: int, buckets: int = 1_000_000) -> int:
    """A stable pseudo-random bucket for a group key: same split on every machine and Python version."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def _group_keys(data: Dataset) -> list[str]:
    return data.groups() if isinstance(data, PairSet) else data.group_keys()


def _select(data: Dataset, chosen: list[int] | list[str], name: str) -> Dataset:
    return data.subset(chosen, name)  # type: ignore[arg-type]


def take_fold(data: Dataset, fold: int, folds: int, *, seed: int = 0) -> Dataset:
    """Keep fold ``fold`` of ``folds``: whole groups, by hash, so the other folds stay clean for evaluation."""
    if not 0 <= fold < folds:
        raise DataError(f"fold {fold} is outside 0..{folds - 1}")
    keys = _group_keys(data)
    hits = [_bucket(k, seed) % folds == fold for k in keys]
    chosen = [k for k, hit in zip(keys, hits, strict=True) if hit] if isinstance(data, PairSet) else None
    if chosen is not None:
        return data.subset(chosen, f"{data.name}#{fold}/{folds}")
    return _select(data, [i for i, hit in enumerate(hits) if hit], f"{data.name}#{fold}/{folds}")


def carve_validation(data: Dataset, fraction: float, max_size: int, *, seed: int) -> tuple[Dataset, Dataset]:
    """Split ``data`` into (train, validation) by group hash: ``fraction`` of the groups, at most ``max_size``.

    Groups are ranked by their hash and the lowest go to validation, so a smaller ``max_size`` gives a subset of a
    larger one's validation split, and the carve-out does not depend on the order the file lists things in.
    """
    keys = _group_keys(data)
    unique = sorted(set(keys), key=lambda k: (_bucket(k, seed), k))
    n_val = min(max_size, round(len(unique) * fraction)) if fraction > 0 else 0
    if isinstance(data, PairSet):  # a group is one query: count it in queries, not pairs
        n_val = min(n_val, max(len(unique) - 1, 0))
    val_groups = set(unique[:n_val])
    if isinstance(data, PairSet):
        train_q = [q for q in keys if q not in val_groups]
        val_q = [q for q in keys if q in val_groups]
        return data.subset(train_q, data.name), data.subset(val_q, f"{data.name}[val]")
    train_i = [i for i, k in enumerate(keys) if k not in val_groups]
    val_i = [i for i, k in enumerate(keys) if k in val_groups]
    return _select(data, train_i, data.name), _select(data, val_i, f"{data.name}[val]")


# ------------------------------------------------------------------------------------------------ readers
def _licence_near(path: Path) -> str:
    """The first line of a licence or source note beside the data, to quote in the model card."""
    folder = path if path.is_dir() else path.parent
    for name in ("SOURCE.md", "LICENSE", "LICENSE.txt", "README.md"):
        f = folder / name
        if f.is_file():
            lines = [ln.strip() for ln in f.read_text(errors="replace").splitlines()]
            for i, line in enumerate(lines):
                low = line.lower().lstrip("#").strip()
                if low.startswith(("license", "licence")):
                    rest = line.split(":", 1)[1].strip() if ":" in line else ""
                    if not rest:  # a heading: the licence is the next non-empty line
                        rest = next((ln for ln in lines[i + 1 :] if ln), "")
                    return rest[:300]
    return "see the data set's own licence"


def read_beir(folder: Path, split: str = "train") -> PairSet:
    """A BEIR folder's ``split`` qrels (never test, unless asked) with its queries and full corpus."""
    corpus: dict[str, str] = {}
    with (folder / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                corpus[str(d["_id"])] = f"{d.get('title', '')} {d.get('text', '')}".strip()
    queries: dict[str, str] = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                q = json.loads(line)
                queries[str(q["_id"])] = q["text"]  # metadata holds evidence labels: never read
    relevant: dict[str, list[str]] = {}
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if not row or row[0] == "query-id" or len(row) < 3 or float(row[2]) <= 0:
                continue
            if row[0] in queries and row[1] in corpus:
                relevant.setdefault(row[0], []).append(row[1])
    used = {q: queries[q] for q in relevant}
    return PairSet(folder.name, used, relevant, corpus, licence=_licence_near(folder))


def read_sts(path: Path, genre: str | None = None, source: str | None = None) -> ScoredSet:
    """STS Benchmark's tab-separated files: columns 0-6 only, no CSV quoting (sentences contain quotes).

    ``genre`` keeps the pairs of the named genres (column 0: ``main-news``, ``main-captions``, and ``main-forum`` in
    train but ``main-forums`` in dev and test), so each genre can be its own source and ``--mix-temperature`` can
    stop the largest one from drowning the others. ``source`` keeps the pairs of the named original sets (column 1:
    ``headlines``, ``MSRpar``, ``deft-forum``, ...; the years' SemEval tasks the benchmark was drawn from). Both take
    a comma-separated list; a name the file lacks is an error that lists the names it has."""
    wanted = {0: _names(genre), 1: _names(source)}
    pairs: list[tuple[str, str, float]] = []
    seen: dict[int, set[str]] = {0: set(), 1: set()}
    for line in path.read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) >= 7:
            seen[0].add(cols[0])
            seen[1].add(cols[1])
            if all(names is None or cols[col] in names for col, names in wanted.items()):
                pairs.append((cols[5].strip(), cols[6].strip(), float(cols[4])))
    name = f"{path.parent.name}/{path.name}"
    for col, label in ((0, "genre"), (1, "source")):
        names = wanted[col]
        if names is not None:
            if missing := sorted(names - seen[col]):
                raise DataError(
                    f"{path} has no {label} {', '.join(map(repr, missing))}; its {label}s are "
                    f"{', '.join(sorted(seen[col]))}"
                )
            name += f"#{label}={','.join(sorted(names))}"
    if not pairs and all(names is not None for names in wanted.values()):
        raise DataError(
            f"{name}: no pairs have both the genre and the source asked for; name a source of that genre, or drop one"
        )
    if not pairs:
        raise DataError(f"{path} holds no STS Benchmark rows (genre, source, year, id, score, sentence1, sentence2)")
    return ScoredSet(name, pairs, _licence_near(path))


def _names(spec: str | None) -> set[str] | None:
    return None if spec is None else {n.strip() for n in spec.split(",") if n.strip()}


_TEXT_COLS = ("sentence", "text", "sentence1")
_LABEL_COLS = ("label", "is_counterfactual", "category", "class")


def read_label_tsv(path: Path) -> LabelledSet:
    rows = list(csv.reader(path.open(encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [h.strip().lower() for h in rows[0]]
    text_col = next((header.index(c) for c in _TEXT_COLS if c in header), None)
    label_col = next((header.index(c) for c in _LABEL_COLS if c in header), None)
    if text_col is None or label_col is None:
        raise DataError(f"{path}: a labelled TSV needs a header with a text column {_TEXT_COLS} and a label column")
    texts, labels = [], []
    for row in rows[1:]:
        if len(row) > max(text_col, label_col) and row[text_col].strip():
            texts.append(row[text_col].strip())
            labels.append(row[label_col].strip())
    return LabelledSet(f"{path.parent.name}/{path.name}", texts, labels, licence=_licence_near(path))


def read_semicolon_labels(path: Path) -> LabelledSet:
    """``text;label`` per line, split on the last ``;`` (the Emotion data set)."""
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if ";" in line and line.strip():
            text, label = line.rsplit(";", 1)
            texts.append(text.strip())
            labels.append(label.strip())
    return LabelledSet(f"{path.parent.name}/{path.name}", texts, labels, licence=_licence_near(path))


_RE_PREFIX = re.compile(r"^\s*((re|fwd?|was)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def thread_key(subject: str) -> str:
    """A discussion thread's key: the subject without Re:/Fwd: prefixes, case and spacing."""
    return " ".join(_RE_PREFIX.sub("", subject).lower().split())


def read_newsgroups_tar(path: Path) -> LabelledSet:
    """The ``Subject:`` line of every post in a 20 Newsgroups tarball, labelled by newsgroup, grouped by thread."""
    texts, labels, groups = [], [], []
    with tarfile.open(path, "r:*") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not member.isfile():
                continue
            parts = member.name.split("/")
            if len(parts) < 2:
                continue
            raw = tar.extractfile(member)
            if raw is None:
                continue
            header = raw.read().decode("latin-1").split("\n\n", 1)[0]
            subject = next((ln[8:].strip() for ln in header.splitlines() if ln.startswith("Subject:")), None)
            if subject:
                texts.append(subject)
                labels.append(parts[-2])
                groups.append(thread_key(subject))
    return LabelledSet(path.name.removesuffix(".tar.gz"), texts, labels, groups, _licence_near(path))


def read_jsonl(path: Path) -> Dataset:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        raise DataError(f"{path} is empty")
    first = rows[0]
    name = f"{path.parent.name}/{path.name}"
    if "query" in first and "positive" in first:
        queries, relevant, corpus, negatives = {}, {}, {}, {}
        doc_ids: dict[str, str] = {}

        def doc(text: str) -> str:
            return doc_ids.setdefault(text, f"d{len(doc_ids)}")

        for i, r in enumerate(rows):
            positives = r["positive"] if isinstance(r["positive"], list) else [r["positive"]]
            queries[f"q{i}"] = r["query"]
            relevant[f"q{i}"] = [doc(p) for p in positives]
            if r.get("negatives"):
                negatives[f"q{i}"] = [doc(n) for n in r["negatives"]]
        corpus = {i: t for t, i in doc_ids.items()}
        return PairSet(name, queries, relevant, corpus, negatives, licence=_licence_near(path))
    if "text1" in first and "score" in first:
        return ScoredSet(name, [(r["text1"], r["text2"], float(r["score"])) for r in rows], _licence_near(path))
    if "text" in first and "label" in first:
        return LabelledSet(
            name, [r["text"] for r in rows], [str(r["label"]) for r in rows], licence=_licence_near(path)
        )
    raise DataError(f"{path}: JSONL rows need query/positive, text1/text2/score, or text/label keys")


def read_source(spec: str | Path) -> Dataset:
    """Read one ``--data`` entry: a path, optionally ending in ``#K/N`` to keep fold K of N, or (STS Benchmark
    files) in ``#genre=G`` and/or ``#source=S`` to keep some genres or original sets."""
    spec = str(spec)
    fold: tuple[int, int] | None = None
    filters: dict[str, str] = {}
    if m := re.fullmatch(r"(.+)#(\d+)/(\d+)", spec):
        spec, fold = m.group(1), (int(m.group(2)), int(m.group(3)))
    while m := re.fullmatch(r"(.+)#(genre|source)=([^#/=]+)", spec):
        spec, filters[m.group(2)] = m.group(1), m.group(3)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"training data {spec!r} does not exist")
    name = path.name.lower()
    is_sts = name.startswith("sts-") and name.endswith(".csv")
    if filters and not is_sts:
        raise DataError(
            f"{spec}#{'#'.join(f'{k}={v}' for k, v in filters.items())}: only STS Benchmark files (sts-*.csv) have "
            "genres and sources; drop '#genre=...' / '#source=...'"
        )
    if path.is_dir():
        if not (path / "corpus.jsonl").is_file():
            raise DataError(f"{path} is a folder but not a BEIR folder (no corpus.jsonl)")
        data: Dataset = read_beir(path, "train")
    elif "test" in name and not name.endswith(".tar.gz"):
        raise DataError(f"{path} looks like a test split: test splits are for the final figures only")
    elif is_sts:
        data = read_sts(path, **filters)
    elif name.endswith(".tsv"):
        data = read_label_tsv(path)
    elif name.endswith(".txt"):
        data = read_semicolon_labels(path)
    elif name.endswith((".tar.gz", ".tgz")):
        data = read_newsgroups_tar(path)
    elif name.endswith(".jsonl"):
        data = read_jsonl(path)
    else:
        raise DataError(f"{path}: unknown training data format")
    if fold is not None:
        data = take_fold(data, *fold)  # fixed seed: a fold is the same whatever the training seed
    return data


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
    raise DataError(f"{data.name} ({type(data).__name__}) cannot train a {kind} adapter")
