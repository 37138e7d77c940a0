"""Readers for each file type and the token chunker."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taskvec.engine.model_files import bundled_default_model_path
from taskvec.errors import InvalidInputError
from taskvec.ingest import chunk_documents, read_documents
from taskvec.store import Document


def test_reads_every_supported_type(tmp_path: Path) -> None:
    record = {"_id": "j1", "title": "T", "text": "body", "year": 2020, "tags": ["a", 2], "who": {"n": 1}, "nest": [[1]]}
    (tmp_path / "a.jsonl").write_text(json.dumps(record) + "\n\n")
    (tmp_path / "b.csv").write_text("id,text,lang\nc1,hello from csv,en\n")
    (tmp_path / "c.tsv").write_text("id\ttext\nt1\thello from tsv\n")
    parquet = pa.table({"id": ["p1"], "text": ["hello from parquet"], "score": [0.5], "tags": [["x", "y"]]})
    pq.write_table(parquet, tmp_path / "d.parquet")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "e.md").write_text("# Title here\n\nSome markdown.")
    (tmp_path / "notes" / "f.txt").write_text("plain text")
    (tmp_path / "notes" / "empty.txt").write_text("   ")
    (tmp_path / "ignored.bin").write_bytes(b"\x00")
    docs = {d["id"]: d for d in read_documents([tmp_path])}
    assert set(docs) == {"j1", "c1", "t1", "p1", "notes/e.md", "notes/f.txt"}
    assert docs["j1"]["text"] == "T body" and docs["j1"]["metadata"]["year"] == 2020
    assert docs["c1"]["metadata"]["lang"] == "en" and docs["p1"]["metadata"]["score"] == 0.5
    # Lists of scalars are kept (a filter's equality matches their items); objects and nested lists are not.
    assert docs["j1"]["metadata"]["tags"] == ["a", 2] and docs["p1"]["metadata"]["tags"] == ["x", "y"]
    assert "who" not in docs["j1"]["metadata"] and "nest" not in docs["j1"]["metadata"]
    assert docs["notes/e.md"]["metadata"]["title"] == "Title here"


def test_reader_errors_name_the_fix(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"body": "x"}\n')
    with pytest.raises(InvalidInputError, match="--text-field"):
        list(read_documents([tmp_path / "a.jsonl"]))
    assert next(iter(read_documents([tmp_path / "a.jsonl"], text_field="body")))["text"] == "x"
    (tmp_path / "c.docx").write_text("x")
    with pytest.raises(InvalidInputError, match="unsupported"):
        list(read_documents([tmp_path / "c.docx"]))
    with pytest.raises(InvalidInputError, match="does not exist"):
        list(read_documents([tmp_path / "missing.jsonl"]))


def test_chunks_cover_the_text_with_overlap() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_default_model_path()))
    words = [f"w{i}" for i in range(300)]
    doc = Document("d", " ".join(words), {"k": 1})
    short = Document("s", "short text", {})
    out, chunked, made = chunk_documents([doc, short], tokenizer, max_tokens=50, overlap=10)
    assert chunked == 1 and made == len(out) - 1 and out[-1] == short
    chunks = out[:-1]
    assert all(c.parent_id == "d" and c.metadata["k"] == 1 for c in chunks)
    assert [c.metadata["chunk"] for c in chunks] == list(range(len(chunks)))
    assert all(len(tokenizer(c.text, add_special_tokens=False)["input_ids"]) <= 50 for c in chunks)
    # Every word is in some chunk, and consecutive chunks share text (the overlap).
    assert set(words) <= {w for c in chunks for w in c.text.split()}
    assert set(chunks[0].text.split()) & set(chunks[1].text.split())
