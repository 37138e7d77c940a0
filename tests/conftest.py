"""Shared fixtures. Fast tests use a tiny random BERT saved with the real all-MiniLM-L6-v2 tokenizer."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def make_tiny_bert(folder: Path, *, pooling: str = "mean", normalize: bool = True, seed: int = 0) -> Path:
    """Save a 2-layer random BERT (hidden 32) with the real tokenizer and sentence-transformers files."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from taskvec.engine.model_files import bundled_default_model_path

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(bundled_default_model_path())).save_pretrained(folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": 32,
                "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean",
                "pooling_mode_lasttoken": pooling == "lasttoken",
            }
        )
    )
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT folder (mean pooling, normalized, max_seq_length 64)."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path):
    from taskvec.engine import Encoder

    return Encoder(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def real_encoder():
    """The bundled all-MiniLM-L6-v2 with its shipped adapters (loaded once per test session)."""
    from taskvec.engine import Encoder

    return Encoder(device="cpu")


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
