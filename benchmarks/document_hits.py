"""What a user's top 10 holds when long documents are indexed as chunks: documents, or repeats of one.

``index`` cuts a document longer than the model's token limit into overlapping chunks (the default; 3,681 of
SciFact's 5,183 documents are cut). Each chunk is a row with its own vector, so a search's best rows can be several
chunks of one document. ``search(per_document=True)`` (the default) returns each document once, as its best chunk;
``per_document=False`` returns rows. This script indexes each set's corpus through ``TaskvecService.index`` as a
user would (``--chunk-tokens``: at another chunk size than index's default) into a temporary store, twice, and
searches every test query as ``search`` answers it (vector and hybrid mode, ``limit=10``) three ways:

- ``truncated``: ``chunking.enabled=False``, one row per document, its first ``max_seq_length`` tokens (what the
  harness and MTEB measure);
- ``chunks``: chunked, every chunk a hit (``per_document=False``: search before documents came back once). A
  repeat of a document already listed takes a place in the 10 and adds nothing to nDCG;
- ``documents``: chunked, each document once, as its best chunk (``per_document=True``, the default).

With ``--rerank FOLDER`` (a ``taskvec train --task rerank`` adapter) a fourth reading: the documents' search with
its top ``DEFAULT_CANDIDATES`` reranked, each candidate a document's best chunk.

nDCG@10 per set, and each change with its noise (1.96 standard deviations of a paired bootstrap over queries, as
the panel reads changes) and verdict. Nothing is chosen from these figures: it measures a default, or an option.

    python benchmarks/document_hits.py --data ../shared/data/scifact --dtype bf16
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import taskvec
from taskvec.data.beir import read_beir
from taskvec.eval.bootstrap import paired_change, per_query_ndcg
from taskvec.options import DEFAULT_CANDIDATES, DEFAULT_CHUNKING, ChunkingOptions
from taskvec.results import SearchHit
from taskvec.store.queries import document_key

ROUNDS = 1000
LIMIT = 10
REPEAT = "\x00repeat"  # stands in for a hit whose document the list already showed: it earns nothing


def shown_documents(hits: list[SearchHit]) -> list[str]:
    """The documents a list of hits shows, in its places: a repeat keeps its place and earns nothing."""
    seen: set[str] = set()
    shown = []
    for found in hits:
        key = document_key(found)
        shown.append(REPEAT if key in seen else key)
        seen.add(key)
    return shown


def shown_rankings(
    service: taskvec.TaskvecService,
    texts: list[str],
    collection: str,
    mode: str,
    per_document: bool,
    rerank: str | None = None,
) -> list[list[str]]:
    """What each query's search shows, as ``search`` answers it (``rerank``: a rerank task rescoring the first
    stage's top ``DEFAULT_CANDIDATES``), in :func:`shown_documents`' terms."""
    return [
        shown_documents(
            service.search(text, collection, limit=LIMIT, mode=mode, per_document=per_document, rerank=rerank).hits
        )
        for text in texts
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", type=Path, required=True, help="BEIR folders (their test split)")
    parser.add_argument("--modes", nargs="+", default=["vector", "hybrid"])
    parser.add_argument("--chunk-tokens", type=int, help="chunk size (default: index's, the model's limit)")
    parser.add_argument("--chunk-overlap", type=int, default=DEFAULT_CHUNKING.overlap)
    parser.add_argument("--rerank", type=Path, help="a rerank adapter folder: also read its rerank of the documents")
    parser.add_argument("--model", help="model folder (default: the bundled one)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    chunking = ChunkingOptions(max_tokens=args.chunk_tokens, overlap=args.chunk_overlap)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="taskvec-document-hits-") as root:
        settings = taskvec.Settings(
            model=args.model,
            store=str(Path(root) / "store"),
            dtype=args.dtype,
            max_documents=10**6,
            max_call_bytes=2**31,
        )
        rerank = None
        if args.rerank is not None:
            rerank, tasks = "document-hits-rerank", Path(root) / "tasks.toml"
            tasks.write_text(f'[tasks.{rerank}]\nkind = "rerank"\nadapter = "{args.rerank.resolve()}"\n')
            settings = settings.model_copy(update={"tasks_file": tasks})
        service = taskvec.build_service(settings)
        for folder in args.data:
            data = read_beir(folder, "test")
            docs = [{"id": i, "text": t} for i, t in zip(data.doc_ids, data.docs, strict=True)]
            started = time.perf_counter()
            whole = service.index(f"{data.name}-whole", docs, chunking=ChunkingOptions(enabled=False))
            cut = service.index(f"{data.name}-cut", docs, chunking=chunking)
            indexed_s = time.perf_counter() - started
            query_ids = [q for q in data.queries if any(g > 0 for g in data.qrels.get(q, {}).values())]
            grades = [data.qrels[q] for q in query_ids]
            sets: dict[str, dict] = {}
            texts = [data.queries[q] for q in query_ids]
            for mode in args.modes:
                searches = {
                    "truncated": (f"{data.name}-whole", True),
                    "chunks": (f"{data.name}-cut", False),
                    "documents": (f"{data.name}-cut", True),
                }
                truncated, chunks, documents = (
                    per_query_ndcg(shown_rankings(service, texts, collection, mode, per_document), grades, LIMIT)
                    for collection, per_document in searches.values()
                )
                sets[mode] = {
                    "truncated": float(truncated.mean()),
                    "chunks": float(chunks.mean()),
                    "documents": float(documents.mean()),
                    "documents_vs_chunks": paired_change(chunks, documents, ROUNDS),
                    "documents_vs_truncated": paired_change(truncated, documents, ROUNDS),
                }
                if rerank is not None:
                    shown = shown_rankings(service, texts, f"{data.name}-cut", mode, True, rerank)
                    reranked = per_query_ndcg(shown, grades, LIMIT)
                    sets[mode]["reranked"] = float(reranked.mean())
                    sets[mode]["reranked_vs_documents"] = paired_change(documents, reranked, ROUNDS)
            report[data.name] = {
                "chunk_tokens": args.chunk_tokens,
                "chunk_overlap": args.chunk_overlap,
                "queries": len(query_ids),
                "documents": len(docs),
                "chunked_documents": cut.chunked_documents,
                "rows": cut.rows_written,
                "truncated_documents": whole.truncated,
                "index_seconds": round(indexed_s, 1),
                "modes": sets,
            }
            print(
                f"{data.name}: {len(query_ids)} queries, {len(docs)} documents ({cut.chunked_documents} cut into "
                f"{cut.rows_written} rows; {whole.truncated} truncated when not cut), indexed twice in {indexed_s:.0f} s"
            )
            for mode, row in sets.items():
                a, b = row["documents_vs_chunks"], row["documents_vs_truncated"]
                print(
                    f"  {mode}: truncated {row['truncated']:.4f}, chunks {row['chunks']:.4f}, documents "
                    f"{row['documents']:.4f} (vs chunks {a['change']:+.4f} ± {a['noise']:.4f} {a['verdict']}; "
                    f"vs truncated {b['change']:+.4f} ± {b['noise']:.4f} {b['verdict']})"
                )
                if "reranked" in row:
                    c = row["reranked_vs_documents"]
                    print(
                        f"    reranked top {DEFAULT_CANDIDATES}: {row['reranked']:.4f} "
                        f"({c['change']:+.4f} ± {c['noise']:.4f} {c['verdict']} vs documents)"
                    )
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
