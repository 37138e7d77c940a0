"""The store's verbs beyond search, on LanceDB on disk and on S3: reading documents back, dropping a collection, what a read
never does (create a folder), and the guard naming every task a collection holds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_store import CLUSTERING, DOCS, RETRIEVAL, unit

from taskvec.errors import InvalidInputError, SpaceMismatchError, UnknownCollectionError
from taskvec.store import Document, Store

SIMILARITY = replace(RETRIEVAL, task="similarity", query_prompt="", document_prompt="")


@pytest.fixture()
def store(store_uri: str) -> Store:
    """On a local folder and on S3 (``store_uri``, tests/conftest.py)."""
    s = Store(store_uri)
    s.upsert("docs", DOCS, unit(4), RETRIEVAL)
    s.upsert("docs", DOCS[:2], unit(2, 1), CLUSTERING)
    return s


def test_get_by_ids_in_the_order_asked_with_tasks_and_missing(store: Store) -> None:
    page = store.get("docs", ids=["c", "nope", "a"])
    assert [d.id for d in page.documents] == ["c", "a"] and page.missing == ["nope"] and page.next_offset is None
    assert page.documents[1].tasks == ["clustering", "retrieval"] and page.documents[0].tasks == ["retrieval"]
    assert page.documents[1].metadata == DOCS[0].metadata and page.documents[1].text == DOCS[0].text


def test_get_returns_a_chunked_document_as_its_chunks(store: Store) -> None:
    chunks = [Document(f"long#{n}", f"part {n}", {"k": n}, parent_id="long") for n in range(3)]
    store.upsert("docs", chunks, unit(3, 2), RETRIEVAL)
    page = store.get("docs", ids=["long"])
    assert [(d.id, d.parent_id) for d in page.documents] == [("long#0", "long"), ("long#1", "long"), ("long#2", "long")]
    assert page.missing == []


def test_peek_pages_through_every_document_once(store: Store) -> None:
    seen, offset = [], 0
    while offset is not None:
        page = store.get("docs", limit=3, offset=offset)
        assert len(page.documents) <= 3
        seen += [d.id for d in page.documents]
        offset = page.next_offset
    assert sorted(seen) == ["a", "b", "c", "d"]  # each once, although a and b are in two spaces
    assert {d.id: d.tasks for d in store.get("docs", limit=10).documents}["a"] == ["clustering", "retrieval"]
    assert [d.id for d in store.get("docs", filter={"lang": "fr"}).documents] == ["b"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"ids": "a"}, "ids"), ({"ids": []}, "ids"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset")],
)
def test_bad_reads_name_the_field(store: Store, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        store.get("docs", **kwargs)
    assert err.value.field == field and err.value.fix


def test_drop_removes_every_space_and_the_name_can_be_used_again(store: Store) -> None:
    assert store.drop("docs") == 6
    assert store.collection_names() == []
    with pytest.raises(UnknownCollectionError):
        store.drop("docs")
    store.upsert("docs", DOCS[:1], unit(1), RETRIEVAL)
    assert store.describe("docs").rows == 1 and len(store.search("docs", RETRIEVAL, unit(1)[0])) == 1


def test_a_collection_dropped_elsewhere_and_made_again_is_read_as_the_new_one(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process drops the collection and this one creates it again, at the very table version the dropped one
    had: nothing of the dropped collection may come from this process's caches (its spaces, its open dataset, its
    vectors in memory). On a local disk the new folder can get the dropped folder's inode back, which the patch
    makes certain (the stress test that found this saw it in 6 of 12 rounds)."""
    monkeypatch.setattr("taskvec.store.lance_store.folder_id", lambda root, name: 1)
    replica, other = Store(store_uri), Store(store_uri)
    replica.upsert("docs", DOCS, unit(4), RETRIEVAL)
    version = replica.db.open_table("docs").version
    query = unit(1, 5)[0]
    assert {h.id for h in replica.search("docs", RETRIEVAL, query)} == {d.id for d in DOCS}  # the caches filled
    assert {h.id for h in replica.search("docs", RETRIEVAL, query, filter={"lang": "en"})} == {"a", "c"}
    other.drop("docs")
    new = [Document(f"new{i}", f"another text {i}", {"lang": "en"}) for i in range(3)]
    replica.upsert("docs", new, unit(3, 1), RETRIEVAL)
    assert replica.db.open_table("docs").version == version  # what made the dropped table's caches look current
    expected = {d.id for d in new}
    assert {h.id for h in replica.search("docs", RETRIEVAL, query)} == expected
    assert {h.id for h in replica.search("docs", RETRIEVAL, query, filter={"lang": "en"})} == expected
    assert {h.id for h in replica.search("docs", RETRIEVAL, query, text="text", mode="hybrid")} == expected
    assert replica.describe("docs").rows == 3 and [s.rows for s in replica.describe("docs").spaces] == [3]


def test_reads_of_a_store_that_does_not_exist_create_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "new" / "db")
    assert store.collection_names() == []
    with pytest.raises(UnknownCollectionError):
        store.describe("docs")
    with pytest.raises(UnknownCollectionError):
        store.drop("docs")
    with pytest.raises(UnknownCollectionError):
        store.get("docs")
    assert not (tmp_path / "new").exists()
    store.upsert("docs", DOCS[:1], unit(1), RETRIEVAL)  # the first write creates it
    assert store.collection_names() == ["docs"]


def test_a_store_path_that_is_a_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a store")
    with pytest.raises(InvalidInputError) as err:
        Store(tmp_path / "file")
    assert (
        err.value.field == "store" and "is a file, not a folder" in str(err.value) and "TASKVEC_STORE" in err.value.fix
    )


def test_the_guard_names_every_task_held_and_the_closest_first(store: Store) -> None:
    store.upsert("docs", DOCS, unit(4, 3), replace(SIMILARITY, task="classification"))
    with pytest.raises(SpaceMismatchError) as err:
        store.search("docs", SIMILARITY, unit(1)[0])
    fix = err.value.fix or ""
    # classification differs from the request in its task name only; clustering and retrieval in their prompts too
    assert fix.startswith("Either search with task='classification' (of the tasks the collection holds, the closest")
    assert "it also holds 'retrieval', 'clustering')" in fix and "task='similarity'" in fix
    assert "indexed with task(s) 'classification', 'clustering', 'retrieval', not 'similarity'" in str(err.value)
