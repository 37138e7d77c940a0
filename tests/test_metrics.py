"""The metrics shared by the harness and training, against cases worked out by hand (the arithmetic is in each
test's comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from taskvec import metrics
from taskvec.eval.runners import few_shot_samples


# ----------------------------------------------------------------------------------------------- retrieval
def test_ndcg_uses_linear_gains_of_graded_qrels() -> None:
    # ranking c(0) b(1) a(2) d(unjudged); DCG@3 = 0/log2(2) + 1/log2(3) + 2/log2(4) = 0.63093 + 1 = 1.63093
    # ideal: a(2) b(1) -> 2/log2(2) + 1/log2(3) = 2.63093; nDCG@3 = 0.61991 (exponential gains would give 0.58687)
    grades = {"a": 2, "b": 1, "c": 0}
    value = metrics.ndcg_at_k(["c", "b", "a", "d"], grades, 3)
    assert value == pytest.approx((1 / math.log2(3) + 1) / (2 + 1 / math.log2(3)))
    assert value == pytest.approx(0.61991, abs=1e-5)


def test_ndcg_cut_ignores_documents_below_k_but_not_missed_relevant_ones() -> None:
    # only b (grade 1) at rank 2 is inside k=2: DCG = 1/log2(3) = 0.63093; ideal@2 = 2 + 0.63093 -> 0.23981
    assert metrics.ndcg_at_k(["c", "b", "a"], {"a": 2, "b": 1}, 2) == pytest.approx(0.23981, abs=1e-5)
    # a ranking shorter than k, holding the one relevant document first, is perfect
    assert metrics.ndcg_at_k(["a"], {"a": 1}, 10) == 1.0


def test_recall_and_mrr_count_grades_above_zero_as_relevant() -> None:
    grades = {"a": 2, "b": 1, "c": 0}
    ranking = ["c", "b", "x", "a"]
    assert metrics.recall_at_k(ranking, grades, 2) == 0.5  # b found, a not yet: 1 of 2
    assert metrics.recall_at_k(ranking, grades, 4) == 1.0
    assert metrics.mrr_at_k(ranking, grades, 10) == 0.5  # c has grade 0; first relevant is b at rank 2
    assert metrics.mrr_at_k(ranking, grades, 1) == 0.0


def test_query_without_relevant_document_scores_zero_and_counts_in_the_mean() -> None:
    # q1 is perfect (1.0 on every metric); q2 has only a grade-0 judgement -> 0, as trec_eval; mean = 0.5
    qrels = {"q1": {"a": 1}, "q2": {"b": 0}}
    scores = metrics.retrieval_scores({"q1": ["a", "b"], "q2": ["b", "a"]}, qrels)
    assert scores["ndcg_at_10"] == 0.5
    assert scores["recall_at_100"] == 0.5
    assert scores["mrr_at_10"] == 0.5
    assert scores["queries"] == 2
    assert scores["queries_without_relevant"] == 1


def test_query_missing_from_the_rankings_scores_zero() -> None:
    scores = metrics.retrieval_scores({"q1": ["a"]}, {"q1": {"a": 1}, "q2": {"a": 1}})
    assert scores["ndcg_at_10"] == 0.5


def test_ties_break_by_descending_document_id_like_trec_eval() -> None:
    ids = ["d1", "d2", "d3", "d4"]
    scores = np.array([0.5, 0.9, 0.5, 0.1], dtype=np.float32)
    ranks = metrics.lexical_ranks(ids)
    assert [ids[i] for i in metrics.top_k(scores, ranks, 4)] == ["d2", "d3", "d1", "d4"]
    # the tie sits on the cut: d3 wins it, so a relevant d1 falls outside the top 2
    top2 = [ids[i] for i in metrics.top_k(scores, ranks, 2)]
    assert top2 == ["d2", "d3"]
    assert metrics.ndcg_at_k(top2, {"d1": 1}, 2) == 0.0
    # descending order is by string, not number: "d10" < "d9"
    ids = ["d9", "d10"]
    assert [ids[i] for i in metrics.top_k(np.zeros(2), metrics.lexical_ranks(ids), 2)] == ["d9", "d10"]


def test_exact_search_blocks_give_the_same_ranking(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    queries, docs = rng.normal(size=(7, 5)), rng.normal(size=(40, 5))
    ids = [f"d{i}" for i in range(40)]
    whole = metrics.exact_search(queries, docs, ids, depth=10)
    monkeypatch.setattr(metrics, "_SCORE_BLOCK", 40)  # one query per block
    assert metrics.exact_search(queries, docs, ids, depth=10) == whole
    best = np.argsort(-metrics.normalize_rows(docs) @ metrics.normalize_rows(queries)[0])[:10]
    assert whole[0] == [ids[i] for i in best]


def test_search_ndcg_scores_exact_search_with_binary_grades() -> None:
    # d2 repeats d1. q0 ranks d2, d1 (a tie: descending id, as trec_eval) and wants d1: 1/log2(3) = 0.63093.
    # q1 ranks d0, d3 and wants both: 1.0. q2 wants d1, which is not in q2's top 2 (d0, d3): 0. Mean 0.54364.
    docs = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.6, 0.8]])
    queries = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    ids = ["d0", "d1", "d2", "d3"]
    assert metrics.exact_search(queries, docs, ids, depth=2) == [["d2", "d1"], ["d0", "d3"], ["d0", "d3"]]
    value = metrics.search_ndcg(queries, docs, ids, [{"d1"}, {"d0", "d3"}, {"d1"}], k=2)
    assert value == pytest.approx((1 / math.log2(3) + 1.0 + 0.0) / 3)


def test_top_k_handles_k_beyond_the_corpus_and_zero() -> None:
    ranks = metrics.lexical_ranks(["a", "b"])
    assert metrics.top_k(np.array([0.1, 0.2]), ranks, 10).tolist() == [1, 0]
    assert metrics.top_k(np.array([0.1, 0.2]), ranks, 0).tolist() == []


# --------------------------------------------------------------------------------------- other metrics
def test_spearman_gives_ties_their_average_rank() -> None:
    # ranks x = 1, 2.5, 2.5, 4; ranks y = 1, 3, 2, 4; deviations (-1.5, 0, 0, 1.5) and (-1.5, .5, -.5, 1.5)
    # covariance 4.5, variances 4.5 and 5 -> 4.5 / sqrt(22.5) = 0.94868
    assert metrics.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5))


def test_average_precision_by_hand() -> None:
    # positives at ranks 1 and 3: precision 1/1 and 2/3 -> (1 + 2/3) / 2
    assert metrics.average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)
    # a tie between a positive and a negative is one threshold: precision there is 1/2
    assert metrics.average_precision([1, 0], [0.5, 0.5]) == 0.5


def test_v_measure_ignores_cluster_numbering_and_punishes_one_big_cluster() -> None:
    labels = ["x", "x", "y", "y"]
    assert metrics.v_measure(labels, [7, 7, 3, 3]) == 1.0
    assert metrics.v_measure(labels, [0, 0, 0, 0]) == 0.0
    # splitting each class in two keeps homogeneity 1 but completeness 0.5 -> 2 * 0.5 / 1.5
    assert metrics.v_measure(labels, [0, 1, 2, 3]) == pytest.approx(2 / 3)


def test_paired_cosine_is_scale_free() -> None:
    a = np.array([[1.0, 0.0], [3.0, 4.0]])
    b = np.array([[2.0, 0.0], [-3.0, -4.0]])
    assert metrics.paired_cosine(a, b).tolist() == pytest.approx([1.0, -1.0])


# -------------------------------------------------------------------------------------- few-shot draws
def _mteb_1_12_draws(labels: list[str], n: int, experiments: int) -> list[list[int]]:
    """MTEB 1.12's sampling, written as it runs there: seed numpy once, shuffle in place before each experiment,
    and let each evaluator's constructor re-seed numpy with 42."""
    np.random.seed(42)
    idxs = None
    draws = []
    for _ in range(experiments):
        if idxs is None:
            idxs = np.arange(len(labels))
        np.random.shuffle(idxs)
        counter: dict[str, int] = {}
        chosen = []
        for i in idxs:
            if counter.get(labels[i], 0) < n:
                chosen.append(int(i))
                counter[labels[i]] = counter.get(labels[i], 0) + 1
        draws.append(chosen)
        np.random.seed(42)  # Evaluator.__init__
    return draws


def test_few_shot_draws_match_mteb_and_take_n_per_label() -> None:
    labels = ["a"] * 30 + ["b"] * 5 + ["c"] * 12
    draws = few_shot_samples(labels, 8, 10, seed=42)
    assert [d.tolist() for d in draws] == _mteb_1_12_draws(labels, 8, 10)
    for rows in draws:
        counts = {label: sum(labels[i] == label for i in rows) for label in "abc"}
        assert counts == {"a": 8, "b": 5, "c": 8}  # b has only 5: all of them
    assert len({tuple(d.tolist()) for d in draws}) > 1  # experiments draw different rows
    assert [d.tolist() for d in few_shot_samples(labels, 8, 10, seed=43)] != [d.tolist() for d in draws]
