"""Loading a backbone: the device and dtype it runs in, the model and tokenizer from its folder, what the folder
and profile say about pooling, normalisation and input length, and the opt-in variants of its weights (int8,
``torch.compile``).

Everything decided once, at load time, lives here; nothing here runs a forward pass. The encoder (serving) and
the trainer (training adapters) load through ``load_backbone``, so both see the same tokenizer, pad token,
pooling and length limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from taskvec.engine.hardware import cpu_has_bf16
from taskvec.engine.model_files import ModelFiles, resolve_model_path
from taskvec.engine.profiles import ModelProfile, profile_for
from taskvec.engine.shape import decide_shape, sequence_limit
from taskvec.errors import InvalidInputError, ModelLoadError


def pick_device(device: str = "auto") -> torch.device:
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, dtype: str = "auto") -> torch.dtype:
    """The one place that decides the weights' dtype. ``auto``: fp16 on CUDA; bf16 on a CPU with native bf16
    arithmetic (AVX512-BF16 or AMX on x86, FEAT_BF16 on arm64), about 3x fp32 there at a quality cost within the
    noise of every home set (docs/precision.md); fp32 elsewhere."""
    if dtype == "auto":
        if device.type == "cuda":
            return torch.float16
        if device.type == "cpu" and cpu_has_bf16():
            return torch.bfloat16
        return torch.float32
    try:
        return {
            "float32": torch.float32,
            "fp32": torch.float32,
            "float16": torch.float16,
            "fp16": torch.float16,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
        }[dtype]
    except KeyError:
        raise InvalidInputError(
            f"Unknown dtype {dtype!r}.", field="dtype", fix="Use auto, fp32, fp16, bf16, or int8 on CPU."
        ) from None


@dataclass
class Backbone:
    """A loaded model folder and what was decided about it. ``model`` is frozen (no gradients), in eval mode."""

    name: str  # display name: the hub id, or the folder's
    path: Path
    files: ModelFiles
    profile: ModelProfile
    model: torch.nn.Module
    tokenizer: Any  # a transformers tokenizer; its pad token is always set
    device: torch.device
    dtype: torch.dtype
    quantized: bool  # int8 linear layers (dtype="int8")
    pooling: str
    normalize: bool
    max_seq_length: int
    hidden_size: int


def load_backbone(
    model: str | Path | None,
    *,
    device: str = "auto",
    dtype: str = "auto",
    max_seq_length: int | None = None,
    pooling: str | None = None,
) -> Backbone:
    """Load ``model`` (None: the bundled default; a folder; a hub id already in the local cache).

    Settings are taken in order from the arguments, the folder's sentence-transformers files, then the profile.
    ``dtype="int8"`` (CPU only) quantizes the linear layers of an fp32 model.
    """
    from transformers import AutoModel, AutoTokenizer

    name, path = resolve_model_path(model)
    files = ModelFiles.read(path)
    profile = profile_for(name, path)
    torch_device = pick_device(device)
    quantized = dtype == "int8"
    if quantized and torch_device.type != "cpu":
        raise InvalidInputError(
            f"dtype int8 is a CPU variant; the device is {torch_device}.",
            field="dtype",
            fix="Use fp16 or bf16 on accelerators, or device=cpu.",
        )
    torch_dtype = pick_dtype(torch_device, "fp32" if quantized else dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        network = AutoModel.from_pretrained(str(path), dtype=torch_dtype)
    except Exception as exc:
        raise ModelLoadError(
            f"Could not load the model in {str(path)!r}: {exc}",
            field="model",
            fix="Pass a folder saved by transformers/sentence-transformers with its tokenizer files.",
        ) from exc
    if tokenizer.pad_token is None:  # decoder models often have none; padded positions are masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    limit = sequence_limit(*_position_table(network), tokenizer.model_max_length)
    hidden = int(getattr(network.config, "hidden_size", 0) or network.get_input_embeddings().embedding_dim)
    shape = decide_shape(
        files, profile, limit=limit, hidden_size=hidden, pooling=pooling, max_seq_length=max_seq_length
    )
    network = network.to(torch_device).eval()
    network.requires_grad_(False)
    if quantized:
        network = quantize_int8(network)
    return Backbone(
        name=name,
        path=path,
        files=files,
        profile=profile,
        model=network,
        tokenizer=tokenizer,
        device=torch_device,
        dtype=torch_dtype,
        quantized=quantized,
        pooling=shape.pooling,
        normalize=shape.normalize,
        max_seq_length=shape.max_seq_length,
        hidden_size=shape.hidden_size,
    )


def _position_table(model: torch.nn.Module) -> tuple[int, int]:
    """The loaded model's positions, and how many its embeddings skip at the start of the table.

    RoBERTa-family embeddings (XLM-R, hence multilingual-e5; MPNet) number positions from ``padding_idx + 1``, so
    a table of 514 holds 512 tokens; counting the whole table would index past its end on the longest inputs.
    (``shape.shape_from_files`` knows the same from config.json, for the architectures it lists.)
    """
    positions = int(getattr(model.config, "max_position_embeddings", 512) or 512)
    for module in model.modules():
        padding_idx = getattr(module, "padding_idx", None)
        if isinstance(padding_idx, int) and isinstance(
            getattr(module, "position_embeddings", None), torch.nn.Embedding
        ):
            return positions, padding_idx + 1
    return positions, 0


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantization of every linear layer, with a scale per output channel: per-tensor scales lost
    more on STS-B (Spearman 0.801 against 0.810 per channel; fp32 0.824)."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


class CompiledBackbone:
    """The backbone under ``torch.compile`` (dynamic shapes: one graph for every batch size and length), made on
    first use and again only if the model object changes."""

    def __init__(self) -> None:
        self._pair: tuple[torch.nn.Module, torch.nn.Module] | None = None  # (model, its compiled wrapper)

    def __call__(self, model: torch.nn.Module) -> torch.nn.Module:
        if self._pair is None or self._pair[0] is not model:
            self._pair = (model, torch.compile(model, dynamic=True))
        return self._pair[1]
