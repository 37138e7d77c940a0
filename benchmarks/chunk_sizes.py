"""How a retrieval index should cut long documents, read on validation queries only (docs/chunking.md).

A chunked collection is searched by document: each document scores its best chunk's cosine (``search``'s
``per_document=True``; here the same maximum, computed over exact cosines without a store). This script cuts every
corpus at each ``--sizes`` token count (``--overlap`` tokens shared, as ``index`` cuts) and compares each with the
default size, the model's limit after its document prompt. With ``--layered`` it also scores each size *beside*
the default: both cuttings indexed, a document scored by its best row of either (``D+S`` in the output), which the
store's per-document search does as it is. The queries are those of ``benchmarks/hybrid_weights.py``:

- ``--held-back``: the served ``retrieval`` adapter's training sources, the queries ``taskvec train`` held back from
  it (the seeded carve of its model card's command);
- ``--unseen``: retrieval sets of other domains the adapter did not train on, every query (training sets, not panel
  sets: the held-out panel is never read here).

The rule, written before any figure was read: the candidate whose smallest gain over the default across the sets is
largest; among those within 0.001 of it, the one with the fewest rows over all the sets (less to store and
search). A pick of the default leaves the default alone, and the panel unread.

    python benchmarks/chunk_sizes.py --held-back ../shared/data/scifact data/train/tatqa-retrieval \\
        data/train/stackoverflow-retrieval --unseen data/train/policyqa-retrieval \\
        data/train/qatarliving-retrieval --sizes 96 128 192 --layered --dtype bf16
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.hybrid_weights import validation_queries
from taskvec import metrics
from taskvec.config import Settings
from taskvec.errors import InvalidInputError
from taskvec.eval.bootstrap import paired_spread, per_query_ndcg
from taskvec.ingest.chunking import chunk_documents
from taskvec.options import ChunkingOptions
from taskvec.store.documents import Document

SIZES = [96, 128, 192]
OVERLAP = 32  # index's default (ChunkingOptions.overlap)
TIE = 0.001  # smallest gains closer than this are a tie, settled towards fewer rows


def best_chunk_scores(queries: np.ndarray, rows: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each document's best row cosine per query; a document's rows are contiguous, beginning at ``starts``."""
    return np.maximum.reduceat(queries @ rows.T, starts, axis=1)


def pick(gains: dict[str, list[float]], rows: dict[str, int]) -> str:
    """The candidate whose smallest gain is largest; of those within ``TIE`` of it, the one with the fewest rows."""
    best = max(min(g) for g in gains.values())
    return min((name for name, g in gains.items() if min(g) >= best - TIE), key=lambda name: rows[name])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held-back", nargs="*", type=Path, default=[], help="training BEIR folders (carved)")
    parser.add_argument("--unseen", nargs="*", type=Path, default=[], help="other BEIR training folders (all queries)")
    parser.add_argument("--sizes", nargs="+", type=int, default=SIZES, help="chunk sizes in tokens to compare")
    parser.add_argument("--overlap", type=int, default=OVERLAP)
    parser.add_argument("--layered", action="store_true", help="also score each size beside the default size")
    parser.add_argument("--model", help="model folder (default: the bundled one)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    try:  # index's own rules for a chunk size and its overlap
        [ChunkingOptions(max_tokens=size, overlap=args.overlap) for size in args.sizes]
    except InvalidInputError as exc:
        parser.error(f"{exc} (--sizes, --overlap)")
    encoder = Settings(model=args.model, dtype=args.dtype).build_encoder()
    task = encoder.tasks["retrieval"]
    prompt_tokens = len(encoder.tokenizer(task.document_prompt, add_special_tokens=True)["input_ids"])
    default = encoder.max_seq_length - prompt_tokens  # what index cuts at when no size is given
    sizes = sorted({*args.sizes, default})
    layered = [f"{default}+{size}" for size in sizes if size != default] if args.layered else []
    names = [str(size) for size in sizes] + layered
    gains: dict[str, list[float]] = {name: [] for name in names}
    total_rows = dict.fromkeys(names, 0)
    report: dict[str, Any] = {"default": default, "overlap": args.overlap, "sets": {}}
    for folder, carve in [(f, True) for f in args.held_back] + [(f, False) for f in args.unseen]:
        started = time.perf_counter()
        _, texts, grades, data = validation_queries(folder, carve)
        docs = [Document(id=i, text=t) for i, t in zip(data.doc_ids, data.docs, strict=True)]
        position = {doc_id: n for n, doc_id in enumerate(data.doc_ids)}
        queries = encoder.encode(texts, task, "query").vectors
        scores: dict[str, np.ndarray] = {}
        rows_made: dict[str, int] = {}
        for size in sizes:
            rows, _, _ = chunk_documents(docs, encoder.tokenizer, size, args.overlap)
            parents = np.asarray([position[r.parent_id or r.id] for r in rows])
            starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
            vectors = encoder.encode([r.text for r in rows], task, "document").vectors
            scores[str(size)], rows_made[str(size)] = best_chunk_scores(queries, vectors, starts), len(rows)
        for name in names[len(sizes) :]:  # both cuttings: a document's best row of either
            first, second = name.split("+")
            scores[name] = np.maximum(scores[first], scores[second])
            rows_made[name] = rows_made[first] + rows_made[second]
        tie_ranks = metrics.lexical_ranks(data.doc_ids)  # ties ordered as the harness orders them
        per_query = {
            name: per_query_ndcg(
                [[data.doc_ids[i] for i in metrics.top_k(row, tie_ranks, 10)] for row in scores[name]], grades
            )
            for name in names
        }
        print(
            f"{folder} ({'held back' if carve else 'unseen'}): {len(texts)} queries, {len(docs)} documents "
            f"({time.perf_counter() - started:.0f} s)"
        )
        figures = {}
        for name in names:
            spread = paired_spread(per_query[str(default)], per_query[name])
            gains[name].append(spread["change"])
            total_rows[name] += rows_made[name]
            figures[name] = {"rows": rows_made[name], "ndcg_at_10": float(per_query[name].mean()), **spread}
            print(
                f"  {name} tokens: {rows_made[name]} rows, nDCG@10 {per_query[name].mean():.4f} "
                f"({spread['change']:+.4f} ± {spread['change_std']:.4f} sd vs {default})"
            )
        report["sets"][str(folder)] = {"queries": len(texts), "carved": carve, "candidates": figures}
    picked = pick(gains, total_rows)
    print("smallest gain: " + ", ".join(f"{name}: {min(g):+.4f}" for name, g in gains.items()))
    print(f"picked {picked} (index's default: {default})")
    report["picked"] = picked
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
