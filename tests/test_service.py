"""The service over a tiny model and a real LanceDB: index (chunking, atomicity), search, classify, cluster."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import store_contents

from taskvec import service as service_module
from taskvec.engine import Encoder
from taskvec.errors import (
    Interrupted,
    InvalidInputError,
    SpaceMismatchError,
    UnknownCollectionError,
    UnknownTaskError,
)
from taskvec.options import ChunkingOptions
from taskvec.service import CallControl, TaskvecService
from taskvec.store import DocumentLimits, Store

CORPUS = [
    {"id": "vax", "text": "Vaccines train the immune system to recognise a pathogen.", "metadata": {"topic": "health"}},
    {"id": "market", "text": "The stock market fell sharply after the announcement.", "metadata": {"topic": "money"}},
    {"id": "plants", "text": "Photosynthesis turns light into chemical energy.", "metadata": {"topic": "science"}},
]


@pytest.fixture()
def service(tiny_encoder: Encoder, store_uri: str) -> TaskvecService:
    """The service on a local store and on S3 (a local S3-compatible server)."""
    return TaskvecService(tiny_encoder, Store(store_uri), limits=DocumentLimits(max_documents=50))


def test_index_then_search_finds_the_document(service: TaskvecService) -> None:
    result = service.index("c", CORPUS, "retrieval")
    assert (result.inserted, result.updated, result.rows_written) == (3, 0, 3)
    assert result.space.id == service.encoder.space("retrieval").id
    hits = service.search(CORPUS[1]["text"], "c", "retrieval", limit=2).hits
    assert len(hits) == 2 and {h.id for h in hits} <= {"vax", "market", "plants"}
    again = service.index("c", CORPUS, "retrieval")
    assert (again.inserted, again.updated) == (0, 3)


def test_similar_uses_the_symmetric_task_and_threshold(service: TaskvecService) -> None:
    service.index("c", CORPUS, "similarity")
    hits = service.similar(CORPUS[2]["text"], "c", threshold=0.999).hits
    assert [h.id for h in hits] == ["plants"]  # its own text: cosine 1; the others are below the threshold


def test_long_documents_are_chunked_with_parent_ids(service: TaskvecService) -> None:
    long_text = " ".join(f"sentence number {i} talks about topic {i % 7}." for i in range(60))
    result = service.index(
        "c", [{"id": "long", "text": long_text}], "similarity", chunking=ChunkingOptions(max_tokens=40, overlap=8)
    )
    assert result.chunked_documents == 1 and result.chunks == result.rows_written > 3 and result.truncated == 0
    hits = service.search("sentence number 3", "c", "similarity", limit=50, per_document=False).hits
    assert len(hits) == result.chunks and {h.parent_id for h in hits} == {"long"}
    assert all(h.id.startswith("long#") for h in hits)
    off = service.index("d", [{"id": "long", "text": long_text}], "similarity", chunking=ChunkingOptions(enabled=False))
    assert off.truncated == 1 and off.chunks == 0


def test_a_chunk_id_never_replaces_another_document(service: TaskvecService, monkeypatch) -> None:
    """A chunk's id is <parent>#<n>: a document of that id, in the call or stored, is refused with nothing written,
    never overwritten by a chunk or overwriting one. So is a user's own metadata key ``chunk`` on a document that
    gets split, where the chunk number would replace it."""
    long_text = " ".join(f"sentence number {i} talks about topic {i % 7}." for i in range(60))
    small = ChunkingOptions(max_tokens=40, overlap=8)
    service.index(
        "c",
        [{"id": "long", "text": long_text}, {"id": "own#0", "text": "a document of its own"}],
        "retrieval",
        chunking=small,
    )
    before = store_contents(service)
    with pytest.raises(InvalidInputError, match="'long#1' is the id of a chunk of the stored document 'long'"):
        service.index("c", [{"id": "long#1", "text": "I am a separate document"}], "retrieval")
    with pytest.raises(InvalidInputError, match="its chunk would take the id 'own#0'") as stored:
        service.index("c", [{"id": "own", "text": long_text}], "retrieval", chunking=small)
    assert "delete the stored 'own#0'" in stored.value.fix
    monkeypatch.setattr(service_module, "ENCODE_STEP", 2)  # the two ids in different encode blocks of one call
    calls = [
        {"id": "z", "text": long_text},
        {"id": "x", "text": "x"},
        {"id": "y", "text": "y"},
        {"id": "z#0", "text": "z"},
    ]
    with pytest.raises(InvalidInputError, match=r"documents\[3\].id 'z#0' is also the id of a chunk of documents\[0\]"):
        service.index("c", calls, "retrieval", chunking=small)
    with pytest.raises(InvalidInputError, match="already has the key 'chunk'") as key:
        service.index(
            "c",
            [
                {"text": "short", "metadata": {"chunk": 1}},
                {"id": "y", "text": long_text, "metadata": {"chunk": "mine"}},
            ],
            "retrieval",
            chunking=small,
        )
    assert key.value.field == "documents[1].metadata.chunk"
    assert store_contents(service) == before
    # What stays allowed: the long document re-indexed (its chunks update), a short one with its own key 'chunk',
    # ids of that shape that clash with nothing, and the stored document of its own updated.
    again = service.index(
        "c", [{"id": "long", "text": long_text}, {"id": "own#0", "text": "updated"}], "retrieval", chunking=small
    )
    assert again.inserted == 0 and again.updated == again.rows_written
    fine = service.index(
        "c", [{"id": "issue#12", "text": "short", "metadata": {"chunk": 3}}], "retrieval", chunking=small
    )
    assert fine.inserted == 1
    shorter = service.index(
        "c", [{"id": "long", "text": "now short"}, {"id": "long#5", "text": "free again"}], "retrieval"
    )
    # 'long' is now one row; of its old chunks, 'long#5' became a document of its own, the others went.
    assert (shorter.inserted, shorter.updated, shorter.removed) == (1, 1, again.chunks - 1)


def test_a_failure_mid_call_leaves_collection_unchanged(service: TaskvecService, monkeypatch) -> None:
    service.index("c", CORPUS, "retrieval")
    before = store_contents(service)
    steps = {"n": 0}
    real_encode = service.encode

    def failing_encode(*args, **kwargs):
        steps["n"] += 1
        if steps["n"] == 3:
            raise RuntimeError("injected: out of memory in the third step")
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(service_module, "ENCODE_STEP", 2)  # several steps in one call
    monkeypatch.setattr(service, "encode", failing_encode)
    new_docs = [{"id": f"n{i}", "text": f"new document {i}"} for i in range(5)]
    with pytest.raises(RuntimeError, match="injected"):
        service.index("c", [*new_docs, {"id": "vax", "text": "overwritten?"}], "retrieval")
    assert steps["n"] == 3
    assert store_contents(service) == before


def test_a_cancelled_call_writes_nothing(service: TaskvecService, monkeypatch) -> None:
    """Cancellation is honoured between steps, up to the moment of the one commit."""
    monkeypatch.setattr(service_module, "ENCODE_STEP", 2)
    service.index("c", CORPUS, "retrieval")
    before = store_contents(service)
    docs = [{"id": f"n{i}", "text": f"new document {i}"} for i in range(7)]
    counted: list[int] = []
    service.index("elsewhere", docs, "retrieval", control=CallControl(check_cancelled=lambda: counted.append(1)))
    assert len(counted) >= 5  # 4 steps of at most 2 documents, then the last check before the commit
    before = store_contents(service)
    for allowed in range(len(counted)):  # cancel at each check in turn, the last one included
        checks = {"n": 0}

        def check_cancelled(allowed: int = allowed, checks: dict = checks) -> None:
            checks["n"] += 1
            if checks["n"] > allowed:
                raise Interrupted("cancelled by the test")

        with pytest.raises(Interrupted):
            service.index("c", docs, "retrieval", control=CallControl(check_cancelled=check_cancelled))
        assert store_contents(service) == before
    seen: list[tuple[float, int, str]] = []
    result = service.index("c", docs, "retrieval", control=CallControl(progress=lambda *a: seen.append(a)))
    assert result.inserted == 7 and store_contents(service) != before
    assert [d for d, _, _ in seen[:5]] == [0, 2, 4, 6, 6.5] and seen[4][2] == "writing 7 rows into 'c'"
    assert seen[-1] == (7, 7, "wrote 7 rows into 'c'")  # the commit is the last stretch of progress


def test_bad_input_writes_nothing(service: TaskvecService) -> None:
    service.index("c", CORPUS, "retrieval")
    before = service.describe_collection("c")
    with pytest.raises(InvalidInputError):
        service.index("c", [{"text": "fine"}, {"text": "   "}], "retrieval")
    with pytest.raises(InvalidInputError, match="limit of 50"):
        service.index("c", [{"text": f"t{i}"} for i in range(51)], "retrieval")
    with pytest.raises(UnknownTaskError):
        service.index("c", [{"text": "fine"}], "summarise")
    with pytest.raises(InvalidInputError, match="metadata"):
        service.index("c", [{"text": "fine", "metadata": {"when": object()}}], "retrieval")
    assert service.describe_collection("c") == before
    with pytest.raises(UnknownCollectionError):
        service.search("x", "missing", "retrieval")
    with pytest.raises(InvalidInputError, match="query"):
        service.search("  ", "c", "retrieval")


def test_guard_refuses_a_misaligned_search(service: TaskvecService) -> None:
    service.index("c", CORPUS, "retrieval")
    with pytest.raises(SpaceMismatchError) as err:
        service.search("vaccines", "c", "clustering")
    assert "task='retrieval'" in str(err.value)


def test_query_cache_is_keyed_by_space(service: TaskvecService) -> None:
    retrieval, similarity = service.task("retrieval"), service.task("similarity")
    a = service.embed_query("same words", retrieval)
    assert service.embed_query("same words", retrieval) is a
    b = service.embed_query("same words", similarity)
    assert b is not a and len(service._query_cache) == 2  # one entry per space: no cross-space collision
    np.testing.assert_allclose(b, service.encoder.encode(["same words"], similarity, "query").vectors[0], atol=1e-6)


def test_classify_zero_shot_and_few_shot(service: TaskvecService) -> None:
    texts = [CORPUS[0]["text"], CORPUS[1]["text"]]
    zero = service.classify(texts, labels={"health": CORPUS[0]["text"], "money": CORPUS[1]["text"]}, top_k=1)
    assert [r.label for r in zero.results] == ["health", "money"] and len(zero.results[0].scores) == 1
    examples = [{"text": c["text"], "metadata": {"label": c["metadata"]["topic"]}} for c in CORPUS]
    service.index("examples", examples, "classification")
    for method in ("centroid", "knn"):
        few = service.classify(texts, collection="examples", method=method)
        assert [r.label for r in few.results] == ["health", "money"] and few.method == method
        assert few.labels == ["health", "money", "science"]
    with pytest.raises(InvalidInputError, match="either labels"):
        service.classify(texts)
    with pytest.raises(InvalidInputError, match="at least two labels"):
        service.classify(texts, labels=["only"])
    service.index("unlabelled", CORPUS, "classification")
    with pytest.raises(InvalidInputError, match="label_field"):
        service.classify(texts, collection="unlabelled")


def test_cluster_texts_and_collection(service: TaskvecService) -> None:
    texts = ["apple pie recipe", "apple pie baking", "football match score", "football league results"]
    result = service.cluster(texts=texts, k=2)
    assert result.k == 2 and sum(c.size for c in result.clusters) == 4
    auto = service.cluster(texts=texts)
    assert auto.k_chosen_by == "silhouette" and 2 <= auto.k <= 3
    service.index("c", CORPUS, "clustering")
    from_collection = service.cluster(collection="c", k=3)
    assert sorted(m.id for c in from_collection.clusters for m in c.members) == ["market", "plants", "vax"]
    with pytest.raises(InvalidInputError, match="k=9"):
        service.cluster(texts=texts, k=9)


def test_tasks_listing(service: TaskvecService) -> None:
    listing = service.tasks()
    names = {t.name for t in listing.tasks}
    assert {"retrieval", "similarity", "classification", "clustering", "code"} <= names
    retrieval = next(t for t in listing.tasks if t.name == "retrieval")
    assert not retrieval.symmetric and retrieval.space_id == service.encoder.space("retrieval").id
