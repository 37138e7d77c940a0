"""The optimisation step both trainers share (embedding adapters in ``trainer.py``, rerankers in ``rerank.py``):
AdamW over the trainable parameters, a linear warm-up then a linear decay to zero, and gradients clipped to norm
1.0 (LoRA on a frozen backbone trains at learning rates where one outlier batch can otherwise undo an epoch)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Optimisation:
    """``Optimisation(params, lr=..., weight_decay=..., total_steps=..., warmup=0.1).step(loss)``."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        *,
        lr: float,
        weight_decay: float,
        total_steps: int,
        warmup: float,
        clip_norm: float = 1.0,
    ) -> None:
        self.params = list(params)
        self.clip_norm = clip_norm
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay)
        warm = max(1, int(total_steps * warmup))
        decay = max(total_steps - warm, 1)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min((s + 1) / warm, max(0.0, (total_steps - s) / decay))
        )

    def step(self, loss: torch.Tensor) -> None:
        """One update from ``loss``: gradients from scratch, clipped, then the learning rate moves on."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm)
        self.optimizer.step()
        self.schedule.step()
