"""Shared fixtures. Fast tests use a tiny random BERT saved with the real all-MiniLM-L6-v2 tokenizer."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def make_tiny_bert(folder: Path, *, pooling: str = "mean", normalize: bool = True, seed: int = 0) -> Path:
    """Save a 2-layer random BERT (hidden 32) with the real tokenizer and sentence-transformers files."""
    from model_families import save_tiny_bert, write_sentence_transformers_files

    save_tiny_bert(folder, seed)
    write_sentence_transformers_files(folder, pooling, normalize=normalize)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT folder (mean pooling, normalized, max_seq_length 64)."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


# The shared encoders run in fp32 on every machine: tests of exactness (sentence-transformers' vectors, batching
# and order that change nothing) hold there bit for bit. dtype="auto" picks bf16 on CPUs that have it, which keeps
# vectors only within bf16 rounding of these; tests/test_precision.py covers that path.
@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path):
    from taskvec.engine import Encoder

    return Encoder(tiny_model_dir, device="cpu", dtype="fp32")


@pytest.fixture(scope="session")
def real_encoder():
    """The bundled all-MiniLM-L6-v2 with its shipped adapters (loaded once per test session), in fp32."""
    from taskvec.engine import Encoder

    return Encoder(device="cpu", dtype="fp32")


@pytest.fixture()
def copy_of(tmp_path: Path):
    def _copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        return dst

    return _copy


@pytest.fixture()
def tiny_service(tiny_encoder, tmp_path: Path):
    """A TaskvecService over the tiny encoder and an empty store under tmp_path (64 documents per call at most)."""
    from taskvec.service import TaskvecService
    from taskvec.store import DocumentLimits, Store

    return TaskvecService(tiny_encoder, Store(tmp_path / "store"), limits=DocumentLimits(max_documents=64))
