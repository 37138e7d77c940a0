"""What a training run depends on (``TrainConfig``, filled by the CLI, recorded in the model card) and what it
returns (``TrainResult``); the loss each task kind trains with by default; seeding."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

LOSSES_BY_KIND = {
    "retrieval": "contrastive",
    "code": "contrastive",
    "similarity": "cosent",
    "classification": "supcon",
    "clustering": "supcon",
}
LOSS_NAMES = ("contrastive", "cosent", "angle", "supcon")
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
    matryoshka_dims: list[int] = field(default_factory=list)  # also train each prefix of these sizes (Matryoshka)
    anchor_weight: float = 0.0  # weight of the similarity-structure anchor to the base model
    anchor_data: list[str] = field(default_factory=list)  # texts for the anchor (other sources); else the batch
    anchor_batch: int = 16
    val_data: list[str] = field(default_factory=list)  # validation-only sources: never trained on
    mix_temperature: float = 1.0  # source mixing: batches per source ~ size**t (1 = proportional, 0 = equal)
    val_fraction: float = 0.1
    val_max: int = 1000  # validation groups per source at most
    val_corpus: int = 1000  # distractor documents for retrieval validation
    evals_per_epoch: int = 2
    patience: int = 2  # evaluations without improvement before stopping
    seed: int = 42
    threads: int | None = None
    device: str = "auto"  # cpu, cuda, mps or auto (the first of cuda, mps, cpu)
    progress: bool = True
    command: str = ""


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
