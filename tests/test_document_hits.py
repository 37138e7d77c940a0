"""A search returns documents, not chunks: a long document indexed as chunks is one hit, its best chunk.

On the store (local and S3, the in-memory fast path and LanceDB's filtered path, vector and hybrid), and through an
MCP client session and the CLI. ``per_document=False`` gives every chunk back as a hit of its own.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers import call_ok
from mcp import Client

from taskvec.errors import InvalidInputError
from taskvec.options import ChunkingOptions
from taskvec.server import build_server
from taskvec.service import TaskvecService
from taskvec.spaces import EmbeddingSpace
from taskvec.store import Document, Store
from taskvec.store.queries import DOCUMENT_READ_ROWS, best_per_document, read_documents

DIM = 8
SPACE = EmbeddingSpace("m", "fp-1", "retrieval", "q: ", "d: ", None, None, "mean", True, 256, DIM)
EVERYTHING = {"kind": {"$in": ["chunk", "whole"]}}  # admits every row, and sends the search down LanceDB's path


def near(query: np.ndarray, closeness: float, seed: int) -> np.ndarray:
    """A unit vector with cosine ``closeness`` to the unit ``query``."""
    other = np.random.default_rng(seed).normal(size=DIM)
    other -= (other @ query) * query
    other /= np.linalg.norm(other)
    return (closeness * query + np.sqrt(1 - closeness**2) * other).astype(np.float32)


def corpus(query: np.ndarray, chunks_of_long: int) -> tuple[list[Document], np.ndarray]:
    """One long document whose chunks are all nearer the query than any other document, and 12 short ones."""
    docs, vectors = [], []
    for n in range(chunks_of_long):
        docs.append(Document(f"long#{n}", f"part {n} of the long one", {"kind": "chunk"}, parent_id="long"))
        vectors.append(near(query, 0.99 - 0.001 * n, n))
    for n in range(12):
        docs.append(Document(f"short{n}", f"short text number {n}", {"kind": "whole"}))
        vectors.append(near(query, 0.9 - 0.05 * n, 100 + n))
    return docs, np.stack(vectors)


def maxp_order(docs: list[Document], vectors: np.ndarray, query: np.ndarray) -> list[str]:
    """Documents by their best row's cosine, computed here without the store."""
    best: dict[str, float] = {}
    for doc, score in zip(docs, vectors @ query, strict=True):
        key = doc.parent_id or doc.id
        best[key] = max(best.get(key, -2.0), float(score))
    return sorted(best, key=lambda k: -best[k])


@pytest.mark.parametrize("filtered", [False, True], ids=["fast-path", "lancedb"])
def test_a_chunked_document_is_one_hit_its_best_chunk(store_uri: str, filtered: bool) -> None:
    query = np.eye(DIM, dtype=np.float32)[0]
    docs, vectors = corpus(query, chunks_of_long=30)  # more chunks than the rows a first read of limit 5 takes
    store = Store(store_uri)
    store.upsert("c", docs, vectors, SPACE)
    filter = EVERYTHING if filtered else None
    hits = store.search("c", SPACE, query, limit=5, filter=filter)
    assert [h.parent_id or h.id for h in hits] == maxp_order(docs, vectors, query)[:5]
    assert (hits[0].id, hits[0].parent_id, hits[0].text) == ("long#0", "long", "part 0 of the long one")
    assert hits[0].score == pytest.approx(0.99, abs=1e-5)
    chunks = store.search("c", SPACE, query, limit=5, filter=filter, per_document=False)
    assert [h.id for h in chunks] == [f"long#{n}" for n in range(5)]
    every = store.search("c", SPACE, query, limit=100, filter=filter)
    assert len(every) == 13 and len({h.parent_id or h.id for h in every}) == 13  # the whole collection, once each


def test_hybrid_search_counts_a_document_once_in_each_ranking(store_uri: str) -> None:
    query = np.eye(DIM, dtype=np.float32)[0]
    docs, vectors = corpus(query, chunks_of_long=6)
    docs[5] = replace(docs[5], text="the zebra crossing of the long one")  # its best keyword chunk is another
    store = Store(store_uri)
    store.upsert("c", docs, vectors, SPACE)
    hits = store.search("c", SPACE, query, limit=4, text="zebra crossing", mode="hybrid", keyword_weight=0.5)
    keys = [h.parent_id or h.id for h in hits]
    assert len(hits) == 4 and len(set(keys)) == 4 and keys[0] == "long"
    assert hits[0].id == "long#0"  # the vector ranking's best chunk stands for the document
    # Its fused score adds both rankings: top of the vectors (1.0 after the spread) and the only keyword hit.
    alone = store.search("c", SPACE, query, limit=4, text="no such words", mode="hybrid", keyword_weight=0.5)
    assert hits[0].score > alone[0].score
    chunks = store.search(
        "c", SPACE, query, limit=4, text="zebra crossing", mode="hybrid", keyword_weight=0.5, per_document=False
    )
    assert {h.id for h in chunks} >= {"long#0", "long#5"}  # every chunk its own hit: the long one several times


def test_per_document_must_be_a_bool(tmp_path) -> None:
    store = Store(tmp_path / "db")
    docs, vectors = corpus(np.eye(DIM, dtype=np.float32)[0], chunks_of_long=2)
    store.upsert("c", docs, vectors, SPACE)
    with pytest.raises(InvalidInputError) as caught:
        store.search("c", SPACE, vectors[0], per_document="yes")  # type: ignore[arg-type]
    assert caught.value.field == "per_document" and "true" in caught.value.fix


def test_reading_deeper_stops_where_the_collection_or_the_cap_ends() -> None:
    from taskvec.results import SearchHit

    rows = [SearchHit(id=f"d{n // 10}#{n % 10}", text="", score=0.0, parent_id=f"d{n // 10}") for n in range(95)]
    depths: list[int] = []

    def read(depth: int) -> list[SearchHit]:
        depths.append(depth)
        return rows[:depth]

    assert [h.id for h in read_documents(read, 3, 3)] == [f"d{n}#0" for n in range(5)]
    assert depths == [3, 12, 48]  # 3 rows hold 1 document, 12 hold 2, 48 hold 5 (the caller keeps its limit)
    depths.clear()
    assert len(read_documents(read, 50, 50)) == 10 and depths == [50, 200]  # 95 rows: all there is, 10 documents
    assert best_per_document(rows[:25]) == [rows[0], rows[10], rows[20]]
    depths.clear()
    capped = [SearchHit(id=f"d#{n}", text="", score=0.0, parent_id="d") for n in range(2 * DOCUMENT_READ_ROWS)]
    assert len(read_documents(lambda depth: depths.append(depth) or capped[:depth], 2, 1000)) == 1
    assert depths[-1] == DOCUMENT_READ_ROWS  # one document's chunks all the way: the reads stop at the cap


# ------------------------------------------------------------------------------------------ through the service
LONG = " ".join(f"Sentence {i} is about the boiler pressure and topic {i % 5}." for i in range(40))


async def test_mcp_search_returns_documents_and_says_so(tiny_service: TaskvecService) -> None:
    docs = [
        {"id": "manual", "text": LONG},
        {"id": "note", "text": "Bleed the radiators in autumn."},
    ]
    async with Client(build_server(tiny_service)) as client:
        indexed = await call_ok(
            client, "index", {"collection": "home", "documents": docs, "chunking": {"max_tokens": 32, "overlap": 4}}
        )
        assert indexed["chunks"] > 4
        found = await call_ok(client, "search", {"collection": "home", "query": "boiler pressure", "limit": 5})
        assert found["per_document"] is True
        assert sorted(h.get("parent_id") or h["id"] for h in found["hits"]) == ["manual", "note"]
        chunks = await call_ok(
            client, "search", {"collection": "home", "query": "boiler pressure", "limit": 5, "per_document": False}
        )
        assert chunks["per_document"] is False and len(chunks["hits"]) == 5
        assert sum(h.get("parent_id") == "manual" for h in chunks["hits"]) >= 4


def test_service_search_per_document(tiny_service: TaskvecService) -> None:
    tiny_service.index(
        "home", [{"id": "manual", "text": LONG}], "retrieval", chunking=ChunkingOptions(max_tokens=32, overlap=4)
    )
    result = tiny_service.search("boiler pressure", "home", limit=10)
    assert [h.parent_id for h in result.hits] == ["manual"]
    every = tiny_service.search("boiler pressure", "home", limit=10, per_document=False)
    assert len(every.hits) > 4 and {h.parent_id for h in every.hits} == {"manual"}
