"""LoRA layers at inference in bf16 or fp16: the rows of each adapter run through one GEMM of the usual size.

PEFT computes a LoRA layer as ``base(x) + B(A(x)) * s`` on the sub-batch of each adapter. In a bf16 forward that
cost ~22% of the pass (docs/results/performance.md): PEFT keeps the adapter's weights in fp32, so every LoRA layer
gathers its rows, casts them up, runs two thin fp32 GEMMs and scatters the result back. Here, for the rows of
one adapter (``BASE_ADAPTER`` rows run the base weight alone):

* many tokens: the adapter is merged for this one call, ``W + s * B @ A``, computed in fp32 and rounded once to
  the forward's dtype, then one GEMM as the base layer would run. The merge costs ``r * in * out``
  multiply-adds per layer and call, next to nothing beside a batch of documents, and nothing is kept: four
  adapters take no more memory than one;
* few tokens (a query or two): the factored form ``base(x) + (x A^T) (s B)^T``, which is cheaper below
  ``in * out / (in + out)`` tokens (192 for a 384x384 projection), where the merge would cost more than it saves.
  ``A`` and ``s B`` are kept in the forward's dtype (a rank-r sliver: 24 KB per 384x384 layer in bf16), so the
  side path is two small GEMMs with no casts: on a one-query pass every extra operator counts.

A layer serves its rows in runs of one adapter each, so ``Encoder.forward`` orders a mixed batch by adapter
first (``adapter_order``). Only plain LoRA on ``nn.Linear`` is taken over; other variants (DoRA, LoRA bias,
GPT-2's transposed ``Conv1D``) keep PEFT's forward. fp32 forwards keep PEFT's forward too, so fp32 vectors stay
what they were, bit for bit.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed batch


def install(model: torch.nn.Module) -> int:
    """Give every eligible PEFT LoRA linear layer of ``model`` the fused forward (again after each adapter load:
    a layer with an adapter it cannot fuse goes back to PEFT's). Returns the number of fused layers."""
    from peft.tuners.lora import Linear as LoraLinear

    fused = 0
    for module in model.modules():
        if not isinstance(module, LoraLinear):
            continue
        if _eligible(module):
            module.forward = types.MethodType(_fused_forward, module)
            fused += 1
        elif "forward" in module.__dict__:
            del module.forward
    return fused


def _eligible(layer: Any) -> bool:
    return (
        isinstance(layer.base_layer, torch.nn.Linear)
        and not getattr(layer, "fan_in_fan_out", False)
        and not getattr(layer, "lora_variant", {})
        and all(layer.lora_B[name].bias is None for name in layer.lora_B)
    )


def adapter_order(names: Sequence[str]) -> list[int] | None:
    """Row order that puts the rows of each adapter side by side (first appearance first, stable within); None
    when they already are."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        first.setdefault(name, i)
    order = sorted(range(len(names)), key=lambda i: first[names[i]])
    return None if order == list(range(len(names))) else order


def runs(names: Sequence[str]) -> list[tuple[str, int, int]]:
    """(adapter, start, stop) of each run of equal adapter names."""
    out: list[tuple[str, int, int]] = []
    start = 0
    for i in range(1, len(names) + 1):
        if i == len(names) or names[i] != names[start]:
            out.append((names[start], start, i))
            start = i
    return out


def _fused_forward(layer: Any, x: torch.Tensor, *args: Any, adapter_names: Sequence[str] | None = None, **kw: Any):
    if adapter_names is None or layer.disable_adapters or layer.merged or args or kw:
        return type(layer).forward(layer, x, *args, adapter_names=adapter_names, **kw)
    parts = [_rows(layer, x[a:b], name) for name, a, b in runs(adapter_names)]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _rows(layer: Any, x: torch.Tensor, name: str) -> torch.Tensor:
    """The layer's output for rows ``x`` that all use adapter ``name``."""
    base = layer.base_layer
    weight, bias = base.weight, base.bias
    if name == BASE_ADAPTER or name not in layer.lora_A:
        return F.linear(x, weight, bias)
    a, b, scale = layer.lora_A[name].weight, layer.lora_B[name].weight, layer.scaling[name]
    out_features, in_features = weight.shape
    tokens = x.numel() // in_features
    if tokens * (in_features + out_features) > in_features * out_features:
        merged = torch.addmm(weight.float(), b.float(), a.float(), alpha=scale).to(weight.dtype)
        return F.linear(x, merged, bias)
    low_a, low_b = _low_precision(layer, name, weight.dtype)
    base = F.linear(x, weight, bias)
    down = F.linear(x, low_a)
    return torch.addmm(base.reshape(-1, out_features), down.reshape(-1, down.shape[-1]), low_b).view(base.shape)


def _low_precision(layer: Any, name: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``A`` and ``(s B)^T`` of adapter ``name`` in ``dtype``, made once per layer and adapter."""
    cache = layer.__dict__.setdefault("_taskvec_low_precision", {})
    key = (name, dtype)
    if key not in cache:
        a, b, scale = layer.lora_A[name].weight, layer.lora_B[name].weight, layer.scaling[name]
        cache[key] = (a.detach().to(dtype), (b.detach().float() * scale).t().to(dtype).contiguous())
    return cache[key]
