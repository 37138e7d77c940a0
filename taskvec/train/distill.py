"""The teacher of ``taskvec train --task retrieval --teacher DIR`` (docs/distillation.md): a reranker's scores of
each training query's candidates (its positives and its mined or given hard negatives), computed once before
training and cached beside the run, so the teacher is out of memory while the student trains.

The teacher is any reranker taskvec serves as a ``rerank`` task, loaded the way ``taskvec eval retrieval
--rerank DIR`` loads one (:func:`taskvec.eval.rerank.reranker_for`): a rerank adapter folder (``taskvec train
--task rerank``: the backbone + LoRA + a head added to the first stage's cosine) or a sentence-transformers
CrossEncoder folder. Its identity (the reranker identity of its results, and the folder's fingerprint) is recorded
in the student's ``taskvec_training.json`` and model card.

Or it is ``hybrid`` (:data:`HYBRID_TEACHER`): the store's own hybrid search over each source's corpus, the base
model's cosine (prompts on, no adapter) fused with BM25 as ``search(mode="hybrid")`` fuses them. It needs no
folder and reads the words themselves, which is what a dense student lacks where a query and its documents share
rare terms (docs/distillation.md). This one path imports the store (lancedb).

The cache (``<out>.teacher-scores.json``, beside the output folder, not in it: it is not part of the adapter) holds
only ids and scores. A rerun with the same teacher, base model and candidates reads it instead of scoring again.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taskvec.engine.fingerprint import fingerprint_folder
from taskvec.errors import InvalidInputError, ModelLoadError
from taskvec.spaces import EmbeddingSpace
from taskvec.train.data import PairSet

CACHE_SUFFIX = ".teacher-scores.json"
HYBRID_TEACHER = "hybrid"  # --teacher hybrid: the base model's hybrid search (a folder of that name: ./hybrid)
HYBRID_DEPTH = 100  # fused hits read per query; a candidate below them scores as the last of them
_FIX = (
    "Pass --teacher a rerank adapter folder (written by `taskvec train --task rerank`) or a sentence-transformers "
    "CrossEncoder folder you have locally, or `hybrid` (the base model's hybrid search with BM25)."
)


@dataclass
class TeacherScores:
    """The teacher's score of every (query, candidate) per training source, and what made them."""

    teacher: dict[str, Any]  # folder, fingerprint, reranker identity (and its id and description)
    scores: dict[str, dict[str, dict[str, float]]]  # source name -> query id -> doc id -> score
    pairs: int
    seconds: float  # scoring time; 0 when read from the cache
    cache: str
    from_cache: bool

    def of(self, source: str, query: str, docs: Sequence[str]) -> list[float]:
        row = self.scores[source][query]
        return [row[d] for d in docs]

    def describe(self) -> dict[str, Any]:
        """What ``taskvec_training.json`` records (the scores themselves stay in the cache file)."""
        return {**self.teacher, "pairs_scored": self.pairs, "scoring_seconds": self.seconds, "scores": self.cache}


def check_teacher(path: str | Path) -> Path | str:
    """The teacher folder (or :data:`HYBRID_TEACHER`), or an error naming --teacher: before any model loads, so a
    typo costs nothing."""
    if path == HYBRID_TEACHER:
        return HYBRID_TEACHER
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InvalidInputError(f"--teacher {str(path)!r} is not a folder.", field="teacher", fix=_FIX)
    if (folder / "adapter_config.json").is_file():
        from taskvec.engine.rerank import read_rerank_config

        try:
            read_rerank_config(folder)
        except ModelLoadError as exc:
            raise InvalidInputError(
                f"--teacher {str(path)!r} is a LoRA adapter but not a rerank adapter: {exc.message}",
                field="teacher",
                fix=_FIX,
            ) from exc
    elif not (folder / "config.json").is_file():
        raise InvalidInputError(
            f"--teacher {str(path)!r} holds neither a rerank adapter (adapter_config.json) nor a CrossEncoder "
            "(config.json).",
            field="teacher",
            fix=_FIX,
        )
    return folder


def candidates(data: PairSet, per_query: int) -> dict[str, list[str]]:
    """Per training query: its relevant documents, then its first ``per_query`` hard negatives."""
    out = {}
    for q, relevant in data.relevant.items():
        negatives = [n for n in data.negatives.get(q, [])[:per_query] if n not in relevant]
        out[q] = list(dict.fromkeys([*relevant, *negatives]))
    return out


def teacher_scores(
    teacher: Path,
    sources: Sequence[tuple[PairSet, dict[str, list[str]]]],
    *,
    model: str | None,
    model_fingerprint: str,
    tasks_file: Path | None,
    device: str,
    cache: Path,
    log: Callable[[str], None] = lambda _msg: None,
) -> TeacherScores:
    """Score every source's candidates with ``teacher``, or read them from ``cache`` when it holds them all for
    this teacher and base model. The teacher runs on an encoder of its own, freed before this returns."""
    fingerprint = fingerprint_folder(teacher)
    wanted = {data.name: lists for data, lists in sources}
    pairs = sum(len(docs) for lists in wanted.values() for docs in lists.values())
    cached = _from_cache(cache, fingerprint, model_fingerprint, wanted, pairs, log)
    if cached is not None:
        return cached
    from taskvec.engine import Encoder
    from taskvec.eval.rerank import reranker_for

    started = time.time()
    encoder = Encoder(model, tasks_file=tasks_file, device=device, dtype="auto")
    try:
        reranker = reranker_for(encoder, str(teacher))
    except ModelLoadError as exc:
        raise InvalidInputError(
            f"--teacher {str(teacher)!r} did not load: {exc.message}", field="teacher", fix=_FIX
        ) from exc
    log(f"teacher {reranker.identity.describe()} ({encoder.dtype}): scoring {pairs} pairs")
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for data, lists in sources:
        rows = scores.setdefault(data.name, {})
        for q, docs in lists.items():
            values, _ = reranker.score(data.queries[q], [data.corpus[d] for d in docs])
            rows[q] = {d: float(v) for d, v in zip(docs, values, strict=True)}
    identity = reranker.identity
    about = {
        "folder": str(teacher),
        "fingerprint": fingerprint,
        "kind": identity.kind,
        "identity": asdict(identity),
        "identity_id": identity.id,
        "description": identity.describe(),
        "dtype": str(encoder.dtype).removeprefix("torch."),
        "base_model_fingerprint": model_fingerprint,
    }
    del reranker, encoder
    gc.collect()  # the teacher's weights go before the student's training starts
    return _saved(cache, about, scores, pairs, time.time() - started, log)


BaseVectors = Callable[[PairSet], tuple[list[str], np.ndarray, list[str], np.ndarray]]


def hybrid_teacher_scores(
    sources: Sequence[tuple[PairSet, dict[str, list[str]]]],
    base_vectors: BaseVectors,
    space: EmbeddingSpace,
    *,
    cache: Path,
    log: Callable[[str], None] = lambda _msg: None,
) -> TeacherScores:
    """Score every source's candidates by the store's hybrid search over that source's corpus (``space``: the base
    model's, whose vectors ``base_vectors`` gives as query ids, query vectors, document ids, document vectors), or
    read them from ``cache``. A candidate's score is its fused score among the query's first ``HYBRID_DEPTH`` hits;
    one that is not among them scores as the last of them: the teacher ranks it no higher."""
    from taskvec.eval.hybrid import hybrid_hits
    from taskvec.options import KEYWORD_WEIGHT

    fingerprint = f"{HYBRID_TEACHER}:{space.id}:{KEYWORD_WEIGHT}:{HYBRID_DEPTH}"
    wanted = {data.name: lists for data, lists in sources}
    pairs = sum(len(docs) for lists in wanted.values() for docs in lists.values())
    cached = _from_cache(cache, fingerprint, space.model_fingerprint, wanted, pairs, log)
    if cached is not None:
        return cached
    description = (
        f"hybrid search: the base model's cosine (no adapter) and BM25, score-fused at keyword weight "
        f"{KEYWORD_WEIGHT}, {HYBRID_DEPTH} hits deep"
    )
    log(f"teacher {description}: scoring {pairs} pairs")
    started = time.time()
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for data, lists in sources:
        qids, query_vectors, doc_ids, doc_vectors = base_vectors(data)
        row_of = {q: i for i, q in enumerate(qids)}
        asked = list(lists)
        found = hybrid_hits(
            space,
            [data.queries[q] for q in asked],
            query_vectors[[row_of[q] for q in asked]],
            [data.corpus[d] for d in doc_ids],
            doc_vectors,
            doc_ids,
            HYBRID_DEPTH,
        )
        rows = scores.setdefault(data.name, {})
        for q, hits in zip(asked, found, strict=True):
            fused = dict(hits)
            floor = min(fused.values(), default=0.0)
            rows[q] = {d: float(fused.get(d, floor)) for d in lists[q]}
    about = {
        "folder": None,
        "fingerprint": fingerprint,
        "kind": HYBRID_TEACHER,
        "keyword_weight": KEYWORD_WEIGHT,
        "depth": HYBRID_DEPTH,
        "space": space.describe(),
        "description": description,
        "base_model_fingerprint": space.model_fingerprint,
    }
    return _saved(cache, about, scores, pairs, time.time() - started, log)


def _from_cache(
    cache: Path,
    fingerprint: str,
    model_fingerprint: str,
    wanted: dict[str, dict[str, list[str]]],
    pairs: int,
    log: Callable[[str], None],
) -> TeacherScores | None:
    """The cached scores as a result, when the cache holds them all for this teacher and base model."""
    cached = _read_cache(cache, fingerprint, model_fingerprint, wanted)
    if cached is None:
        return None
    log(f"teacher scores: {pairs} pairs read from {cache}")
    return TeacherScores(cached["teacher"], cached["scores"], pairs, 0.0, str(cache), True)


def _saved(
    cache: Path,
    about: dict[str, Any],
    scores: dict[str, dict[str, dict[str, float]]],
    pairs: int,
    seconds: float,
    log: Callable[[str], None],
) -> TeacherScores:
    """Write freshly scored pairs to the cache beside the run, and return them."""
    seconds = round(seconds, 1)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"teacher": about, "scores": scores}) + "\n")
    log(f"teacher scores: {pairs} pairs in {seconds:.0f} s, cached in {cache}")
    return TeacherScores(about, scores, pairs, seconds, str(cache), False)


def _read_cache(
    cache: Path, fingerprint: str, model_fingerprint: str, wanted: dict[str, dict[str, list[str]]]
) -> dict[str, Any] | None:
    """The cached scores when they come from this teacher on this base model and cover every wanted pair."""
    if not cache.is_file():
        return None
    try:
        saved = json.loads(cache.read_text())
        about, scores = saved["teacher"], saved["scores"]
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: score again and overwrite it
    if about.get("fingerprint") != fingerprint or about.get("base_model_fingerprint") != model_fingerprint:
        return None
    for source, lists in wanted.items():
        rows = scores.get(source, {})
        if any(d not in rows.get(q, {}) for q, docs in lists.items() for d in docs):
            return None
    return saved
