"""What a training run depends on (``TrainConfig``, filled by the CLI, recorded in the model card) and what it
returns (``TrainResult``); the loss each task kind trains with by default; seeding."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from taskvec.errors import InvalidInputError

LOSSES_BY_KIND = {
    "retrieval": "contrastive",
    "code": "contrastive",
    "similarity": "cosent",
    "classification": "supcon",
    "clustering": "supcon",
}
LOSS_NAMES = ("contrastive", "cosent", "angle", "supcon")
AUTOCAST_CHOICES = ("auto", "bf16", "none")
MINERS = ("model", "hybrid")  # --mine-with: the base model's cosine, or the store's hybrid search (cosine + BM25)
SAVED_INFO = "taskvec_training.json"


@dataclass
class TrainConfig:
    """Everything a training run depends on. The CLI fills it; the model card records it."""

    task: str
    data: list[str]
    out: Path
    model: str | None = None
    tasks_file: Path | None = None
    query_prompt: str | None = None  # None: the task's prompt from the model profile / tasks file
    document_prompt: str | None = None
    loss: str = "auto"
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.1
    target_modules: list[str] | None = None  # None: the attention projections of the architecture
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of the steps
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 32
    max_seq_length: int | None = None
    scale: float = 20.0  # logit scale of the contrastive and CoSENT/AnglE losses
    temperature: float = 0.05  # SupCon temperature
    hard_negatives: int = 0  # per query, from the data's own negatives (or those mined, below)
    mine_negatives: int = 0  # per query, mined with the model before training: its top-ranked non-relevant docs
    mine_skip: int = 3  # ranks skipped before mining: the very top often holds unjudged relevant documents
    mine_with: str = "model"  # what ranks the corpus for mining: one of MINERS
    matryoshka_dims: list[int] = field(default_factory=list)  # also train each prefix of these sizes (Matryoshka)
    # Train through the blend the task will serve (taskvec.engine.blend): the loss and validation see
    # [sqrt(1 - s) bare(text) ; sqrt(s) adapter(prompt + text)], the bare half fixed. None: the adapter alone.
    blend_share: float | None = None
    anchor_weight: float = 0.0  # weight of the similarity-structure anchor to the base model
    anchor_data: list[str] = field(default_factory=list)  # texts for the anchor (other sources); else the batch
    anchor_batch: int = 16
    val_data: list[str] = field(default_factory=list)  # validation-only sources: never trained on
    teacher: str | None = None  # a reranker folder to distil from (retrieval, code: taskvec.train.distill)
    distill_weight: float = 1.0  # loss = w x listwise KL to the teacher + (1 - w) x contrastive
    distill_temperature: float = 0.05  # the teacher's softmax temperature (its logits are score / temperature)
    mix_temperature: float = 1.0  # source mixing: batches per source ~ size**t (1 = proportional, 0 = equal)
    val_fraction: float = 0.1
    val_max: int = 1000  # validation groups per source at most
    val_corpus: int = 1000  # distractor documents for retrieval validation
    evals_per_epoch: int = 2
    patience: int = 2  # evaluations without improvement before stopping
    seed: int = 42
    threads: int | None = None
    device: str = "auto"  # cpu, cuda, mps or auto (the first of cuda, mps, cpu)
    autocast: str = "auto"  # the training passes in bf16: auto (where the device has native bf16), bf16, none
    progress: bool = True
    command: str = ""
    overwrite: bool = False  # replace an adapter already in ``out`` (taskvec.train.output)

    def __post_init__(self) -> None:
        """Numbers no run can use are refused before anything loads (a zero batch divided by zero, a negative
        learning rate failed inside torch, zero steps silently meant "use --epochs")."""
        checks = [
            ("batch_size", self.batch_size >= 2, "at least 2 (a batch's other texts are its negatives)", "32"),
            ("lr", math.isfinite(self.lr) and self.lr > 0, "a positive number", "1e-4"),
            (
                "max_steps",
                self.max_steps is None or self.max_steps >= 1,
                "at least 1 (leave it out for --epochs)",
                "100",
            ),
            ("epochs", math.isfinite(self.epochs) and self.epochs > 0, "a positive number", "1"),
            ("val_fraction", 0 <= self.val_fraction < 1, "in [0, 1) (0: no validation split)", "0.1"),
        ]
        for name, ok, wanted, example in checks:
            if not ok:
                flag = "--" + name.replace("_", "-")
                raise InvalidInputError(
                    f"{flag} must be {wanted}, got {getattr(self, name)!r}.",
                    field=name,
                    fix=f"Pass {flag} {example}, say, or leave it out for the default.",
                )


@dataclass
class TrainResult:
    out: Path
    best_step: int
    steps: int
    validation: dict[str, Any]  # per source: base, prompt_only, adapter
    history: list[dict[str, Any]]
    wall_seconds: float
    losses: list[float]


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def autocast_bf16(choice: str, device: torch.device) -> bool:
    """Whether a run's forward passes go under bf16 autocast (``--autocast``). ``auto``: where the device has native
    bf16 (a CPU with AVX512-BF16, AMX or arm64 BF16; a CUDA GPU that supports it), where a training step costs
    0.40x its fp32 time (an AMD EPYC with avx512_bf16, 2 cores: ``benchmarks/train_step.py``,
    docs/results/performance.md). The LoRA weights, the optimiser and the losses stay fp32; what changes is the
    rounding of the backbone's products, so the same command gives a slightly different adapter with and without
    it (the model card records which ran). ``none`` reproduces fp32 runs exactly."""
    if choice not in AUTOCAST_CHOICES:
        from taskvec.errors import InvalidInputError

        raise InvalidInputError(
            f"Unknown autocast {choice!r}.", field="autocast", fix=f"Use one of {', '.join(AUTOCAST_CHOICES)}."
        )
    if choice != "auto":
        return choice == "bf16"
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        from taskvec.engine.hardware import cpu_has_bf16

        return cpu_has_bf16()
    return False
