"""``taskvec eval checks``: an adapter against the base model on its task's home test sets and on held-out sets it
never trained on, measured the same way, so that over-fitting shows before an adapter ships.

Home sets (test splits; the issue's targets): SciFact, STS-B, AmazonCounterfactual, Emotion, 20 Newsgroups subjects.
Held-out sets: STS-B dev (all pairs, forum pairs, STS 2017 pairs), TwitterURL pairs and retrieval, STS-B pairs as
retrieval, 20 Newsgroups subject->post retrieval, topic classification of 20NG subjects, genre classification and
source clustering of STS-B sentences, Emotion clustering.

Texts go through the :class:`~taskvec.engine.Encoder` (the inference path), fp32, under three modes: ``base`` (no
prompt, no adapter: the model as shipped), ``prompt`` (the task's prompts) and ``adapter`` (prompts and adapter).
Scores: the harness's nDCG@10 of exact search and cosine Spearman/AP (:mod:`taskvec.metrics`); few-shot logistic
regression with ``n`` texts per label drawn with seeds 42, 43, ... (``draws`` draws, MTEB's 10 by default); the
mean V-measure of MTEB's k-means over 60 seeds, since one run moves by hundredths on the small held-out sets.
Vectors are cached on disk under ``$TASKVEC_CHECKS_CACHE`` (keyed by space, role and texts), so several adapters
checked in a row encode the base model once.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from taskvec import metrics
from taskvec.data import splits
from taskvec.data.beir import read_beir
from taskvec.data.labelled import LabelledTexts, read_labelled, read_semicolon_labelled
from taskvec.data.newsgroups import NEWSGROUPS_TAR, read_newsgroup_posts, read_newsgroup_subjects, thread_key
from taskvec.data.pairs import PARAPHRASE_VOTES, TWITTER_URL_FILE, PairData, read_twitter_url
from taskvec.data.sts import read_sts_benchmark, read_sts_rows
from taskvec.engine import Encoder, Task
from taskvec.engine.tasks import Role
from taskvec.errors import InvalidInputError
from taskvec.eval.runners import kmeans_v_measures, logistic_accuracy

MODES = ("base", "prompt", "adapter")
FEW_SHOT_DRAWS = 10  # MTEB's n_experiments; more draws tell a small change from sampling noise
KMEANS_RUNS = 60
ENCODE_BATCH = 64
Texts = tuple[list[str], list[str]]  # (texts, labels)


@dataclass(frozen=True)
class Options:
    root: Path  # the data root: scifact/, stsbenchmark/, ... (../shared/data in this repo)
    draws: int = FEW_SHOT_DRAWS


class Runner:
    """Encodes for one mode; vectors are cached on disk when ``cache`` is a folder."""

    def __init__(self, encoder: Encoder, task: Task, cache: Path | None, batch_size: int = ENCODE_BATCH) -> None:
        self.encoder, self.task, self.cache, self.batch_size = encoder, task, cache, batch_size

    # Set by ``taskvec eval checks --rerank`` (taskvec.eval.rerank): retrieval checks measure two stages instead.
    two_stage: Callable[[Runner, list[str], list[str], list[str], list[set[str]]], float] | None = None

    def embed(self, texts: Sequence[str], role: Role = "document") -> np.ndarray:
        if self.cache is None:
            return self._encode(texts, role)
        space = self.encoder.space(self.task).id
        key = hashlib.sha256("\x00".join([space, role, *texts]).encode()).hexdigest()[:24]
        path = self.cache / f"{key}.npy"
        if path.is_file():
            return np.load(path)
        vectors = self._encode(texts, role)
        self.cache.mkdir(parents=True, exist_ok=True)
        partial_file = path.with_suffix(f".{os.getpid()}.npy")  # runs may share the cache: write, then rename
        np.save(partial_file, vectors)
        partial_file.replace(path)
        return vectors

    def _encode(self, texts: Sequence[str], role: Role) -> np.ndarray:
        return self.encoder.encode(list(texts), task=self.task, role=role, batch_size=self.batch_size).vectors


# ------------------------------------------------------------------------------------------------ protocols
def retrieval(r: Runner, queries: list[str], docs: list[str], relevant: list[set[int]]) -> float:
    """nDCG@10 of each query over all ``docs``; ``relevant`` holds positions in ``docs``."""
    # The documents are numbered so that trec_eval's rule (equal scores: the higher id first) keeps them in list
    # order, as the model cards' figures were measured; it matters where a text repeats (20NG bodies).
    ids = [f"{len(docs) - i:0{len(str(len(docs)))}d}" for i in range(len(docs))]
    if r.two_stage is not None:
        return r.two_stage(r, queries, docs, ids, [{ids[i] for i in s} for s in relevant])
    query_vectors, doc_vectors = r.embed(queries, "query"), r.embed(docs, "document")
    return metrics.search_ndcg(query_vectors, doc_vectors, ids, [{ids[i] for i in s} for s in relevant])


def pair_spearman(r: Runner, texts1: list[str], texts2: list[str], gold: Sequence[float]) -> float:
    return metrics.spearman(gold, metrics.paired_cosine(r.embed(texts1, "query"), r.embed(texts2, "document")))


def few_shot(r: Runner, train: Texts, test: Texts, n: int, draws: int) -> float:
    """Mean test accuracy of MTEB's logistic regression on ``n`` training texts per label, ``draws`` draws."""
    train_vectors, test_vectors = r.embed(train[0]), r.embed(test[0])
    train_labels, test_labels = np.asarray(train[1]), np.asarray(test[1])
    accuracies = []
    for draw in range(draws):
        rng = np.random.default_rng(42 + draw)
        rows = np.concatenate(
            [rng.permutation(np.flatnonzero(train_labels == c))[:n] for c in sorted(set(train_labels))]
        )
        accuracies.append(logistic_accuracy(train_vectors, train_labels, rows, test_vectors, test_labels))
    return float(np.mean(accuracies))


def cluster(r: Runner, texts: Texts) -> float:
    return float(np.mean(kmeans_v_measures(r.embed(texts[0]), texts[1], runs=KMEANS_RUNS, seed=0)))


def pairs_as_retrieval(r: Runner, pairs: PairData, threshold: float) -> float:
    """First texts as queries over all second texts; those of pairs scored ``threshold`` or more are relevant."""
    docs = sorted(set(pairs.texts2))
    position = {d: i for i, d in enumerate(docs)}
    relevant: dict[str, set[int]] = {}
    for a, b, score in zip(pairs.texts1, pairs.texts2, pairs.targets, strict=True):
        if score >= threshold:
            relevant.setdefault(a, set()).add(position[b])
    queries = sorted(relevant)
    return retrieval(r, queries, docs, [relevant[q] for q in queries])


# ------------------------------------------------------------------------------------------------ data sets
def _stripped(pairs: PairData) -> PairData:
    # The sets' own texts end in spaces here and there; stripped, a repeated sentence is one document.
    return PairData(
        pairs.name, pairs.layout, [t.strip() for t in pairs.texts1], [t.strip() for t in pairs.texts2], pairs.targets
    )


def _sts(root: Path, split: str, genre: str | None = None, source: str | None = None) -> PairData:
    return _stripped(read_sts_benchmark(root / "stsbenchmark" / f"sts-{split}.csv", genre=genre, source=source))


def _twitter(root: Path) -> PairData:
    """The Twitter URL Corpus test pairs; targets are the votes (of 6) for paraphrase."""
    return _stripped(read_twitter_url(root / "twitter_url_corpus" / TWITTER_URL_FILE, "twitter_url_corpus"))


def scifact_test(r: Runner, o: Options) -> float:
    data = read_beir(o.root / "scifact", "test")
    order = sorted(range(len(data.doc_ids)), key=data.doc_ids.__getitem__)
    position = {data.doc_ids[i]: p for p, i in enumerate(order)}
    relevant = {
        q: {position[d] for d, g in grades.items() if g > 0 and d in position} for q, grades in data.qrels.items()
    }
    queries = sorted(q for q, docs in relevant.items() if docs)
    return retrieval(
        r, [data.queries[q] for q in queries], [data.docs[i] for i in order], [relevant[q] for q in queries]
    )


def sts_pairs(r: Runner, o: Options, split: str, genre: str | None = None, source: str | None = None) -> float:
    pairs = _sts(o.root, split, genre, source)
    return pair_spearman(r, pairs.texts1, pairs.texts2, pairs.targets)


def twitter_ap(r: Runner, o: Options) -> float:
    pairs = _twitter(o.root)
    cosine = metrics.paired_cosine(r.embed(pairs.texts1, "query"), r.embed(pairs.texts2, "document"))
    return metrics.average_precision([int(n >= PARAPHRASE_VOTES) for n in pairs.targets], cosine)


def twitter_spearman(r: Runner, o: Options) -> float:
    pairs = _twitter(o.root)
    return pair_spearman(r, pairs.texts1, pairs.texts2, pairs.targets)


def newsgroup_thread_retrieval(r: Runner, o: Options, fold: int = 1, posts_kept: int = 800) -> float:
    """Subject line (Re: stripped) -> the posts of its thread, over ``posts_kept`` posts of the threads in
    ``fold`` of 2 (fold 1 is held out: the clustering adapter trains on fold 0)."""
    posts = read_newsgroup_posts(o.root / "twenty_newsgroups" / NEWSGROUPS_TAR)
    keys = [thread_key(p.subject) for p in posts]
    held_out = {k for p, k, hit in zip(posts, keys, splits.in_fold(keys, fold, 2), strict=True) if hit and p.subject}
    bodies = [(k, " ".join(p.body.split())[:1200]) for p, k in zip(posts, keys, strict=True) if k in held_out]
    bodies = [(k, body) for k, body in bodies if body]
    kept = random.Random(0).sample(bodies, min(posts_kept, len(bodies)))
    threads: dict[str, set[int]] = {}
    for i, (key, _) in enumerate(kept):
        threads.setdefault(key, set()).add(i)
    queries = sorted(k for k in threads if k)
    return retrieval(r, queries, [body for _, body in kept], [threads[q] for q in queries])


def _newsgroup_subjects(root: Path, fold: int | None = None) -> Texts:
    """The subject lines of every post, or of the threads in ``fold`` of 2, labelled by newsgroup."""
    data = read_newsgroup_subjects(root / "twenty_newsgroups" / NEWSGROUPS_TAR)
    if fold is None:
        return data.texts, data.labels
    keep = splits.in_fold([thread_key(t) for t in data.texts], fold, 2)
    rows = [(text, label) for text, label, hit in zip(data.texts, data.labels, keep, strict=True) if hit]
    return [text for text, _ in rows], [label for _, label in rows]


def _texts(data: LabelledTexts) -> Texts:
    return [t.strip() for t in data.texts], data.labels


def _emotion(root: Path, split: str) -> Texts:
    return _texts(read_semicolon_labelled(root / "emotion" / f"{split}.txt"))


def _amazon(root: Path, split: str) -> Texts:
    # Quotes read as text, as the cards' figures were measured (see taskvec.data.records.read_records).
    return _texts(read_labelled(root / "amazon_counterfactual" / f"EN_{split}.tsv", quoting=False))


def _sts_sentences(root: Path, split: str, column: str) -> Texts:
    """Every distinct sentence of an STS Benchmark file, labelled by its pair's genre or source (the first seen)."""
    seen: dict[str, str] = {}
    for row in read_sts_rows(root / "stsbenchmark" / f"sts-{split}.csv"):
        for sentence in (row.text1.strip(), row.text2.strip()):
            seen.setdefault(sentence, getattr(row, column))
    texts = sorted(seen)
    return texts, [seen[t] for t in texts]


@dataclass(frozen=True)
class Check:
    kind: str
    metric: str
    measure: Callable[[Runner, Options], float]


def _classify(train: Callable[[Path], Texts], test: Callable[[Path], Texts], n: int) -> Check:
    def measure(r: Runner, o: Options) -> float:
        return few_shot(r, train(o.root), test(o.root), n, o.draws)

    return Check("classification", f"accuracy ({n}/label)", measure)


def _clusters(texts: Callable[[Path], Texts]) -> Check:
    return Check("clustering", "V-measure", lambda r, o: cluster(r, texts(o.root)))


def _pair_retrieval(pairs: Callable[[Path], PairData], threshold: float) -> Check:
    return Check("retrieval", "nDCG@10", lambda r, o: pairs_as_retrieval(r, pairs(o.root), threshold))


CHECKS: dict[str, Check] = {
    # "home" sets carry the targets (test splits); "held-out" sets were never trained on
    "SciFact test (home)": Check("retrieval", "nDCG@10", scifact_test),
    "TwitterURL retrieval (held-out)": _pair_retrieval(_twitter, PARAPHRASE_VOTES),
    "STS-B test pairs as retrieval (held-out)": _pair_retrieval(partial(_sts, split="test"), 4.0),
    "20NG subject->thread posts, fold 1/2 (held-out)": Check("retrieval", "nDCG@10", newsgroup_thread_retrieval),
    "STS-B test (home)": Check("similarity", "Spearman", partial(sts_pairs, split="test")),
    "STS-B dev (held-out)": Check("similarity", "Spearman", partial(sts_pairs, split="dev")),
    # Forum posts are 8% of STS-B train and the genre most like chat and tweets: a loss shows here first.
    "STS-B dev, forum pairs (held-out)": Check(
        "similarity", "Spearman", partial(sts_pairs, split="dev", genre="main-forums")
    ),
    # STS 2017's English pairs (track5) are in dev and test only: a source no similarity adapter trains on.
    "STS-B dev, STS17 pairs (held-out)": Check(
        "similarity", "Spearman", partial(sts_pairs, split="dev", source="track5.en-en")
    ),
    "TwitterURL test (held-out)": Check("similarity", "cosine AP", twitter_ap),
    "TwitterURL test, n of 6 (held-out)": Check("similarity", "Spearman", twitter_spearman),
    "AmazonCounterfactual en test (home)": _classify(
        partial(_amazon, split="train"), partial(_amazon, split="test"), 32
    ),
    "Emotion test (home)": _classify(partial(_emotion, split="train"), partial(_emotion, split="test"), 16),
    "20NG subjects topic, fold 0 -> 1 (held-out)": _classify(
        partial(_newsgroup_subjects, fold=0), partial(_newsgroup_subjects, fold=1), 16
    ),
    "STS-B dev sentence genre (held-out)": _classify(
        partial(_sts_sentences, split="train", column="genre"), partial(_sts_sentences, split="dev", column="genre"), 16
    ),
    "20NG test subjects, all, k=20 (home; the adapter trains on fold 0/2)": _clusters(_newsgroup_subjects),
    "20NG test subjects fold 1/2, k=20 (held-out)": _clusters(partial(_newsgroup_subjects, fold=1)),
    "Emotion test, k=6 (held-out)": _clusters(partial(_emotion, split="test")),
    "STS-B dev sentence source, k=files (held-out)": _clusters(partial(_sts_sentences, split="dev", column="source")),
}


# ------------------------------------------------------------------------------------------------------ run
def mode_tasks(
    encoder: Encoder,
    task: str,
    adapter: Path | None,
    query_prompt: str | None,
    document_prompt: str | None,
    blend: float | None = None,
) -> dict[str, Task]:
    """The Task of each mode. Prompts: the flags, else those the adapter was trained with, else the task's.
    ``blend``: the adapter mode blends the adapter with the bare model at this share (taskvec.engine.blend)."""
    builtin = encoder.tasks[task]
    qp = builtin.query_prompt if query_prompt is None else query_prompt
    dp = builtin.document_prompt if document_prompt is None else document_prompt
    info = adapter / "taskvec_training.json" if adapter is not None else None
    if info is not None and info.is_file() and query_prompt is None:
        recorded = json.loads(info.read_text())
        qp, dp = recorded["query_prompt"], recorded["document_prompt"]
    kind = builtin.kind
    return {
        "base": Task("base", kind, "no prompt, no adapter"),
        "prompt": Task("prompt", kind, "prompt only", qp, dp),
        "adapter": Task(
            "adapter",
            kind,
            "prompt + adapter" + (f", blended at {blend:g}" if blend is not None else ""),
            qp,
            dp,
            adapter=adapter.resolve() if adapter else None,
            blend=blend if adapter else None,
        ),
    }


def selected_checks(kind: str, only: Sequence[str] | None = None) -> dict[str, Check]:
    """The checks of ``kind`` whose names contain one of ``only`` (in any case); all of them without ``only``.
    A filter that matches none is refused with the names it could match: a typo must not read as an empty run."""
    of_kind = {name: check for name, check in CHECKS.items() if check.kind == kind}
    if not only:
        return of_kind
    wanted = [s.lower() for s in only]
    chosen = {name: check for name, check in of_kind.items() if any(s in name.lower() for s in wanted)}
    if not chosen:
        raise InvalidInputError(
            f"--only {' '.join(only)} matches none of the {kind} checks.",
            field="only",
            fix=f"Give part of one of their names (any case): {'; '.join(of_kind)}.",
        )
    return chosen


def run_checks(
    encoder: Encoder,
    task: str,
    data_root: Path,
    *,
    adapter: Path | None = None,
    modes: Sequence[str] = ("base", "adapter"),
    only: Sequence[str] | None = None,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
    draws: int = FEW_SHOT_DRAWS,
    cache: Path | None = None,
    batch_size: int = ENCODE_BATCH,
    report: Callable[[str, dict[str, object]], None] | None = None,
    blend: float | None = None,
) -> dict[str, dict[str, object]]:
    """``{set: {"metric", mode: figure, ...}}`` for every check of the task's kind (``only``: names containing one
    of these substrings); the adapter mode is skipped without an adapter. ``report`` gets each row when done.
    ``blend``: the adapter mode blends the adapter with the bare model at this share."""
    tasks = mode_tasks(encoder, task, adapter, query_prompt, document_prompt, blend)
    kind, options = tasks["base"].kind, Options(Path(data_root), draws)
    results: dict[str, dict[str, object]] = {}
    for name, check in selected_checks(kind, only).items():
        row: dict[str, object] = {"metric": check.metric}
        for mode in modes:
            if mode != "adapter" or adapter is not None:
                row[mode] = round(check.measure(Runner(encoder, tasks[mode], cache, batch_size), options), 5)
        results[name] = row
        if report:
            report(name, row)
    return results


def record_in_card(adapter: Path, task: str, results: dict[str, dict[str, object]], blend: float | None = None) -> None:
    """Write the figures (sets measured with base and adapter) into the adapter's model card, with the command;
    with ``blend``, as the blended adapter's figures beside the adapter's own."""
    from taskvec.train.model_card import add_test_figures

    figures = {name: row for name, row in results.items() if "base" in row and "adapter" in row}
    if blend is not None:
        command = f"taskvec eval checks --task {task} --adapter {adapter} --blend {blend:g} --card"
        add_test_figures(adapter, figures, blend=(blend, command))
        return
    add_test_figures(
        adapter,
        figures,
        note=f"Measured by `taskvec eval checks --task {task} --adapter {adapter} --card` after training: home sets "
        "are the issue's test splits, held-out sets were never trained on; the encoder's path, fp32 on the CPU, "
        "MTEB's protocols.",
    )
