"""The store's in-memory search: the same answers as LanceDB's exact search, every write seen at once (from this
store or another process's), and an IVF index past the row threshold with recall@10 >= 0.95."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from taskvec.errors import SpaceMismatchError, UnknownCollectionError
from taskvec.spaces import EmbeddingSpace
from taskvec.store import Document, Store
from taskvec.store.fast_path import permute_rows

DIM = 16
SPACE = EmbeddingSpace("m", "fp-1", "retrieval", "q: ", "d: ", None, None, "mean", True, 256, DIM)
OTHER = replace(SPACE, task="clustering", query_prompt="t: ", document_prompt="t: ")


def vectors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def clustered(n: int, seed: int, centres: int = 40) -> np.ndarray:
    """Vectors around a few dozen directions, the way embeddings of a corpus cluster by topic."""
    rng = np.random.default_rng(seed)
    c = np.random.default_rng(0).normal(size=(centres, DIM))
    return (c[rng.integers(0, centres, n)] + rng.normal(scale=0.35, size=(n, DIM))).astype(np.float32)


def docs(n: int, prefix: str = "d") -> list[Document]:
    return [Document(f"{prefix}{i}", f"text {prefix}{i}", {"n": i}) for i in range(n)]


@pytest.fixture()
def stores(tmp_path: Path) -> tuple[Store, Store]:
    """The same folder through the fast path and through LanceDB only; 300 rows in one space, 50 in another."""
    fast, lance = Store(tmp_path / "db"), Store(tmp_path / "db", fast_path=False)
    fast.upsert("c", docs(300), vectors(300, 1), SPACE)
    fast.upsert("c", docs(50, "o"), vectors(50, 2), OTHER)
    return fast, lance


def ids(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.id for h in hits]


def test_fast_path_equals_lancedb_exact_search(stores: tuple[Store, Store]) -> None:
    fast, lance = stores
    for q in vectors(10, 3):
        for limit in (1, 10, 400):
            a, b = fast.search("c", SPACE, q, limit=limit), lance.search("c", SPACE, q, limit=limit)
            assert ids(a) == ids(b) and len(a) == min(limit, 300)
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-5)
            assert [(h.text, h.metadata, h.parent_id) for h in a] == [(h.text, h.metadata, h.parent_id) for h in b]
    assert fast.search_index("c", SPACE)["kind"] == "exact"
    assert set(ids(fast.search("c", OTHER, vectors(1, 4)[0], limit=100))) == {f"o{i}" for i in range(50)}


def test_fast_path_sees_its_own_writes(stores: tuple[Store, Store]) -> None:
    fast, _ = stores
    q = vectors(1, 9)[0]
    assert fast.search("c", SPACE, q, limit=1)[0].id != "new"  # the snapshot is warm now
    fast.upsert("c", [Document("new", "a new document")], q[None, :], SPACE)
    top = fast.search("c", SPACE, q, limit=1)[0]
    assert top.id == "new" and top.score == pytest.approx(1.0, abs=1e-5)
    fast.delete("c", ids=["new"])
    assert "new" not in ids(fast.search("c", SPACE, q, limit=400))
    fast.upsert("c", [replace(docs(1)[0], text="changed text")], q[None, :], SPACE)  # update in place by id
    top = fast.search("c", SPACE, q, limit=1)[0]
    assert (top.id, top.text) == ("d0", "changed text")


def test_fast_path_sees_another_writers_changes(stores: tuple[Store, Store], tmp_path: Path) -> None:
    fast, _ = stores
    q = vectors(1, 10)[0]
    fast.search("c", SPACE, q, limit=5)
    writer = Store(tmp_path / "db")  # another Store on the same folder: its writes do not bump our counter
    writer.upsert("c", [Document("ext", "written elsewhere")], q[None, :], SPACE)
    assert fast.search("c", SPACE, q, limit=1)[0].id == "ext"
    writer.drop("c")
    with pytest.raises(UnknownCollectionError):
        fast.search("c", SPACE, q)
    writer.upsert("c", [Document("reborn", "a new table, versions restarted")], q[None, :], SPACE)
    assert ids(fast.search("c", SPACE, q, limit=10)) == ["reborn"]
    with pytest.raises(SpaceMismatchError):
        fast.search("c", OTHER, q)  # the re-created table holds one space only


def test_failed_write_is_not_served(stores: tuple[Store, Store]) -> None:
    fast, _ = stores
    q = vectors(1, 11)[0]
    before = ids(fast.search("c", SPACE, q, limit=3))
    bad = np.stack([q, q])
    bad[1, 0] = np.nan  # refused as a whole: the good first row must not be served either
    with pytest.raises(ValueError, match="NaN"):
        fast.upsert("c", [Document("ghost", "never written"), Document("ghost2", "bad vector")], bad, SPACE)
    assert ids(fast.search("c", SPACE, q, limit=3)) == before


def test_ivf_index_past_the_threshold_keeps_recall(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", ann_threshold=1000)
    data = clustered(3000, 1)
    store.upsert("big", docs(3000), data, SPACE)
    queries = clustered(60, 2)
    recall = _recall(store, data, queries)
    info = store.search_index("big", SPACE)
    assert info["kind"] == "ivf" and info["nprobe"] < info["nlist"]
    assert info["calibration_recall_at_10"] >= 0.95
    assert recall >= 0.95
    # A write keeps the trained lists (no retrain) and the new row is found at once.
    extra = clustered(1, 3)
    store.upsert("big", [Document("fresh", "just added")], extra, SPACE)
    assert store.search("big", SPACE, extra[0], limit=1)[0].id == "fresh"
    assert store.search_index("big", SPACE)["rows"] == 3001
    assert _recall(store, np.vstack([data, extra]), queries) >= 0.95


def test_small_space_stays_exact(tmp_path: Path) -> None:
    store = Store(tmp_path / "db", ann_threshold=1000)
    store.upsert("small", docs(999), clustered(999, 4), SPACE)
    assert store.search_index("small", SPACE)["kind"] == "exact"


def _recall(store: Store, data: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    found = 0
    for q in queries:
        exact = {f"d{i}" if i < 3000 else "fresh" for i in np.argsort(-(unit @ (q / np.linalg.norm(q))))[:k]}
        found += len(exact & set(ids(store.search("big", SPACE, q, limit=k))))
    return found / (len(queries) * k)


@pytest.mark.parametrize("rows", [0, 1, 2, 9, 1000])
def test_rows_are_permuted_in_place_as_fancy_indexing_would(rows: int) -> None:
    """The IVF build groups a snapshot's vectors by list without a second copy of them: the in-place rotation of
    each cycle, in blocks smaller than the cycles, gives exactly ``rows[order]``."""
    rng = np.random.default_rng(rows)
    vectors = rng.normal(size=(rows, 4)).astype(np.float32)
    for order in (rng.permutation(rows), np.argsort(rng.integers(0, 3, rows), kind="stable")):
        expected, permuted = vectors[order], vectors.copy()
        permute_rows(permuted, order, block=3)
        assert np.array_equal(permuted, expected)
