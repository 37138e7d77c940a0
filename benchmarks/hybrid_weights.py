"""How hybrid search should fuse BM25 with the vectors, read on validation queries only (docs/hybrid.md).

Hybrid search (``search(mode="hybrid")``) fuses the vector ranking and BM25's with the store's ``fuse``
(``taskvec/store/queries.py``): each list's scores placed on its own mean +- 3 standard deviations, then weighted
``1 - w`` and ``w``. This script scores that fusion at each BM25 weight ``w`` (the store's own function, called
with ``keyword_weight=w``; ``w = 0`` is vector search), beside reciprocal-rank fusion at equal weights (what hybrid
search did before, for reference), each list as deep as the store reads it for ``limit=10``. The queries:

- ``--held-back``: the served ``retrieval`` adapter's training sources, the queries ``taskvec train`` held back from
  it (the same seeded carve, fraction 0.15, seed 42, as its model card's command);
- ``--unseen``: retrieval sets of other domains the adapter did not train on, every query (training sets, not panel
  sets: the held-out panel is never read here).

Each is searched over its whole corpus. It prints every weight's gain over vector search per set, and the weight
the store uses is picked by the rule it prints: the largest smallest gain across the sets, the lower weight where
two are within 0.001 of each other (keywords are what hurts in domains unlike these). The pick is read on the panel
once, with ``taskvec eval panel --task retrieval --mode hybrid``.

    python benchmarks/hybrid_weights.py --held-back ../shared/data/scifact data/train/tatqa-retrieval \\
        data/train/stackoverflow-retrieval --unseen data/train/policyqa-retrieval \\
        data/train/qatarliving-retrieval --dtype bf16
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa

from taskvec import metrics
from taskvec.config import Settings
from taskvec.data.beir import read_beir
from taskvec.options import KEYWORD_WEIGHT
from taskvec.results import SearchHit
from taskvec.store.queries import fuse, hybrid_depth
from taskvec.store.writer import ensure_text_index
from taskvec.train.data import carve_validation, read_beir_pairs

VALIDATION = {"fraction": 0.15, "max_size": 1000, "seed": 42}  # the shipped retrieval adapter's carve (its card)
RRF_K = 60  # reciprocal-rank fusion's constant (Cormack et al.), for the reference row
TIE = 0.001  # smallest gains closer than this are a tie, settled towards the lower weight
Ranking = list[SearchHit]


def bm25_rankings(doc_ids: list[str], docs: list[str], queries: list[str], depth: int) -> list[Ranking]:
    with tempfile.TemporaryDirectory() as root:
        table = lancedb.connect(root).create_table("t", pa.table({"id": doc_ids, "text": docs}))
        ensure_text_index(table)
        return [
            [
                SearchHit(id=r["id"], text="", score=float(r["_score"]))
                for r in table.search(q, query_type="fts", fts_columns="text")
                .select(["id", "_score"])
                .limit(depth)
                .to_list()
            ]
            for q in queries
        ]


def vector_rankings(queries: np.ndarray, docs: np.ndarray, doc_ids: list[str], depth: int) -> list[Ranking]:
    rankings = []
    for row in queries @ docs.T:
        top = np.argsort(-row, kind="stable")[:depth]
        rankings.append([SearchHit(id=doc_ids[i], text="", score=float(row[i])) for i in top])
    return rankings


def reciprocal_rank_fused(vector: Ranking, bm25: Ranking, k: int = 10) -> list[str]:
    score: dict[str, float] = {}
    for ranking in (vector, bm25):
        for rank, found in enumerate(ranking, start=1):
            score[found.id] = score.get(found.id, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(score, key=lambda d: -score[d])[:k]


def pick_weight(gains: dict[float, list[float]]) -> float:
    """The weight whose smallest gain over vector search is largest; the lowest of those within ``TIE`` of it."""
    best = max(min(g) for w, g in gains.items() if w > 0)
    return min(w for w, g in gains.items() if w > 0 and min(g) >= best - TIE)


def validation_queries(folder: Path, carve: bool) -> tuple[list[str], list[str], list[dict[str, int]], object]:
    data = read_beir(folder, "train")
    query_ids = [q for q in data.queries if any(g > 0 for g in data.qrels.get(q, {}).values())]
    if carve:
        _, val = carve_validation(
            read_beir_pairs(folder), VALIDATION["fraction"], VALIDATION["max_size"], seed=VALIDATION["seed"]
        )
        held_out = set(val.group_keys())
        query_ids = [q for q in query_ids if q in held_out]
    return query_ids, [data.queries[q] for q in query_ids], [data.qrels[q] for q in query_ids], data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held-back", nargs="*", type=Path, default=[], help="training BEIR folders (carved)")
    parser.add_argument("--unseen", nargs="*", type=Path, default=[], help="other BEIR training folders (all queries)")
    parser.add_argument("--weights", nargs="+", type=float, default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    encoder = Settings(dtype=args.dtype).build_encoder()
    task = encoder.tasks["retrieval"]
    depth = hybrid_depth(10)
    report: dict[str, dict] = {}
    gains: dict[float, list[float]] = {w: [] for w in args.weights}
    for folder, carve in [(f, True) for f in args.held_back] + [(f, False) for f in args.unseen]:
        started = time.perf_counter()
        query_ids, texts, grades, data = validation_queries(folder, carve)
        vector = vector_rankings(
            encoder.encode(texts, task, "query").vectors,
            encoder.encode(data.docs, task, "document").vectors,
            data.doc_ids,
            depth,
        )
        bm25 = bm25_rankings(data.doc_ids, data.docs, texts, depth)

        def mean_ndcg(rankings: list[list[str]], grades: list[dict[str, int]] = grades) -> float:
            return float(np.mean([metrics.ndcg_at_k(r, g, 10) for r, g in zip(rankings, grades, strict=True)]))

        vector_alone = mean_ndcg([[h.id for h in v[:10]] for v in vector])
        figures = {
            w: mean_ndcg([[h.id for h in fuse(v, b, 10, keyword_weight=w)] for v, b in zip(vector, bm25, strict=True)])
            for w in args.weights
        }
        rrf = mean_ndcg([reciprocal_rank_fused(v, b) for v, b in zip(vector, bm25, strict=True)])
        bm25_alone = mean_ndcg([[h.id for h in b[:10]] for b in bm25])
        print(
            f"{folder} ({'held back' if carve else 'unseen'}): {len(query_ids)} queries, {len(data.docs)} documents, "
            f"vector {vector_alone:.4f}, BM25 alone {bm25_alone:.4f}, reciprocal-rank fusion {rrf:.4f} "
            f"({rrf - vector_alone:+.4f}) ({time.perf_counter() - started:.0f} s)"
        )
        for w, figure in figures.items():
            gains[w].append(figure - vector_alone)
            print(f"  BM25 weight {w:.2f}: nDCG@10 {figure:.4f} ({figure - vector_alone:+.4f} vs vector)")
        report[str(folder)] = {
            "queries": len(query_ids),
            "carved": carve,
            "vector": vector_alone,
            "bm25": bm25_alone,
            "reciprocal_rank_fusion": rrf,
            "ndcg_at_10": {str(w): f for w, f in figures.items()},
        }
    picked = pick_weight(gains)
    print("smallest gain per weight: " + ", ".join(f"{w:.2f}: {min(g):+.4f}" for w, g in gains.items() if w > 0))
    print(f"picked BM25 weight {picked:.2f} (search's default: {KEYWORD_WEIGHT})")
    if args.json_out:
        args.json_out.write_text(json.dumps({"sets": report, "picked": picked}, indent=2) + "\n")


if __name__ == "__main__":
    main()
