"""Models users bring: a tiny random model of each architecture family the profiles name (tests/model_families.py)
gives sentence-transformers' vectors with the profile's prompts, takes LoRA adapters, and mixes tasks in a batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import make_random_adapter, write_tasks_file
from model_families import FAMILIES, MAX_SEQ_LENGTH, Family, make_family_model

from taskvec.engine import Encoder, EncodeRow

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Vaccines teach the immune system to recognise a pathogen.",
    "short",
    "A considerably longer sentence that goes on and on about nothing in particular, " * 3,
    "word " * 200,  # cut to the limit
    "Ünïcödé, emoji 🙂 and CJK 漢字 mixed in.",
]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Family, Path]:
    return FAMILIES[request.param], make_family_model(tmp_path_factory.mktemp("families"), request.param)


def _sentence_transformer(folder: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu", **kwargs)


def test_vectors_equal_sentence_transformers_with_the_profile_prompts(family: tuple[Family, Path]) -> None:
    spec, folder = family
    encoder = Encoder(folder, device="cpu", dtype="fp32")
    assert encoder.profile.name == spec.profile and encoder.pooling == spec.pooling
    assert encoder.tokenizer.padding_side == spec.padding_side and encoder.max_seq_length == MAX_SEQ_LENGTH
    reference = _sentence_transformer(folder)
    for task, role in [("retrieval", "query"), ("retrieval", "document"), ("similarity", "document")]:
        prompt = encoder.tasks[task].prompt(role)
        ours = encoder.encode(TEXTS, task, role)
        theirs = reference.encode(TEXTS, prompt=prompt, convert_to_numpy=True)
        np.testing.assert_allclose(ours.vectors, theirs, atol=1e-5, err_msg=f"{spec.name} {task}/{role}")
        assert ours.truncated >= 1
    # The folder's own prompts are the profile's: sentence-transformers' encode_query gives the same vectors.
    np.testing.assert_allclose(
        encoder.encode_query(TEXTS), reference.encode_query(TEXTS, convert_to_numpy=True), atol=1e-5
    )
    # Padding (left for Qwen3) leaves a row's vector alone: batched equals one at a time.
    batched = encoder.embed(TEXTS, "retrieval", "query")
    alone = np.stack([encoder.embed(text, "retrieval", "query") for text in TEXTS])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


@pytest.mark.parametrize("name", ["nomic-embed-text-v1.5-tiny", "Qwen3-Embedding-tiny"])
def test_matryoshka_truncation_equals_sentence_transformers(name: str, tmp_path: Path) -> None:
    folder = make_family_model(tmp_path, name)
    encoder = Encoder(folder, device="cpu", dtype="fp32", truncate_dim=16)
    prompt = encoder.tasks["retrieval"].query_prompt
    ours = encoder.encode_query(TEXTS)
    # Truncated vectors are normalised again (cosine stays a dot product): ST's normalize_embeddings=True.
    theirs = _sentence_transformer(folder, truncate_dim=16).encode(TEXTS, prompt=prompt, normalize_embeddings=True)
    assert ours.shape == (len(TEXTS), 16)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    full = Encoder(folder, device="cpu")
    assert encoder.space("retrieval").dimension == 16 and encoder.space("retrieval").id != full.space("retrieval").id


def test_lora_adapters_attach_change_vectors_and_mix_in_one_batch(family: tuple[Family, Path], tmp_path: Path) -> None:
    spec, folder = family
    targets = spec.lora_targets
    make_random_adapter(folder, tmp_path / "a1", seed=1, target_modules=targets)
    make_random_adapter(folder, tmp_path / "a2", seed=2, target_modules=targets)
    tasks = write_tasks_file(
        tmp_path / "tasks.toml", '[tasks.retrieval]\nadapter = "a1"\n[tasks.similarity]\nadapter = "a2"\n'
    )
    encoder = Encoder(folder, device="cpu", dtype="fp32", tasks_file=tasks)
    adapted = encoder.encode_query(TEXTS, task="retrieval")
    plain = encoder.encode_query(TEXTS, task=encoder.tasks["retrieval"].without_adapter())
    assert np.abs(adapted - plain).max() > 1e-3
    # The adapter is applied as PEFT applies it: sentence-transformers with the same adapter loaded agrees.
    reference = _sentence_transformer(folder)
    reference.load_adapter(str(tmp_path / "a1"))
    theirs = reference.encode(TEXTS, prompt=encoder.tasks["retrieval"].query_prompt, convert_to_numpy=True)
    np.testing.assert_allclose(adapted, theirs, atol=1e-5)

    pairs = [("retrieval", "query"), ("retrieval", "document"), ("similarity", "document"), ("clustering", "document")]
    rows = [EncodeRow(text, task, role) for text in TEXTS for task, role in pairs]
    mixed = encoder.encode_rows(rows, batch_size=7).vectors
    for task, role in pairs:
        idx = [i for i, r in enumerate(rows) if (r.task, r.role) == (task, role)]
        alone = encoder.encode([rows[i].text for i in idx], task, role).vectors
        np.testing.assert_allclose(mixed[idx], alone, atol=1e-5, err_msg=f"{spec.name} {task}/{role}")


def test_roberta_positions_bound_the_length_limit(tmp_path: Path) -> None:
    """XLM-R numbers positions from pad id + 1: a table of 66 holds 64 tokens. Without a sentence-transformers
    length, the limit comes from the table, and counting all of it indexed past its end on long inputs."""
    folder = make_family_model(tmp_path, "multilingual-e5-small-tiny")
    (folder / "sentence_bert_config.json").unlink()
    encoder = Encoder(folder, device="cpu")
    assert encoder.max_seq_length == MAX_SEQ_LENGTH
    result = encoder.encode(["word " * 200], "retrieval")
    assert result.truncated == 1 and np.isfinite(result.vectors).all()
