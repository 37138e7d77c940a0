"""How much weight BM25 should get in hybrid search, read on validation queries only (docs/hybrid.md).

Hybrid search (``search(mode="hybrid")``) fuses the vector ranking and BM25's by reciprocal rank with equal
weights. This script scores a weighted fusion, ``(1 - w) / (60 + vector rank) + w / (60 + BM25 rank)`` (``w = 0.5``
is the store's fusion, ``w = 0`` vector search alone), on the validation queries of the served ``retrieval``
adapter's training sources: the queries ``taskvec train`` held back from it (the same seeded carve, fraction 0.15,
seed 42, as its model card's command), searched over their whole corpus. BM25 is LanceDB's full-text index built
as the store builds it (``taskvec.store.writer.ensure_text_index``). The held-out panel is not read here: a weight
chosen on these sets is read there once, with ``taskvec eval panel --task retrieval --mode hybrid``.

    python benchmarks/hybrid_weights.py --data ../shared/data/scifact data/train/tatqa-retrieval \\
        data/train/stackoverflow-retrieval --dtype bf16
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
from taskvec.store.queries import RRF_K
from taskvec.store.writer import ensure_text_index
from taskvec.train.data import carve_validation, read_beir_pairs

VALIDATION = {"fraction": 0.15, "max_size": 1000, "seed": 42}  # the shipped retrieval adapter's carve (its card)


def bm25_rankings(doc_ids: list[str], docs: list[str], queries: list[str], depth: int) -> list[list[str]]:
    with tempfile.TemporaryDirectory() as root:
        table = lancedb.connect(root).create_table("t", pa.table({"id": doc_ids, "text": docs}))
        ensure_text_index(table)
        return [
            [
                r["id"]
                for r in table.search(q, query_type="fts", fts_columns="text")
                .select(["id", "_score"])
                .limit(depth)
                .to_list()
            ]
            for q in queries
        ]


def fused(vector: list[str], bm25: list[str], w: float, k: int = 10) -> list[str]:
    score: dict[str, float] = {}
    for weight, ranking in ((1 - w, vector), (w, bm25)):
        for rank, doc in enumerate(ranking, start=1):
            score[doc] = score.get(doc, 0.0) + weight / (RRF_K + rank)
    return sorted(score, key=lambda d: -score[d])[:k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", type=Path, required=True, help="BEIR folders with qrels/train.tsv")
    parser.add_argument("--weights", nargs="+", type=float, default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    parser.add_argument("--depth", type=int, default=100, help="each ranking's depth before fusion")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    encoder = Settings(dtype=args.dtype).build_encoder()
    task = encoder.tasks["retrieval"]
    report = {}
    for folder in args.data:
        started = time.perf_counter()
        _, val = carve_validation(
            read_beir_pairs(folder), VALIDATION["fraction"], VALIDATION["max_size"], seed=VALIDATION["seed"]
        )
        held_out = set(val.group_keys())
        data = read_beir(folder, "train")
        query_ids = [q for q in data.queries if q in held_out and any(g > 0 for g in data.qrels.get(q, {}).values())]
        texts = [data.queries[q] for q in query_ids]
        grades = [data.qrels[q] for q in query_ids]
        vector = metrics.exact_search(
            encoder.encode(texts, task, "query").vectors,
            encoder.encode(data.docs, task, "document").vectors,
            data.doc_ids,
            depth=args.depth,
        )
        bm25 = bm25_rankings(data.doc_ids, data.docs, texts, args.depth)
        per_weight = {
            w: np.asarray(
                [metrics.ndcg_at_k(fused(v, b, w), g, 10) for v, b, g in zip(vector, bm25, grades, strict=True)]
            )
            for w in args.weights
        }
        bm25_alone = float(np.mean([metrics.ndcg_at_k(b, g, 10) for b, g in zip(bm25, grades, strict=True)]))
        print(
            f"{folder}: {len(query_ids)} validation queries, {len(data.docs)} documents, BM25 alone {bm25_alone:.4f} ({time.perf_counter() - started:.0f} s)"
        )
        vector_alone = per_weight.get(0.0)
        for w, figures in per_weight.items():
            change = f" ({np.mean(figures - vector_alone):+.4f} vs vector)" if vector_alone is not None else ""
            print(f"  w_bm25 {w:.2f}: nDCG@10 {figures.mean():.4f}{change}")
        report[str(folder)] = {
            "queries": len(query_ids),
            "bm25": bm25_alone,
            "ndcg_at_10": {str(w): float(f.mean()) for w, f in per_weight.items()},
        }
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
