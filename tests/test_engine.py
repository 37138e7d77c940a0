"""The engine: vectors equal sentence-transformers', mixed-task batches equal per-task ones, adapters change
spaces, truncation is counted, bad input fails early with actionable errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_bert
from helpers import make_random_adapter, write_tasks_file

from taskvec.engine import Encoder, EncodeRow, TaskRegistry
from taskvec.engine.profiles import profile_for
from taskvec.errors import InvalidInputError, ModelLoadError, UnknownTaskError

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Vaccines teach the immune system to recognise a pathogen.",
    "short",
    "A considerably longer sentence that goes on and on about nothing in particular, " * 3,
]


@pytest.fixture(scope="module")
def adapter_tasks(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adapters")
    make_random_adapter(tiny_model_dir, root / "a1", seed=1)
    make_random_adapter(tiny_model_dir, root / "a2", seed=2)
    return write_tasks_file(
        root / "tasks.toml",
        """
[tasks.retrieval]
query_prompt = "q: "
document_prompt = "d: "
adapter = "a1"

[tasks.similarity]
prompt = "s: "
adapter = "a2"

[tasks.tickets]
kind = "classification"
description = "Route support tickets"
prompt = "ticket: "
""",
    )


@pytest.mark.real_model
def test_matches_sentence_transformers_mean_pooling(real_encoder: Encoder) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(real_encoder.model_path), device="cpu")
    task = real_encoder.tasks["retrieval"].without_adapter()
    ours = real_encoder.encode(TEXTS, task, "query").vectors
    theirs = reference.encode(TEXTS, prompt=task.query_prompt, convert_to_numpy=True)
    assert np.abs(ours - theirs).max() < 1e-5
    plain = real_encoder.encode(TEXTS, task.with_prompts(""), "document").vectors
    assert np.abs(plain - reference.encode(TEXTS, convert_to_numpy=True)).max() < 1e-5


def test_matches_sentence_transformers_cls_pooling(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    folder = make_tiny_bert(tmp_path / "cls", pooling="cls", normalize=False, seed=3)
    encoder = Encoder(folder, device="cpu", dtype="fp32")
    assert encoder.pooling == "cls" and not encoder.normalize
    ours = encoder.encode(TEXTS, encoder.tasks["similarity"].with_prompts("p: ")).vectors
    theirs = SentenceTransformer(str(folder), device="cpu").encode(TEXTS, prompt="p: ", convert_to_numpy=True)
    assert np.abs(ours - theirs).max() < 1e-5


def test_order_and_batching_do_not_change_vectors(tiny_encoder: Encoder) -> None:
    one_by_one = np.stack([tiny_encoder.encode([t], "similarity").vectors[0] for t in TEXTS])
    batched = tiny_encoder.encode(TEXTS, "similarity", batch_size=3).vectors
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_truncation_is_counted(tiny_encoder: Encoder) -> None:
    result = tiny_encoder.encode(["word " * 200, "short text", "more " * 100], "similarity")
    assert result.truncated == 2
    assert tiny_encoder.encode(["short"], "similarity").truncated == 0


def test_mixed_task_batch_equals_per_task_batches(tiny_model_dir: Path, adapter_tasks: Path) -> None:
    encoder = Encoder(tiny_model_dir, tasks_file=adapter_tasks, device="cpu", dtype="fp32")
    rows = [
        EncodeRow(t, task, role)
        for t in TEXTS
        for task, role in [
            ("retrieval", "query"),
            ("retrieval", "document"),
            ("similarity", "document"),
            ("tickets", "document"),
        ]
    ]
    mixed = encoder.encode_rows(rows, batch_size=7).vectors
    for task, role in [
        ("retrieval", "query"),
        ("retrieval", "document"),
        ("similarity", "document"),
        ("tickets", "document"),
    ]:
        idx = [i for i, r in enumerate(rows) if r.task == task and r.role == role]
        alone = encoder.encode([rows[i].text for i in idx], task, role).vectors
        np.testing.assert_allclose(mixed[idx], alone, atol=1e-6)


def test_adapters_change_vectors_and_spaces(tiny_model_dir: Path, adapter_tasks: Path) -> None:
    encoder = Encoder(tiny_model_dir, tasks_file=adapter_tasks, device="cpu", dtype="fp32")
    with_adapter = encoder.encode(TEXTS, "similarity").vectors
    without = encoder.encode(TEXTS, encoder.tasks["similarity"].without_adapter()).vectors
    assert np.abs(with_adapter - without).max() > 1e-3
    spaces = {encoder.space(t).id for t in ("retrieval", "similarity", "tickets")}
    assert len(spaces) == 3
    assert encoder.space("similarity").adapter_fingerprint
    assert encoder.space("similarity").id != encoder.space(encoder.tasks["similarity"].without_adapter()).id
    assert len(encoder.loaded_adapters) == 1  # adapters load lazily, on a task's first use
    encoder.encode(TEXTS, "retrieval", "query")
    assert len(encoder.loaded_adapters) == 2  # two adapters on one backbone, loaded by name


def test_space_is_stable_and_sensitive(tiny_model_dir: Path, tmp_path: Path) -> None:
    a = Encoder(tiny_model_dir, device="cpu").space("retrieval")
    b = Encoder(tiny_model_dir, device="cpu").space("retrieval")
    assert a.id == b.id and len(a.id) == 16
    other = make_tiny_bert(tmp_path / "other", seed=9)
    c = Encoder(other, device="cpu").space("retrieval")
    assert c.model_fingerprint != a.model_fingerprint and c.id != a.id
    assert c.is_stale_version_of(a) is False  # the folder name (model) differs too
    assert "retrieval" in a.describe() and a.id in a.describe()


def test_unknown_task_lists_known_ones(tiny_encoder: Encoder) -> None:
    with pytest.raises(UnknownTaskError) as err:
        tiny_encoder.encode(["x"], "summarize")
    assert "retrieval" in str(err.value) and err.value.field == "task"


@pytest.mark.parametrize(("texts", "field"), [(["ok", "  "], "texts[1]"), (["ok", 3], "texts[1]"), ("a", "texts")])
def test_bad_texts_name_the_field(tiny_encoder: Encoder, texts: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        tiny_encoder.encode(texts, "similarity")  # type: ignore[arg-type]
    assert err.value.field == field and err.value.fix


def test_bad_role(tiny_encoder: Encoder) -> None:
    with pytest.raises(InvalidInputError, match="role"):
        tiny_encoder.encode(["x"], "retrieval", "question")  # type: ignore[arg-type]


def test_not_a_model_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError) as err:
        Encoder(tmp_path / "empty")
    assert "not a model folder" in str(err.value) and err.value.field == "model"
    with pytest.raises(ModelLoadError):
        Encoder(tmp_path / "does-not-exist-and-not-a-hub-id")


def test_tasks_file_errors(tiny_model_dir: Path, tmp_path: Path) -> None:
    registry = TaskRegistry.from_profile(profile_for("x"))
    bad_kind = write_tasks_file(tmp_path / "a.toml", '[tasks.x]\nkind = "summary"\n')
    with pytest.raises(InvalidInputError, match="kind"):
        registry.with_file(bad_kind)
    bad_adapter = write_tasks_file(tmp_path / "b.toml", '[tasks.x]\nkind = "retrieval"\nadapter = "nope"\n')
    with pytest.raises(InvalidInputError, match=r"adapter_config\.json"):
        registry.with_file(bad_adapter)
    unknown_key = write_tasks_file(tmp_path / "c.toml", '[tasks.x]\nkind = "retrieval"\npromt = "typo"\n')
    with pytest.raises(InvalidInputError, match="unknown keys"):
        registry.with_file(unknown_key)


def test_profiles_pick_known_prompts() -> None:
    assert profile_for("BAAI/bge-small-en-v1.5").prompts["retrieval"][0].startswith("Represent this sentence")
    assert profile_for("intfloat/e5-base-v2").prompts["retrieval"] == ("query: ", "passage: ")
    assert profile_for("Qwen/Qwen3-Embedding-0.6B").pooling == "lasttoken"
    assert profile_for("nomic-ai/nomic-embed-text-v1.5").prompts["clustering"][0] == "clustering: "
    assert profile_for("some/unknown-model").name == "generic"


def test_the_sentiment_task_takes_its_own_prompt_where_a_profile_has_one_else_classifications() -> None:
    qwen = TaskRegistry.from_profile(profile_for("Qwen/Qwen3-Embedding-0.6B"))
    assert "sentiment or emotion" in qwen["sentiment"].query_prompt
    assert qwen["sentiment"].query_prompt != qwen["classification"].query_prompt
    e5 = TaskRegistry.from_profile(profile_for("intfloat/e5-base-v2"))
    assert e5["sentiment"].kind == "classification"
    assert e5["sentiment"].query_prompt == e5["classification"].query_prompt == "query: "


def test_array_api_follows_sentence_transformers(tiny_encoder: Encoder) -> None:
    one = tiny_encoder.encode_query(TEXTS[0], task="retrieval")
    assert one.shape == (tiny_encoder.dimension,) and one.dtype == np.float32
    queries = tiny_encoder.encode_query(TEXTS, task="retrieval")
    documents = tiny_encoder.encode_document(TEXTS, task="retrieval")
    assert queries.shape == (len(TEXTS), tiny_encoder.dimension) and queries.dtype == np.float32
    np.testing.assert_array_equal(queries, tiny_encoder.encode(TEXTS, "retrieval", "query").vectors)
    np.testing.assert_array_equal(documents, tiny_encoder.embed(TEXTS, task="retrieval", role="document"))
    np.testing.assert_allclose(one, queries[0], atol=1e-6)
    assert tiny_encoder.encode_document([], task="similarity").shape == (0, tiny_encoder.dimension)


def test_bad_arguments_fail_early_and_say_what_to_pass(tiny_encoder: Encoder) -> None:
    with pytest.raises(UnknownTaskError, match="is a role") as err:
        tiny_encoder.encode(["x"], "query")  # the role where the task goes
    assert "retrieval" in str(err.value)
    with pytest.raises(UnknownTaskError, match=r"Known tasks: .*similarity"):
        tiny_encoder.encode_query("x", task="summarize")
    with pytest.raises(InvalidInputError, match="'query' and 'document'"):
        tiny_encoder.embed("x", "retrieval", role="question")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError) as err:
        tiny_encoder.encode_document(["x"], task=["retrieval"])  # type: ignore[arg-type]
    assert err.value.field == "task" and "similarity" in err.value.fix
    with pytest.raises(InvalidInputError) as err:
        tiny_encoder.encode(None, "similarity")  # type: ignore[arg-type]
    assert err.value.field == "texts"
    with pytest.raises(InvalidInputError) as err:
        tiny_encoder.encode_query(["x"], batch_size=0)
    assert err.value.field == "batch_size"
