"""LanceDB's own indexes and the memory budget: which path answers a search, and that every path gives the same
documents. Thresholds are lowered so that a few hundred rows stand for the hundred thousand of the defaults."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from taskvec.config import Settings
from taskvec.spaces import EmbeddingSpace
from taskvec.store import Document, IndexPolicy, Store
from taskvec.store.fast_path import SnapshotCache, SpaceSnapshot

DIM = 16
SPACE = EmbeddingSpace("m", "fp-1", "retrieval", "q: ", "d: ", None, None, "mean", True, 256, DIM)
SMALL = IndexPolicy(vector_min_rows=300, scalar_min_rows=100)
ROWS = 400


def clustered(n: int, seed: int) -> np.ndarray:
    """Unit vectors around a few directions, as embeddings are (uniform noise has no neighbourhoods to find)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(8, DIM))
    v = centres[rng.integers(0, 8, n)] + 0.5 * rng.normal(size=(n, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def fill(store: Store, name: str = "docs", rows: int = ROWS) -> np.ndarray:
    vectors = clustered(rows, 1)
    docs = [Document(str(i), f"document {i}", {"group": i % 4}) for i in range(rows)]
    store.upsert(name, docs, vectors, SPACE)
    return vectors


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int = 10, keep: np.ndarray | None = None) -> list[str]:
    scores = vectors @ query
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    return [str(i) for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.mark.parametrize("store_uri", ["local", "s3"], indirect=True)
def test_a_write_that_grows_a_collection_builds_its_indexes(store_uri: str) -> None:
    store = Store(store_uri, memory_budget=0, indexes=SMALL)
    vectors = fill(store)
    store.wait_for_indexes()
    info = store.search_index("docs", SPACE)
    assert info["kind"] == "lancedb"
    assert set(info["indexes"]) >= {"vector_idx", "space_id_idx", "id_idx"}, info
    queries = clustered(20, 2)
    recall = np.mean(
        [
            len({h.id for h in store.search("docs", SPACE, q, limit=10)} & set(exact_top(vectors, q))) / 10
            for q in queries
        ]
    )
    assert recall >= 0.95, recall


def test_filtered_searches_through_the_indexes_match_exact_filtering(tmp_path) -> None:
    store = Store(tmp_path / "db", memory_budget=0, indexes=SMALL)
    vectors = fill(store)
    store.wait_for_indexes()
    keep = np.arange(ROWS) % 4 == 1
    for q in clustered(10, 3):
        hits = store.search("docs", SPACE, q, limit=10, filter={"group": 1})
        assert all(h.metadata["group"] == 1 for h in hits) and len(hits) == 10
        assert len({h.id for h in hits} & set(exact_top(vectors, q, keep=keep))) >= 9


def test_the_memory_budget_decides_the_path_and_not_the_answer(tmp_path) -> None:
    vectors = fill(Store(tmp_path / "db"))
    in_memory = Store(tmp_path / "db")  # default budget: a quarter of RAM
    lancedb_only = Store(tmp_path / "db", memory_budget=0)
    q = clustered(1, 4)[0]
    assert in_memory.search_index("docs", SPACE)["kind"] == "exact"
    assert lancedb_only.search_index("docs", SPACE)["kind"] == "lancedb"
    expected = exact_top(vectors, q)
    assert [h.id for h in in_memory.search("docs", SPACE, q, limit=10)] == expected
    assert [h.id for h in lancedb_only.search("docs", SPACE, q, limit=10)] == expected


def test_the_snapshot_cache_keeps_the_most_recently_searched_within_its_budget(tmp_path) -> None:
    store = Store(tmp_path / "db")
    for name in ("a", "b", "c"):
        fill(store, name, rows=50)
    one = store._snapshot("a", SPACE, store._state("a"))
    assert one is not None
    cache = SnapshotCache(budget=int(one.nbytes * 2.5))  # room for two spaces of this size
    store._snapshots = cache
    for name in ("a", "b", "c"):
        store.search(name, SPACE, clustered(1, 5)[0])
    assert cache.resident <= cache.budget
    assert cache.latest(("a", SPACE.id)) is None  # least recently used, evicted
    assert cache.latest(("b", SPACE.id)) is not None and cache.latest(("c", SPACE.id)) is not None
    small = SnapshotCache(budget=one.nbytes - 1)  # a space larger than the whole budget is never held
    assert not small.put(("a", SPACE.id), one) and small.resident == 0
    assert not small.fits(("a", SPACE.id), len(one), DIM)


def test_optimize_builds_the_indexes_a_collection_has_grown_into(tmp_path) -> None:
    fill(Store(tmp_path / "db"))  # default thresholds: 400 rows get no index
    assert set(Store(tmp_path / "db", memory_budget=0).search_index("docs", SPACE)["indexes"]) == {"text_idx"}
    report = Store(tmp_path / "db", indexes=SMALL).optimize("docs")
    assert set(report["indexes_built"]) == {"vector_idx", "space_id_idx", "id_idx"}
    assert Store(tmp_path / "db", indexes=SMALL).optimize("docs")["indexes_built"] == []  # nothing twice


def test_upserts_after_indexing_are_found_before_and_after_optimize(tmp_path) -> None:
    store = Store(tmp_path / "db", memory_budget=0, indexes=SMALL)
    fill(store)
    store.wait_for_indexes()
    fresh = clustered(1, 9)
    store.upsert("docs", [Document("new", "a new document", {})], fresh, SPACE)
    assert store.search("docs", SPACE, fresh[0], limit=1)[0].id == "new"  # unindexed rows are scanned
    store.optimize("docs")
    assert store.search("docs", SPACE, fresh[0], limit=1)[0].id == "new"


@pytest.mark.parametrize("store_uri", ["local", "s3"], indirect=True)
def test_a_reader_that_keeps_its_dataset_open_sees_every_later_write(store_uri: str) -> None:
    """The LanceDB path keeps the table's Lance dataset open between searches; a write through another store (a
    replica), a delete and a dropped-and-recreated collection must each be seen by the reader's next search."""
    writer, reader = Store(store_uri, indexes=SMALL), Store(store_uri, memory_budget=0, indexes=SMALL)
    vectors = fill(writer)
    writer.wait_for_indexes()
    q = clustered(1, 6)[0]
    assert [h.id for h in reader.search("docs", SPACE, q, limit=5)] == exact_top(vectors, q, k=5)
    writer.upsert("docs", [Document("new", "a new document", {"group": 9})], q[None, :], SPACE)
    assert reader.search("docs", SPACE, q, limit=1)[0].id == "new"
    assert reader.search("docs", SPACE, q, limit=1, filter={"group": 9})[0].id == "new"
    writer.delete("docs", ids=["new"])
    assert "new" not in {h.id for h in reader.search("docs", SPACE, q, limit=5)}
    writer.drop("docs")
    writer.upsert("docs", [Document("only", "the one document left", {})], q[None, :], SPACE)
    assert [h.id for h in reader.search("docs", SPACE, q, limit=5)] == ["only"]


def test_a_search_through_lancedb_stays_in_its_space_whether_or_not_others_are_there(tmp_path) -> None:
    """A collection of one space is searched without the space prefilter (it would admit every row); as soon as
    the searched version holds another space's rows, the prefilter is back."""
    other = EmbeddingSpace("m", "fp-1", "similarity", "", "", None, None, "mean", True, 256, DIM)
    store = Store(tmp_path / "db", memory_budget=0, indexes=SMALL)
    vectors = fill(store)
    store.wait_for_indexes()
    q = vectors[7]
    assert store.search("docs", SPACE, q, limit=1)[0].id == "7"
    twin = [Document(f"twin-{i}", f"the other space's copy {i}", {}) for i in range(ROWS)]
    store.upsert("docs", twin, vectors, other)  # the same vectors, so without the prefilter they would be found too
    assert {h.id for h in store.search("docs", SPACE, q, limit=20)} <= {str(i) for i in range(ROWS)}
    assert {h.id for h in store.search("docs", other, q, limit=20)} <= {d.id for d in twin}
    store.delete("docs", ids=[d.id for d in twin])
    assert store.search("docs", SPACE, q, limit=1)[0].id == "7"


class RecordingDataset:
    """A real Lance dataset that notes how each vector search was filtered (True: prefiltered, False: postfiltered)."""

    def __init__(self, dataset: object) -> None:
        self.dataset, self.plans = dataset, []

    def to_table(self, **query: object) -> pa.Table:
        self.plans.append(query["prefilter"])
        return self.dataset.to_table(**query)

    def __getattr__(self, name: str) -> object:
        return getattr(self.dataset, name)


@pytest.mark.parametrize(
    ("arrangement", "plans"),
    [
        ("half, mixed", [False]),  # the nearest rows of the whole table hold enough of the space's rows
        ("half, the other space crowding the query", [False, True]),  # they do not: prefiltered again
        ("a fortieth", [True]),  # too small a share to postfilter
        ("half, no vector index", [True]),  # an exact scan prefiltered reads only the space's rows
    ],
)
def test_a_space_of_part_of_a_collection_gets_its_exact_nearest_rows_by_either_plan(
    tmp_path, monkeypatch, arrangement: str, plans: list[bool]
) -> None:
    other = EmbeddingSpace("m", "fp-1", "similarity", "", "", None, None, "mean", True, 256, DIM)
    no_vector_index = IndexPolicy(vector_min_rows=10**9, scalar_min_rows=100)
    policy = no_vector_index if arrangement.endswith("no vector index") else SMALL
    store = Store(tmp_path / "db", memory_budget=0, indexes=policy)
    mine = 20 if arrangement == "a fortieth" else 400
    vectors = fill(store, rows=mine)
    q = clustered(1, 5)[0]
    theirs = clustered(800 - mine, 6)
    if arrangement.endswith("crowding the query"):
        theirs = q + 0.01 * theirs  # every row of the other space nearer the query than any of this space's
        theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    store.upsert("docs", [Document(f"o{i}", f"other {i}", {}) for i in range(len(theirs))], theirs, other)
    store.wait_for_indexes()
    recording = RecordingDataset(store.db.open_table("docs").to_lance())
    monkeypatch.setattr(store, "_dataset", lambda name, state: recording)
    hits = [h.id for h in store.search("docs", SPACE, q, limit=10)]
    assert len(hits) == 10 and len(set(hits) & set(exact_top(vectors, q))) >= 9, hits  # approximate with an index
    assert recording.plans == plans


@pytest.mark.parametrize(
    ("arrangement", "metadata_filter", "plans"),
    [
        ("one space", {"group": 1}, [False]),  # a quarter of the rows: the nearest 200 hold ten of them
        ("one space", {"group": 7}, [False, False, True]),  # three rows: too few among the nearest 200, then 1000
        ("one space", {"group": 9}, [False, False, True]),  # no row at all: an empty answer, after every plan
        ("a fortieth of the rows", {"group": 1}, [True]),  # the depth a postfilter needs passes MAX_LIMIT
        ("one space, no vector index", {"group": 1}, [True]),  # an exact scan prefiltered reads only what passes
    ],
)
def test_a_metadata_filter_is_postfiltered_first_and_falls_back_to_the_prefilter(
    tmp_path, monkeypatch, arrangement: str, metadata_filter: dict, plans: list[bool]
) -> None:
    """A metadata filter's share of the rows is unknown: the store postfilters first as if it admitted a tenth of
    the space, then from MAX_LIMIT rows, and prefilters where that finds too few. Whichever plan answers, the hits
    are the exact nearest admitted rows."""
    no_vector_index = IndexPolicy(vector_min_rows=10**9, scalar_min_rows=100)
    store = Store(tmp_path / "db", memory_budget=0, indexes=no_vector_index if "no vector" in arrangement else SMALL)
    mine = 20 if arrangement.startswith("a fortieth") else ROWS
    vectors = fill(store, rows=mine)
    rare = clustered(3, 7)
    store.upsert("docs", [Document(f"r{i}", f"rare {i}", {"group": 7}) for i in range(3)], rare, SPACE)
    vectors, ids = np.vstack([vectors, rare]), [*map(str, range(mine)), "r0", "r1", "r2"]
    if arrangement.startswith("a fortieth"):
        other = EmbeddingSpace("m", "fp-1", "similarity", "", "", None, None, "mean", True, 256, DIM)
        store.upsert(
            "docs", [Document(f"o{i}", f"other {i}", {"group": 1}) for i in range(780)], clustered(780, 6), other
        )
    store.wait_for_indexes()
    recording = RecordingDataset(store.db.open_table("docs").to_lance())
    monkeypatch.setattr(store, "_dataset", lambda name, state: recording)
    q = clustered(1, 5)[0]
    hits = [h.id for h in store.search("docs", SPACE, q, limit=10, filter=metadata_filter)]
    group = np.array([i % 4 for i in range(mine)] + [7, 7, 7])
    admitted = group == metadata_filter["group"]
    expected = [ids[int(i)] for i in exact_top(vectors, q, keep=admitted)][: int(admitted.sum())]
    assert len(hits) == len(expected) and len(set(hits) & set(expected)) >= len(expected) - 1, (hits, expected)
    assert recording.plans == plans


def test_new_collections_are_written_in_the_file_format_that_reads_a_few_rows_fast(tmp_path) -> None:
    import lance

    from taskvec.store.writer import FILE_FORMAT

    fill(Store(tmp_path / "db"), rows=10)
    assert lance.dataset(str(tmp_path / "db" / "docs.lance")).data_storage_version == FILE_FORMAT


def test_memory_budget_setting_takes_sizes(monkeypatch) -> None:
    monkeypatch.setenv("TASKVEC_MEMORY_BUDGET", "2GiB")
    assert Settings().memory_budget == 2 << 30
    monkeypatch.setenv("TASKVEC_MEMORY_BUDGET", "512 MB")
    assert Settings().memory_budget == 512_000_000
    monkeypatch.setenv("TASKVEC_MEMORY_BUDGET", "12 parsecs")
    with pytest.raises(Exception, match="memory_budget"):
        Settings()


def test_snapshot_bytes_count_vectors_and_columns(tmp_path) -> None:
    store = Store(tmp_path / "db")
    fill(store, rows=100)
    snapshot = store._snapshot("docs", SPACE, store._state("docs"))
    assert isinstance(snapshot, SpaceSnapshot)
    assert snapshot.nbytes >= 100 * DIM * 4 + snapshot.columns.nbytes


@pytest.mark.parametrize("expected", [0, 37, 100, 250])
def test_a_snapshot_read_batch_by_batch_holds_exactly_the_scanned_rows(expected: int) -> None:
    """Rows arrive in batches into one array sized by the expected count; more rows than expected grow it, fewer
    leave no tail, and every row keeps its vector (as a unit vector), row id and columns together."""
    vectors = clustered(100, 11) * 3.0  # not unit length: the snapshot normalises
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    batches = [
        pa.record_batch(
            {
                "id": [str(i) for i in range(a, b)],
                "text": [f"t{i}" for i in range(a, b)],
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors[a:b].ravel()), DIM),
                "_rowid": pa.array(range(1000 + a, 1000 + b), pa.uint64()),
            }
        )
        for a, b in ((0, 30), (30, 31), (31, 100))
    ]
    snapshot = SpaceSnapshot.read(batches, schema, expected, (None, 1), DIM)
    assert len(snapshot) == 100 and snapshot.unit.shape == (100, DIM)
    np.testing.assert_allclose(snapshot.unit, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), rtol=1e-6)
    assert snapshot.rowids.tolist() == list(range(1000, 1100))
    assert snapshot.columns.column("id").to_pylist() == [str(i) for i in range(100)]
    empty = SpaceSnapshot.read([], schema, expected, (None, 1), DIM)
    assert len(empty) == 0 and empty.columns.schema == schema


@pytest.mark.parametrize("kind", ["IVF_PQ", "IVF_RQ"])
def test_the_vector_index_setting_picks_the_kind_and_optimize_rebuilds_on_a_change(
    tmp_path, monkeypatch, kind: str
) -> None:
    from taskvec.store.indexes import index_names

    monkeypatch.setenv("TASKVEC_STORE", str(tmp_path / "db"))
    monkeypatch.setenv("TASKVEC_ANN_THRESHOLD", "300")
    monkeypatch.setenv("TASKVEC_MEMORY_BUDGET", "0")
    store = Settings().build_store()
    vectors = fill(store)
    store.wait_for_indexes()
    assert index_names(store.db.open_table("docs"))["vector_idx"] == "IvfHnswSq"  # the default kind
    monkeypatch.setenv("TASKVEC_VECTOR_INDEX", kind)
    store = Settings().build_store()
    assert "vector_idx" in store.optimize("docs")["indexes_built"]
    assert index_names(store.db.open_table("docs"))["vector_idx"] == {"IVF_PQ": "IvfPq", "IVF_RQ": "IvfRq"}[kind]
    queries = clustered(20, 2)
    found = [{h.id for h in store.search("docs", SPACE, q, limit=10)} for q in queries]
    recall = np.mean([len(f & set(exact_top(vectors, q))) / 10 for f, q in zip(found, queries, strict=True)])
    assert recall >= 0.9, recall  # the refine pass re-scores the coarse codes' candidates on the full vectors


def test_optimize_right_after_a_large_write_waits_for_its_background_build(tmp_path) -> None:
    """The write starts an index build in the background; optimize would build the same indexes, and the second
    commit would conflict with the first: it waits for the build instead of failing as busy."""
    store = Store(tmp_path / "db", memory_budget=0, indexes=SMALL)
    fill(store)
    report = store.optimize("docs")
    assert {"vector_idx", "space_id_idx", "id_idx"} <= set(report["indexes"])
    assert not store.indexing()
