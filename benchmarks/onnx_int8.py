"""ONNX Runtime's int8 path for the bare model, as a variant of benchmarks/encode.py (``--variants onnx-int8``).

Issue 19 asks whether ONNX Runtime's dynamic int8 quantization (its MLAS kernels use VNNI) beats torch's dynamic
quantization, the engine's opt-in ``dtype="int8"``, by a clear margin; only then would it be worth an export step,
a dependency and one graph per adapter. This exports the backbone (fp32, dynamic batch and length) with
``torch.onnx.export``, quantizes its weights per channel to int8 with ``onnxruntime.quantization.quantize_dynamic``,
and encodes with the same tokenizer, batches (32, longest first), mean pooling and normalisation as the engine.

It needs ``pip install onnx onnxruntime`` (not dependencies of taskvec: nothing outside this benchmark uses them).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def int8_encoder(model_dir: Path, folder: Path, max_seq_length: int, threads: int) -> Callable[[list[str]], np.ndarray]:
    """A function texts -> unit vectors (n, dim) running the backbone quantized to int8 in ONNX Runtime."""
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise SystemExit("--variants onnx-int8 needs ONNX Runtime: pip install onnx onnxruntime") from exc
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    exported, quantized = folder / "model.onnx", folder / "model.int8.onnx"
    _export(AutoModel.from_pretrained(str(model_dir)).eval(), tokenizer, exported, torch)
    quantize_dynamic(str(exported), str(quantized), weight_type=QuantType.QInt8, per_channel=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(quantized), options, providers=["CPUExecutionProvider"])

    def encode(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), session.get_outputs()[0].shape[-1] or 0), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), 32):
            rows = order[start : start + 32]
            feed: dict[str, Any] = tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=max_seq_length, return_tensors="np"
            )
            hidden = session.run(None, {k: feed[k].astype(np.int64) for k in INPUTS})[0]
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    return encode


def _export(model: Any, tokenizer: Any, path: Path, torch: Any) -> None:
    class LastHiddenState(torch.nn.Module):  # plain tensors in and out: what the exporter traces
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids, attention_mask, token_type_ids).last_hidden_state

    sample = tokenizer(["an example", "a second, longer example sentence"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    torch.onnx.export(
        LastHiddenState(),
        tuple(sample[k] for k in INPUTS),
        str(path),
        input_names=list(INPUTS),
        output_names=["last_hidden_state"],
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,  # the TorchScript exporter: the dynamo one needs onnxscript as well
    )
