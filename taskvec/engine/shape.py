"""What a backbone's vectors look like: pooling, normalisation, input length and width, decided in one place.

``load_backbone`` decides them with the model loaded; ``shape_from_files`` decides them from the folder's files
alone (no torch), for commands that only need to name embedding spaces (``taskvec tasks``). Both go through
``decide_shape`` and ``sequence_limit``, so each rule is written once. Where the files do not settle a value
exactly, ``shape_from_files`` returns None and the caller loads the model instead of guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from taskvec.engine.model_files import ModelFiles
from taskvec.engine.profiles import ModelProfile
from taskvec.errors import InvalidInputError

_UNBOUNDED = 1 << 30  # the tokenizer declares no limit (transformers' VERY_LARGE_INTEGER)

# Architectures whose position table's size says how many tokens fit, by config.json's model_type, and what their
# embeddings skip at its start. RoBERTa-family embeddings number positions from ``padding_idx + 1`` (padding_idx:
# the pad token id; MPNet's is fixed at 1), so a table of 514 holds 512 tokens. Rotary models (Qwen) have no table
# and read max_position_embeddings as is. A type not listed here is not guessed: the model is loaded.
# tests/test_task_spaces.py checks every entry against the loaded architecture.
_PLAIN_POSITIONS = frozenset({"bert", "qwen2", "qwen3"})
_PAD_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "camembert", "data2vec-text"})
_FIXED_OFFSET = {"mpnet": 1}


@dataclass(frozen=True)
class VectorShape:
    pooling: str
    normalize: bool
    max_seq_length: int  # the longest input, in tokens, after the model's and the tokenizer's limits
    hidden_size: int  # the backbone's width (before any Matryoshka truncation)


def sequence_limit(positions: int, skipped: int, model_max_length: float | None) -> int:
    """The longest input a model takes: the positions its table holds past the ``skipped`` ones, and the
    tokenizer's declared limit (None or a huge value: no limit)."""
    declared = int(model_max_length) if model_max_length is not None and model_max_length < 1e9 else _UNBOUNDED
    return min(positions - skipped, declared)


def decide_shape(
    files: ModelFiles,
    profile: ModelProfile,
    *,
    limit: int,
    hidden_size: int,
    pooling: str | None = None,
    max_seq_length: int | None = None,
) -> VectorShape:
    """Settings in order from the arguments, the folder's sentence-transformers files, then the profile; the input
    length never past ``limit`` (``sequence_limit``)."""
    return VectorShape(
        pooling=pooling or files.pooling or profile.pooling,
        normalize=files.normalize if files.normalize is not None else profile.normalize,
        max_seq_length=min(max_seq_length or files.max_seq_length or profile.max_seq_length, limit),
        hidden_size=hidden_size,
    )


def check_truncate_dim(truncate_dim: int | None, hidden_size: int) -> int:
    """The vectors' dimension: ``truncate_dim`` (Matryoshka) within the model's width, else the width."""
    if truncate_dim is not None and not 0 < truncate_dim <= hidden_size:
        raise InvalidInputError(
            f"truncate_dim {truncate_dim} is outside 1..{hidden_size}.",
            field="truncate_dim",
            fix=f"Use a dimension up to the model's {hidden_size}, or leave it unset.",
        )
    return truncate_dim or hidden_size


def shape_from_files(
    files: ModelFiles, profile: ModelProfile, *, pooling: str | None = None, max_seq_length: int | None = None
) -> VectorShape | None:
    """The shape ``load_backbone`` would decide, read from ``config.json`` and ``tokenizer_config.json``; None
    where they do not settle it (an unlisted architecture, a missing width, position count or tokenizer config)."""
    config = _json_object(files.path / "config.json")
    tokenizer_config = _json_object(files.path / "tokenizer_config.json")
    if config is None or tokenizer_config is None:
        return None
    skipped = _skipped_positions(config)
    positions, hidden = config.get("max_position_embeddings"), config.get("hidden_size")
    if skipped is None or not _positive_int(positions) or not _positive_int(hidden):
        return None
    declared = tokenizer_config.get("model_max_length")
    if declared is not None and not isinstance(declared, int | float):
        return None
    limit = sequence_limit(positions, skipped, declared)
    return decide_shape(files, profile, limit=limit, hidden_size=hidden, pooling=pooling, max_seq_length=max_seq_length)


def _skipped_positions(config: dict[str, Any]) -> int | None:
    model_type = config.get("model_type")
    if model_type in _PLAIN_POSITIONS:
        return 0
    if model_type in _FIXED_OFFSET:
        return _FIXED_OFFSET[model_type] + 1
    if model_type in _PAD_OFFSET_POSITIONS and isinstance(config.get("pad_token_id"), int):
        return config["pad_token_id"] + 1
    return None


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _json_object(path: Any) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
