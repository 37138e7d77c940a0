"""The encoder's faster paths give the same results as the plain ones: the private Rust tokenizer equals the
transformers wrapper (ids and truncation count), and the pipelined path used on accelerators (tokenizing the next
chunk on worker threads) equals one plain pass."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from taskvec.engine import Encoder, EncodeRow
from taskvec.engine import encoder as encoder_module
from taskvec.engine import tokenize as tokenize_module

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "short",
    "word " * 200,  # longer than the tiny model's 64 tokens
    "Ünïcödé, emoji 🙂 and CJK 漢字 mixed in.",
    "more " * 100,
    "  leading and trailing spaces  ",
]


def test_rust_tokenizer_matches_the_wrapper(tiny_encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_ids, fast_cut = tiny_encoder.tokens(list(TEXTS))
    monkeypatch.setattr(tiny_encoder.tokens, "backend", None)  # the transformers wrapper path
    slow_ids, slow_cut = tiny_encoder.tokens(list(TEXTS))
    assert fast_ids == slow_ids and fast_cut == slow_cut == 2
    assert max(len(x) for x in fast_ids) == tiny_encoder.max_seq_length


def test_pipelined_encode_equals_plain(tiny_encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [EncodeRow(f"{t} #{i}", task) for i, t in enumerate(TEXTS * 5) for task in ("similarity", "retrieval")]
    plain = tiny_encoder.encode_rows(rows)
    with ThreadPoolExecutor(max_workers=3) as pool:
        monkeypatch.setattr(tiny_encoder.tokens, "pool", pool)
        monkeypatch.setattr(encoder_module, "_PIPELINE_ROWS", 7)
        monkeypatch.setattr(tokenize_module, "_TOKENIZE_SLICE", 3)
        piped = tiny_encoder.encode_rows(rows, batch_size=4)
    np.testing.assert_allclose(piped.vectors, plain.vectors, atol=1e-6)
    assert piped.truncated == plain.truncated == 20 and piped.space_ids == plain.space_ids


def test_token_budget_bounds_batches(tiny_encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny_encoder, "max_batch_tokens", 100)
    lengths = [64, 64, 10, 10, 10, 3, 50]
    batches = list(tiny_encoder.batches(lengths, batch_size=32))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 100 for b in batches)
    budgeted = tiny_encoder.encode(TEXTS, "similarity").vectors
    monkeypatch.setattr(tiny_encoder, "max_batch_tokens", None)
    np.testing.assert_allclose(budgeted, tiny_encoder.encode(TEXTS, "similarity").vectors, atol=1e-6)


def test_int8_is_an_opt_in_space_of_its_own(tiny_model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from helpers import make_random_adapter, write_tasks_file

    from taskvec.errors import InvalidInputError, ModelLoadError

    make_random_adapter(tiny_model_dir, tmp_path / "a", seed=1)
    tasks = write_tasks_file(tmp_path / "tasks.toml", '[tasks.adapted]\nkind = "similarity"\nadapter = "a"\n')
    fp32 = Encoder(tiny_model_dir, device="cpu", dtype="fp32", tasks_file=tasks)
    int8 = Encoder(tiny_model_dir, device="cpu", dtype="int8", tasks_file=tasks)
    a, b = fp32.encode(TEXTS, "similarity").vectors, int8.encode(TEXTS, "similarity").vectors
    assert (a * b).sum(axis=1).min() > 0.9 and np.abs(a - b).max() > 1e-6  # close, not equal
    assert int8.space("similarity").id != fp32.space("similarity").id
    assert int8.space("similarity").is_stale_version_of(fp32.space("similarity"))  # re-indexing replaces fp32 rows
    assert "int8-quantized" in " ".join(int8.space("similarity").differences(fp32.space("similarity")))
    assert not any("precision" in d for d in fp32.space("retrieval").differences(fp32.space("similarity")))
    assert int8.describe()["dtype"] == "int8"
    with pytest.raises(ModelLoadError, match="int8"):
        int8.encode(["x"], "adapted")
    with pytest.raises(InvalidInputError, match="CPU"):
        Encoder(tiny_model_dir, device="meta", dtype="int8")
