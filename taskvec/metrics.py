"""The metrics of taskvec, written to agree with what MTEB reports: the quality harness (``taskvec eval``) and
training's validation both score with these, so a validation figure means what the harness's figure means.

Retrieval follows ``trec_eval`` (which MTEB calls through ``pytrec_eval``), because the published figures we
reproduce were computed that way:

- nDCG uses the relevance grade itself as the gain (linear, not ``2**grade - 1``) and the ideal ranking of every
  judged document of the query, so unretrieved relevant documents still lower the score.
- A document is relevant when its grade is above 0 (recall and MRR).
- Equal scores are ordered by document id in *descending* string order (trec_eval's ``comp_sim_docno``), so tied
  documents land in the same positions as in MTEB's numbers and every run of the harness gives the same figure.
- Every query in the qrels counts in the mean; a query with no relevant document scores 0 on every metric, as in
  trec_eval (it is reported separately so that a broken qrels file does not pass unnoticed).

The other kinds use the scipy/scikit-learn functions MTEB uses (imported when first called), behind names that say
what is computed.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np

Qrels = Mapping[str, Mapping[str, int]]  # query id -> document id -> relevance grade
_SCORE_BLOCK = 1 << 24  # at most this many query-document scores in memory at once (64 MiB of float32)


def lexical_ranks(ids: Sequence[str]) -> np.ndarray:
    """Each id's position in ascending string order: the tie key that :func:`top_k` orders descending."""
    order = sorted(range(len(ids)), key=ids.__getitem__)
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[order] = np.arange(len(ids))
    return ranks


def top_k(scores: np.ndarray, tie_ranks: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest ``scores``, best first; equal scores go to the higher ``tie_ranks`` first.

    Documents tied with the k-th score are all considered before cutting, so the tie rule decides which of them
    make the cut (a plain ``argpartition`` would pick among them arbitrarily).
    """
    n = scores.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k < n:
        kth = np.partition(scores, n - k)[n - k]
        candidates = np.flatnonzero(scores >= kth)
    else:
        candidates = np.arange(n)
    order = np.lexsort((-tie_ranks[candidates], -scores[candidates]))
    return candidates[order[:k]]


def exact_search(queries: np.ndarray, docs: np.ndarray, doc_ids: Sequence[str], depth: int) -> list[list[str]]:
    """The ``depth`` best documents per query by cosine, ties ordered as trec_eval does (see :func:`top_k`).

    Scores are computed a block of queries at a time so memory stays bounded on large corpora.
    """
    queries, docs = normalize_rows(queries), normalize_rows(docs)
    tie_ranks = lexical_ranks(doc_ids)
    block = max(1, _SCORE_BLOCK // max(1, len(doc_ids)))
    rankings = []
    for start in range(0, len(queries), block):
        for row in queries[start : start + block] @ docs.T:
            rankings.append([doc_ids[i] for i in top_k(row, tie_ranks, depth)])
    return rankings


def search_ndcg(
    query_vecs: np.ndarray,
    doc_vecs: np.ndarray,
    doc_ids: Sequence[str],
    relevant: Sequence[Collection[str]],
    k: int = 10,
) -> float:
    """Mean nDCG@k of :func:`exact_search`, each query's ``relevant`` document ids at grade 1."""
    rankings = exact_search(query_vecs, doc_vecs, doc_ids, depth=k)
    return float(np.mean([ndcg_at_k(r, dict.fromkeys(rel, 1), k) for r, rel in zip(rankings, relevant, strict=True)]))


def ndcg_at_k(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """nDCG@k with linear gains (trec_eval's ``ndcg_cut``); 0 when the query has no relevant document."""
    dcg = sum(max(grades.get(doc, 0), 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal_gains = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal_gains))
    return dcg / ideal if ideal > 0 else 0.0


def recall_at_k(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k; 0 when the query has no relevant document."""
    relevant = {doc for doc, g in grades.items() if g > 0}
    if not relevant:
        return 0.0
    return sum(doc in relevant for doc in ranking[:k]) / len(relevant)


def mrr_at_k(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document in the top k (0 if none is there)."""
    for rank, doc in enumerate(ranking[:k]):
        if grades.get(doc, 0) > 0:
            return 1.0 / (rank + 1)
    return 0.0


def retrieval_scores(
    rankings: Mapping[str, Sequence[str]],
    qrels: Qrels,
    *,
    ndcg_k: int = 10,
    recall_k: int = 100,
    mrr_k: int = 10,
) -> dict[str, float | int]:
    """Mean nDCG@k, recall@k and MRR@k over every query of ``qrels`` (a query missing from ``rankings`` scores 0)."""
    if not qrels:
        raise ValueError("qrels is empty: there is no query to score.")
    ndcg, recall, mrr = [], [], []
    without_relevant = 0
    for query_id, grades in qrels.items():
        ranking = rankings.get(query_id, ())
        ndcg.append(ndcg_at_k(ranking, grades, ndcg_k))
        recall.append(recall_at_k(ranking, grades, recall_k))
        mrr.append(mrr_at_k(ranking, grades, mrr_k))
        without_relevant += not any(g > 0 for g in grades.values())
    return {
        f"ndcg_at_{ndcg_k}": float(np.mean(ndcg)),
        f"recall_at_{recall_k}": float(np.mean(recall)),
        f"mrr_at_{mrr_k}": float(np.mean(mrr)),
        "queries": len(qrels),
        "queries_without_relevant": without_relevant,
    }


def spearman(gold: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation (ties get their average rank), as MTEB's STS evaluator reports it."""
    from scipy.stats import spearmanr

    return float(spearmanr(gold, predicted).statistic)


def pearson(gold: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray) -> float:
    from scipy.stats import pearsonr

    return float(pearsonr(gold, predicted).statistic)


def average_precision(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Average precision of ranking the positives (label 1) by score; tied scores form one threshold (sklearn)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(labels, scores))


def v_measure(labels: Sequence[str] | np.ndarray, clusters: Sequence[int] | np.ndarray) -> float:
    """V-measure: the harmonic mean of homogeneity and completeness; blind to how clusters are numbered."""
    from sklearn.metrics import v_measure_score

    return float(v_measure_score(labels, clusters))


def paired_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of row i of ``a`` with row i of ``b``."""
    return np.einsum("ij,ij->i", normalize_rows(a), normalize_rows(b))


def normalize_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)
