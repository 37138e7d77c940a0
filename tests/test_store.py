"""The LanceDB store on disk: upserts, spaces, the guard, filters, hybrid search, atomic writes."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from taskvec.errors import InvalidInputError, SpaceMismatchError, UnknownCollectionError
from taskvec.options import KEYWORD_WEIGHT
from taskvec.results import SearchHit
from taskvec.spaces import EmbeddingSpace
from taskvec.store import Document, DocumentLimits, Store, validate_documents
from taskvec.store.queries import SPREAD_HITS, fuse, hybrid_depth, spread_scores

DIM = 8
RETRIEVAL = EmbeddingSpace("m", "fp-1", "retrieval", "q: ", "d: ", None, None, "mean", True, 256, DIM)
CLUSTERING = replace(RETRIEVAL, task="clustering", query_prompt="t: ", document_prompt="t: ")

DOCS = [
    Document("a", "the cat sat on the mat", {"lang": "en", "year": 2020, "tags": ["pets"]}),
    Document("b", "le chat est sur le tapis", {"lang": "fr", "year": 2022}),
    Document("c", "stock markets fell sharply", {"lang": "en", "year": 2024, "draft": True}),
    Document("d", "a dog chased the cat", {}),
]


def unit(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture()
def store(store_uri: str) -> Store:
    """The same suite on a local folder and on S3 (a local S3-compatible server)."""
    s = Store(store_uri)
    s.upsert("docs", DOCS, unit(4), RETRIEVAL)
    return s


def test_importable_without_torch() -> None:
    code = "import sys, taskvec.store; bad = {'torch', 'transformers', 'peft'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_engine_importable_without_store_or_mcp() -> None:
    code = "import sys, taskvec.engine; bad = {'lancedb', 'mcp', 'pyarrow'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_upsert_by_id_does_not_duplicate(store: Store) -> None:
    result = store.upsert("docs", [replace(DOCS[0], text="the cat sat on the new mat")], unit(1, 5), RETRIEVAL)
    assert (result.inserted, result.updated) == (0, 1)
    info = store.describe("docs")
    assert info.rows == 4 and info.spaces[0].rows == 4
    hit = store.search("docs", RETRIEVAL, unit(1, 5)[0], limit=1)[0]
    assert hit.id == "a" and hit.text == "the cat sat on the new mat" and hit.score == pytest.approx(1.0, abs=1e-5)


def test_one_collection_holds_several_spaces(store: Store) -> None:
    store.upsert("docs", DOCS, unit(4, 1), CLUSTERING)
    info = store.describe("docs")
    assert info.rows == 8
    assert {s.space.task: s.rows for s in info.spaces} == {"retrieval": 4, "clustering": 4}
    # A search only sees rows of its own space: the clustering vectors are not returned for retrieval.
    hits = store.search("docs", CLUSTERING, unit(4, 1)[2], limit=10)
    assert len(hits) == 4 and hits[0].id == "c"


def test_guard_refuses_other_task(store: Store) -> None:
    with pytest.raises(SpaceMismatchError) as err:
        store.search("docs", CLUSTERING, unit(1)[0])
    text = str(err.value)
    assert "'retrieval'" in text and "task='retrieval'" in text and "index the collection again" in text


def test_guard_refuses_stale_weights_and_reindex_replaces_them(store: Store) -> None:
    new_weights = replace(RETRIEVAL, model_fingerprint="fp-2")
    with pytest.raises(SpaceMismatchError, match="stale"):
        store.search("docs", new_weights, unit(1)[0])
    store.upsert("docs", DOCS, unit(4, 2), new_weights)
    info = store.describe("docs")
    assert [s.space.model_fingerprint for s in info.spaces] == ["fp-2"] and info.rows == 4
    assert len(store.search("docs", new_weights, unit(1)[0])) == 4
    with pytest.raises(SpaceMismatchError):
        store.search("docs", RETRIEVAL, unit(1)[0])  # the old space is gone: nothing left to compare with


def test_guard_refuses_other_prompt_or_adapter(store: Store) -> None:
    for changed in (
        replace(RETRIEVAL, query_prompt="question: "),
        replace(RETRIEVAL, adapter="x", adapter_fingerprint="f"),
    ):
        with pytest.raises(SpaceMismatchError, match="other settings") as err:
            store.search("docs", changed, unit(1)[0])
        # The caller already searched with the collection's task: the way out is the settings, not another task.
        fix = err.value.fix or ""
        assert "search with task=" not in str(err.value) and "index the documents of 'docs' again" in fix
        assert "override task 'retrieval' in a tasks file" in fix
        assert f"delete(space=...): {RETRIEVAL.id}" in fix  # the old rows, by the id that removes them


def test_dimension_mismatch_is_refused(store: Store) -> None:
    wide = replace(RETRIEVAL, dimension=DIM * 2, model="other")
    with pytest.raises(SpaceMismatchError, match="dimensional"):
        store.upsert("docs", DOCS[:1], unit(1).repeat(2, axis=1), wide)
    assert store.describe("docs").rows == 4


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"lang": "en"}, {"a", "c"}),
        ({"year": {"$gte": 2022}}, {"b", "c"}),
        ({"year": {"$gt": 2020, "$lt": 2024}}, {"b"}),
        ({"lang": {"$in": ["fr", "de"]}}, {"b"}),
        ({"lang": {"$ne": "en"}}, {"b", "d"}),
        ({"draft": True}, {"c"}),
        ({"draft": {"$exists": False}}, {"a", "b", "d"}),
        ({"$or": [{"lang": "fr"}, {"year": 2024}]}, {"b", "c"}),
        ({"$not": {"lang": "en"}}, {"b", "d"}),  # two-valued: "d" has no lang, so it is not "en"
        ('{"lang": "en", "year": 2020}', {"a"}),
    ],
)
def test_metadata_filters(store: Store, flt: object, expected: set[str]) -> None:
    hits = store.search("docs", RETRIEVAL, unit(1)[0], limit=10, filter=flt)  # type: ignore[arg-type]
    assert {h.id for h in hits} == expected


@pytest.mark.parametrize(
    ("flt", "needle"),
    [
        ("{not json", "not valid JSON"),
        ({"year": {"$between": [1, 2]}}, "unknown operator"),
        ({"bad key!": 1}, "not a valid metadata key"),
        ({"x": {"$in": [1, "a"]}}, "mixes value types"),
        ({"x": [1, 2]}, "cannot be compared"),
        ({"$or": []}, "non-empty list"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_bad_filters_are_explained(store: Store, flt: object, needle: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        store.search("docs", RETRIEVAL, unit(1)[0], filter=flt)  # type: ignore[arg-type]
    assert needle in str(err.value) and err.value.field.startswith("filter")


def test_filter_cannot_escape_the_space_predicate(store: Store) -> None:
    store.upsert("docs", DOCS, unit(4, 1), CLUSTERING)
    hostile = {"lang": "en') OR (1=1"}
    assert store.search("docs", RETRIEVAL, unit(1)[0], filter=hostile) == []


def test_hybrid_search_fuses_keyword_and_vector(store: Store) -> None:
    # The vector points at "b", the keywords at "c": both lead the fused ranking.
    vector = unit(4)[1]
    hits = store.search("docs", RETRIEVAL, vector, limit=3, text="stock markets", mode="hybrid")
    assert {hits[0].id, hits[1].id} == {"b", "c"}
    with pytest.raises(InvalidInputError, match="mode"):
        store.search("docs", RETRIEVAL, vector, mode="semantic")


@pytest.mark.parametrize(
    "text",
    [
        '"stock markets fell"',  # a quoted phrase: query syntax would need word positions the index lacks
        '"why did stock markets" fall',
        'why "stock markets" fell',
        "stock AND markets OR (cat -dog) title:x ~2 ^3 [a TO b] \\ /",
        "markets: stock",
    ],
)
def test_keyword_search_reads_any_text_as_plain_words(store: Store, text: str) -> None:
    """Agents send questions and error messages, not query syntax: quotes, operators and colons are words or
    punctuation, never a parse error, and the keyword hit is the document that shares the words."""
    hits = store.search("docs", RETRIEVAL, unit(4)[1], limit=4, text=text, mode="hybrid", keyword_weight=1.0)
    assert hits[0].id == "c", [h.id for h in hits]


def test_hybrid_keyword_weight_runs_from_the_vectors_to_the_keywords(store: Store) -> None:
    """keyword_weight 0 is the vector ranking, 1 puts the keyword hit first; a weight out of 0..1, or one given to a
    vector search, is refused by name with the fix."""
    vector = unit(4)[1]
    by_vector = [h.id for h in store.search("docs", RETRIEVAL, vector, limit=4)]

    def hybrid(weight: float | None) -> list[str]:
        found = store.search(
            "docs", RETRIEVAL, vector, limit=4, text="stock markets", mode="hybrid", keyword_weight=weight
        )
        return [h.id for h in found]

    assert hybrid(0.0) == by_vector and by_vector[0] == "b"
    assert hybrid(1.0)[0] == "c"
    assert hybrid(None) == hybrid(KEYWORD_WEIGHT)
    for weight, needle in ((1.5, "from 0 to 1"), (-0.1, "from 0 to 1"), (True, "from 0 to 1")):
        with pytest.raises(InvalidInputError, match=needle) as refused:
            hybrid(weight)
        assert refused.value.field == "keyword_weight"
    with pytest.raises(InvalidInputError, match="mode is 'vector'") as refused:
        store.search("docs", RETRIEVAL, vector, keyword_weight=0.5)
    assert refused.value.field == "keyword_weight" and "mode='hybrid'" in refused.value.fix


def test_hybrid_fusion_follows_a_keyword_hit_only_where_it_stands_out() -> None:
    """BM25 that singles one document out moves it to the top; BM25 whose scores fall away gradually (every
    candidate shares the query's words) leaves the vector order; the fusion reads each list's spread, not its
    scale; a query no document's words match is answered by the vectors alone, and a lone keyword match counts as
    a middling one (it has no spread to stand out from)."""

    def ranking(ids: list[str], scores: list[float]) -> list[SearchHit]:
        return [SearchHit(id=i, text="", score=s) for i, s in zip(ids, scores, strict=True)]

    ids = [f"d{i}" for i in range(20)]
    vector = ranking(ids, [0.80, 0.70] + [0.68 - 0.01 * k for k in range(18)])
    keyword_order = ["d2"] + [i for i in ids if i != "d2"]  # d2 is the vectors' third
    lone = ranking(keyword_order, [12.0] + [1.0] * 19)
    graded = ranking(keyword_order, [20.0 - k for k in range(20)])
    assert [h.id for h in fuse(vector, lone, 3)] == ["d2", "d0", "d1"]
    assert [h.id for h in fuse(vector, graded, 3)] == ["d0", "d1", "d2"]
    louder = ranking(keyword_order, [100 * h.score for h in lone])
    assert [h.id for h in fuse(vector, louder, 5)] == [h.id for h in fuse(vector, lone, 5)]
    assert [h.id for h in fuse(vector, [], 5)] == ids[:5]
    assert [h.id for h in fuse(vector, ranking(["d9"], [3.0]), 3)] == ["d0", "d1", "d9"]  # a lone match: middling


def test_a_deeper_hybrid_search_maps_each_score_as_a_shallower_one_does() -> None:
    """A search for more hits reads each list deeper, but a score's place on its list's spread is measured on the
    list's first ``SPREAD_HITS``: the top hits keep their fused values whatever ``limit`` was asked."""
    scores = list(np.sort(np.random.default_rng(5).gamma(2.0, size=hybrid_depth(100)))[::-1])
    assert hybrid_depth(10) == SPREAD_HITS < len(scores)
    assert spread_scores(scores)[:SPREAD_HITS] == pytest.approx(spread_scores(scores[:SPREAD_HITS]))


def test_failed_write_leaves_collection_unchanged(store: Store) -> None:
    table = store.db.open_table("docs")
    before, version = table.to_arrow().sort_by("key"), table.version
    bad = unit(2, 7)
    bad[1, 0] = np.nan  # one bad vector refuses the whole call: the first row must not land either
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        store.upsert("docs", [Document("z", "new doc"), replace(DOCS[0], text="changed")], bad, RETRIEVAL)
    table = store.db.open_table("docs")
    assert table.version == version
    assert table.to_arrow().sort_by("key").equals(before)


def test_failed_first_write_leaves_no_collection(store_uri: str) -> None:
    store = Store(store_uri)
    bad = unit(1)
    bad[0, 0] = np.inf
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        store.upsert("fresh", DOCS[:1], bad, RETRIEVAL)
    assert not store.exists("fresh")


def test_a_write_is_one_commit(store: Store) -> None:
    """Rows, replaced rows and dropped chunks of one call land in a single table version."""
    chunks = [Document(f"long#{i}", f"part {i}", {}, parent_id="long") for i in range(3)]
    store.upsert("docs", chunks, unit(3, 3), RETRIEVAL)
    version = store.db.open_table("docs").version
    result = store.upsert("docs", [Document("long", "now short"), replace(DOCS[1], text="b2")], unit(2, 4), RETRIEVAL)
    assert store.db.open_table("docs").version == version + 1
    assert (result.inserted, result.updated, result.removed) == (1, 1, 3)


def test_delete_by_ids_and_filter(store: Store) -> None:
    store.upsert("docs", DOCS, unit(4, 1), CLUSTERING)
    assert store.delete("docs", ids=["a"]) == 2  # both spaces
    assert store.delete("docs", filter={"lang": "fr"}) == 2
    assert store.describe("docs").rows == 4
    with pytest.raises(InvalidInputError, match="Nothing to delete"):
        store.delete("docs")


def test_chunks_replaced_when_a_document_is_rechunked(store: Store) -> None:
    chunks = [Document(f"long#{i}", f"part {i}", {}, parent_id="long") for i in range(3)]
    store.upsert("docs", chunks, unit(3, 3), RETRIEVAL)
    result = store.upsert("docs", chunks[:2], unit(2, 4), RETRIEVAL)
    assert result.removed == 1
    assert store.describe("docs").rows == 6
    assert store.delete("docs", ids=["long"]) == 2  # deleting the parent removes its chunks


def test_rechunking_replaces_exactly_the_old_chunk_set(store: Store) -> None:
    """Whatever the old and new chunk counts, a re-indexed document keeps exactly its new rows, in its own
    space only; other documents' chunks and the same document in other spaces stay."""

    def chunked(doc: str, n: int) -> list[Document]:
        if n == 1:
            return [Document(doc, f"{doc} whole")]
        return [Document(f"{doc}#{i}", f"{doc} part {i}", {}, parent_id=doc) for i in range(n)]

    store.upsert("docs", chunked("p", 5) + chunked("q", 2), unit(7, 1), RETRIEVAL)
    store.upsert("docs", chunked("p", 5), unit(5, 2), CLUSTERING)
    for n in (1, 3, 7, 2):
        store.upsert("docs", chunked("p", n), unit(n, n), RETRIEVAL)
        keys = set(store.db.open_table("docs").to_arrow().column("key").to_pylist())
        p_rows = {k for k in keys if k.startswith(f"{RETRIEVAL.id}:p")}
        assert p_rows == {f"{RETRIEVAL.id}:{d.id}" for d in chunked("p", n)}
        assert {f"{RETRIEVAL.id}:q#0", f"{RETRIEVAL.id}:q#1"} <= keys
        assert sum(k.startswith(f"{CLUSTERING.id}:p") for k in keys) == 5


def test_unknown_collection_and_bad_names(store: Store) -> None:
    with pytest.raises(UnknownCollectionError) as err:
        store.describe("nope")
    assert "docs" in str(err.value)
    for name in ("../etc", "a/b", "", ".hidden", "x" * 65, "a.b"):
        with pytest.raises(InvalidInputError, match="not allowed"):
            store.upsert(name, DOCS[:1], unit(1), RETRIEVAL)


def test_fetch_returns_vectors_of_one_space(store: Store) -> None:
    hits, vectors = store.fetch("docs", RETRIEVAL, filter={"lang": "en"})
    assert sorted(h.id for h in hits) == ["a", "c"] and vectors.shape == (2, DIM)
    by_id = dict(zip([h.id for h in hits], vectors, strict=True))
    np.testing.assert_allclose(by_id["a"], unit(4)[0], atol=1e-6)


@pytest.mark.parametrize(
    ("docs", "field"),
    [
        ([], "documents"),
        ([{"text": ""}], "documents[0].text"),
        ([{"text": "ok"}, {"text": 5}], "documents[1].text"),
        ([{"text": "ok", "metadata": {"nested": {"a": 1}}}], "documents[0].metadata.nested"),
        ([{"text": "ok", "metadata": "tags"}], "documents[0].metadata"),
        ([{"id": "x", "text": "a"}, {"id": "x", "text": "b"}], "documents[1].id"),
        ([{"text": "ok", "colour": "red"}], "documents[0]"),
        ([{"text": "a"}] * 3, "documents"),
    ],
)
def test_document_validation(docs: list, field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_documents(docs, DocumentLimits(max_documents=2))
    assert err.value.field == field and err.value.fix


def test_documents_without_id_get_a_stable_one() -> None:
    a = validate_documents([{"text": "same text"}])[0]
    b = validate_documents([{"text": "same text"}])[0]
    assert a.id == b.id


def test_many_small_writes_are_compacted_as_they_come(store: Store) -> None:
    """One commit per write makes one fragment per write; a store that is written one document at a time must not
    grow without bound (the issue saw 324 fragments after 1,000 calls)."""
    from taskvec.store.writer import OPTIMIZE_AT_FRAGMENTS

    writes = OPTIMIZE_AT_FRAGMENTS + 8
    for i in range(writes):
        store.upsert("docs", [Document(f"n{i}", f"note number {i}", {"i": i})], unit(1, 100 + i), RETRIEVAL)
    stats = store.db.open_table("docs").stats()["fragment_stats"]
    assert stats["num_small_fragments"] < OPTIMIZE_AT_FRAGMENTS, stats
    assert store.describe("docs").rows == len(DOCS) + writes
    hit = store.search("docs", RETRIEVAL, unit(1, 100 + writes - 1)[0], limit=1)[0]
    assert hit.id == f"n{writes - 1}" and hit.metadata == {"i": writes - 1}


def test_optimize_on_demand_keeps_every_row(store: Store) -> None:
    for i in range(5):
        store.upsert("docs", [Document(f"n{i}", f"note {i}", {})], unit(1, 200 + i), RETRIEVAL)
    before = {h.id for h in store.search("docs", RETRIEVAL, unit(1)[0], limit=50)}
    report = store.optimize("docs")  # what `taskvec optimize` prints
    # Six one-write fragments become at most two (LanceDB leaves the fragment its text index was built on for the
    # next pass).
    assert report["fragments_before"] >= 6 and report["fragments_after"] <= 2 and report["rows"] == len(DOCS) + 5
    assert {h.id for h in store.search("docs", RETRIEVAL, unit(1)[0], limit=50)} == before
