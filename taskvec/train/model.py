"""The network a training run optimises: the frozen backbone wrapped in PEFT LoRA, embedding texts through the
engine's own loading, tokenizer and forward pass, so a trained adapter serves exactly as it trained."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from taskvec.engine import forward
from taskvec.engine.loading import load_backbone
from taskvec.engine.tokenize import TextTokenizer
from taskvec.errors import ModelLoadError
from taskvec.train.config import TrainConfig, autocast_bf16

# LoRA on the attention projections, by architecture family: BERT-style names, then the q/k/v/o_proj family.
_ATTENTION_NAMES = (("query", "key", "value", "attention.output.dense"), ("q_proj", "k_proj", "v_proj", "o_proj"))


def default_target_modules(model: torch.nn.Module) -> list[str]:
    names = {n for n, _ in model.named_modules()}
    for family in _ATTENTION_NAMES:
        if any(n.endswith(family[0]) for n in names):
            return list(family)
    raise ModelLoadError(
        "Cannot tell this architecture's attention projections.",
        field="target_modules",
        fix="Pass --target-modules with the names of the modules LoRA should adapt.",
    )


class EmbeddingModel:
    """The backbone with its LoRA adapter, embedding texts exactly as the encoder does: the same loading,
    tokenizer and forward pass (``taskvec.engine.forward.embed``), always normalised, since every loss compares
    directions. The teacher (adapter off, no prompt) is the base model the adapter must beat and stay near."""

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        from peft import LoraConfig, TaskType, get_peft_model

        # fp32 on every device: the adapter is saved and served in fp32, and CPU runs must reproduce GPU choices.
        # Loaded on the CPU, as before the split: the LoRA layers are made there, then the whole model moves.
        backbone = load_backbone(cfg.model, device="cpu", dtype="fp32", max_seq_length=cfg.max_seq_length)
        self.target_modules = cfg.target_modules or default_target_modules(backbone.model)
        lora = LoraConfig(
            task_type=TaskType.FEATURE_EXTRACTION,
            r=cfg.rank,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=self.target_modules,
            bias="none",
        )
        self.model = get_peft_model(backbone.model, lora).to(device)
        self.device = device
        self.pooling = backbone.pooling
        self.max_seq_length = backbone.max_seq_length
        self.dimension = backbone.hidden_size
        self.tokens = TextTokenizer(backbone.tokenizer, self.max_seq_length)
        self.padding = forward.Padding.for_tokenizer(backbone.tokenizer, device, self.max_seq_length)
        self.spec = forward.VectorSpec(self.pooling, normalize=True)
        self.autocast = autocast_bf16(cfg.autocast, device)
        self._teacher_cache: dict[str, torch.Tensor] = {}

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def _forward(self, texts: Sequence[str]) -> torch.Tensor:
        ids, _ = self.tokens(list(texts))
        input_ids, mask = self.padding(ids)
        # Under bf16 autocast the products run in bf16; the vectors come back fp32 for the losses.
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            return forward.embed(self.model, input_ids, mask, self.spec).float()

    def embed_train(self, texts: Sequence[str], *, dropout: bool = True) -> torch.Tensor:
        """Student embeddings with gradients. ``dropout=False`` runs the pass in eval mode (no LoRA or backbone
        dropout) while still tracking gradients: what the anchor needs to compare with the clean teacher."""
        self.model.train(dropout)
        return self._forward(texts)

    @torch.no_grad()
    def embed(self, texts: Sequence[str], *, adapter: bool = True, batch_size: int = 64) -> np.ndarray:
        """Eval-mode embeddings, longest first for less padding; ``adapter=False`` gives the base model."""
        self.model.eval()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), 0), dtype=np.float32)
        chunks = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            if adapter:
                chunks.append(self._forward([texts[i] for i in idx]).cpu().numpy())
            else:
                with self.model.disable_adapter():
                    chunks.append(self._forward([texts[i] for i in idx]).cpu().numpy())
        if chunks:
            stacked = np.concatenate(chunks)
            out = np.zeros_like(stacked)
            out[order] = stacked
        return out

    @torch.no_grad()
    def teacher(self, texts: Sequence[str]) -> torch.Tensor:
        """Base-model embeddings of the unprompted texts, cached: the anchor's fixed reference."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._teacher_cache))
        if missing:
            vecs = self.embed(missing, adapter=False)
            for t, v in zip(missing, vecs, strict=True):
                self._teacher_cache[t] = torch.from_numpy(v)
        return torch.stack([self._teacher_cache[t] for t in texts]).to(self.device)
