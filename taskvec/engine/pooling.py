"""Pooling token states into one vector per text. Kept tiny: this is on every forward pass."""

from __future__ import annotations

import torch


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool ``hidden`` (batch, seq, dim) under ``attention_mask`` (batch, seq) by ``mode``.

    Accumulates in float32 so fp16/bf16 forwards still pool like sentence-transformers.
    """
    if mode == "cls":
        return hidden[:, 0].float()
    if mode == "mean":
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        summed = (hidden.float() * mask).sum(dim=1)
        return summed / mask.sum(dim=1).clamp(min=1e-9)
    if mode == "lasttoken":
        # Works for left and right padding: the last position whose mask is 1.
        seq_len = attention_mask.shape[1]
        positions = torch.arange(seq_len, device=attention_mask.device).expand_as(attention_mask)
        last = (positions * attention_mask).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last].float()
    raise ValueError(f"unknown pooling mode {mode!r}")
