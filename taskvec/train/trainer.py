"""Training one LoRA adapter on the frozen backbone for one task, with that task's prompts on every input.

The loop, in order: read the sources and carve a validation split from each -> wrap the backbone in PEFT LoRA
(only the adapter trains) -> batches per source, mixed across sources -> task loss (+ an optional anchor that keeps
similarity structure near the base model on texts from elsewhere) -> validation at checkpoints, keeping the best
adapter and stopping early when it stops improving -> save the PEFT folder and its model card.

Everything the result depends on (seed, data order, LoRA init, dropout) is drawn from seeded generators, so the
same command on the same machine gives the same adapter. Imports: torch, transformers, peft, numpy, tqdm, and
scipy/scikit-learn for the harness's metrics (validation scores as ``taskvec eval`` does); no lancedb, no mcp.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from taskvec import metrics
from taskvec.engine import forward
from taskvec.engine.fingerprint import fingerprint_folder
from taskvec.engine.loading import load_backbone, pick_device
from taskvec.engine.model_files import resolve_model_path
from taskvec.engine.profiles import profile_for
from taskvec.engine.tasks import Task, TaskRegistry
from taskvec.engine.tokenize import TextTokenizer
from taskvec.errors import DataError, InvalidInputError, ModelLoadError
from taskvec.train import losses, validation
from taskvec.train.data import (
    Dataset,
    LabelledSet,
    PairSet,
    ScoredSet,
    carve_validation,
    for_kind,
    read_source,
)

LOSSES_BY_KIND = {
    "retrieval": "contrastive",
    "code": "contrastive",
    "similarity": "cosent",
    "classification": "supcon",
    "clustering": "supcon",
}
LOSS_NAMES = ("contrastive", "cosent", "angle", "supcon")
# LoRA on the attention projections, by architecture family: BERT-style names, then the q/k/v/o_proj family.
_ATTENTION_NAMES = (("query", "key", "value", "attention.output.dense"), ("q_proj", "k_proj", "v_proj", "o_proj"))
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
        self.tokens = TextTokenizer(backbone.tokenizer, self.max_seq_length)
        self.padding = forward.Padding.for_tokenizer(backbone.tokenizer, device, self.max_seq_length)
        self.spec = forward.VectorSpec(self.pooling, normalize=True)
        self._teacher_cache: dict[str, torch.Tensor] = {}

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def _forward(self, texts: Sequence[str]) -> torch.Tensor:
        ids, _ = self.tokens(list(texts))
        input_ids, mask = self.padding(ids)
        return forward.embed(self.model, input_ids, mask, self.spec)

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


# ------------------------------------------------------------------------------------------------ batches
@dataclass
class Batch:
    source: int
    items: list[Any]


def _pair_batches(data: PairSet, batch_size: int, rng: random.Random) -> list[list[tuple[str, str]]]:
    pairs = [(q, d) for q, docs in data.relevant.items() for d in docs]
    rng.shuffle(pairs)
    return [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]


def _scored_batches(data: ScoredSet, batch_size: int, rng: random.Random) -> list[list[int]]:
    idx = list(range(len(data)))
    rng.shuffle(idx)
    return [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]


def _label_batches(data: LabelledSet, batch_size: int, rng: random.Random) -> list[list[int]]:
    """Label-balanced batches: labels take turns, so rare labels still get partners for the contrastive loss."""
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(i)
    queues = {lab: [] for lab in by_label}

    def draw(label: str) -> int:
        if not queues[label]:
            queues[label] = by_label[label][:]
            rng.shuffle(queues[label])
        return queues[label].pop()

    labels = sorted(by_label)
    per_batch = max(2, min(len(labels), batch_size // 2))  # at least two texts per label in a batch
    batches = []
    for _ in range(math.ceil(len(data) / batch_size)):
        chosen = rng.sample(labels, per_batch) if per_batch < len(labels) else labels
        batches.append([draw(chosen[j % len(chosen)]) for j in range(batch_size)])
    return batches


def plan_epoch(sources: Sequence[Dataset], cfg: TrainConfig, rng: random.Random) -> list[Batch]:
    """One epoch's batches: each source batched on its own, then interleaved at random.

    With ``mix_temperature`` t < 1 a small source gets more batches than its share (sizes weighted by size**t), so
    one large set does not drown the others; the epoch keeps its total number of batches.
    """
    per_source = []
    for s in sources:
        if isinstance(s, PairSet):
            per_source.append(_pair_batches(s, cfg.batch_size, rng))
        elif isinstance(s, ScoredSet):
            per_source.append(_scored_batches(s, cfg.batch_size, rng))
        else:
            per_source.append(_label_batches(s, cfg.batch_size, rng))
    total = sum(len(b) for b in per_source)
    weights = [len(s) ** cfg.mix_temperature for s in sources]
    plan: list[Batch] = []
    for i, batches in enumerate(per_source):
        want = max(1, round(total * weights[i] / sum(weights)))
        if not batches:
            continue
        while len(batches) < want:  # cycle a small source
            batches = batches + batches[: want - len(batches)]
        plan.extend(Batch(i, b) for b in batches[:want])
    rng.shuffle(plan)
    return plan


# ------------------------------------------------------------------------------------------------ training
class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        self.started = time.time()  # the wall time on record covers the whole run: loading, mining, training
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        set_seed(cfg.seed)
        self.model_name, self.model_path = resolve_model_path(cfg.model)
        self.profile = profile_for(self.model_name, self.model_path)
        registry = TaskRegistry.from_profile(self.profile, cfg.tasks_file)
        task = registry[cfg.task]
        if cfg.query_prompt is not None:
            task = task.with_prompts(cfg.query_prompt, cfg.document_prompt)
        elif cfg.document_prompt is not None:
            task = task.with_prompts(task.query_prompt, cfg.document_prompt)
        self.task: Task = task.without_adapter()
        self.kind = task.kind
        self.loss_name = LOSSES_BY_KIND[self.kind] if cfg.loss == "auto" else cfg.loss
        if self.loss_name not in LOSS_NAMES:
            raise InvalidInputError(
                f"Unknown loss {cfg.loss!r}.", field="loss", fix=f"Use one of {', '.join(LOSS_NAMES)} or auto."
            )
        self.train_sets: list[Dataset] = []
        self.val_sets: list[Dataset] = []
        for spec in cfg.data:
            data = for_kind(read_source(spec), self.kind)
            train, val = carve_validation(data, cfg.val_fraction, cfg.val_max, seed=cfg.seed)
            if not len(train):
                raise DataError(
                    f"{spec}: nothing is left to train on ({len(data)} items, {len(val)} held out for validation).",
                    field="data",
                    fix="Add data to this source, or hold out less of it (--val-fraction, --val-max).",
                )
            self.train_sets.append(train)
            self.val_sets.append(val)
        for spec in cfg.val_data:  # held-out sources steer early stopping towards what generalises
            data = for_kind(read_source(spec), self.kind)
            _, val = carve_validation(data, 1.0, cfg.val_max, seed=cfg.seed)
            val.name = f"{data.name}[held-out]"
            self.val_sets.append(val)
        self.anchor_texts = _anchor_texts(cfg.anchor_data, cfg.seed)
        self.net = EmbeddingModel(cfg, pick_device(cfg.device))
        self.pooling, self.max_seq_length = self.net.pooling, self.net.max_seq_length
        if cfg.mine_negatives:
            for data in self.train_sets:
                if isinstance(data, PairSet):
                    self.mine_negatives(data)

    def mine_negatives(self, data: PairSet) -> None:
        """Hard negatives by the model itself (prompts on, no adapter yet): per training query, the best-ranked
        documents of the whole corpus that are not judged relevant, after skipping the first ``mine_skip`` ranks.

        Caveat: unjudged relevant documents exist in every real set; skipping the top ranks keeps most of them out
        of the negatives. Documents are cut to the training length, as the loss will see them.
        """
        cfg = self.cfg
        qids = sorted(data.relevant)
        doc_ids = sorted(data.corpus)
        qv = self.net.embed(self.q([data.queries[q] for q in qids]), adapter=False)
        dv = self.net.embed(self.d([data.corpus[d] for d in doc_ids]), adapter=False)
        scores = qv @ dv.T
        want = cfg.mine_skip + cfg.mine_negatives + max(len(v) for v in data.relevant.values())
        top = np.argsort(-scores, axis=1, kind="stable")[:, :want]
        for row, q in enumerate(qids):
            ranked = [doc_ids[j] for j in top[row] if doc_ids[j] not in data.relevant[q]]
            data.negatives[q] = ranked[cfg.mine_skip : cfg.mine_skip + cfg.mine_negatives]

    # -------------------------------------------------------------------------------------- prompts
    def q(self, texts: Sequence[str]) -> list[str]:
        return [self.task.query_prompt + t for t in texts]

    def d(self, texts: Sequence[str]) -> list[str]:
        return [self.task.document_prompt + t for t in texts]

    # ----------------------------------------------------------------------------------------- loss
    def batch_loss(self, batch: Batch) -> tuple[torch.Tensor, list[str]]:
        """The task loss of one batch, and the unprompted texts it saw (for the anchor when there is no anchor set)."""
        data = self.train_sets[batch.source]
        cfg = self.cfg
        if isinstance(data, PairSet):
            qids = [q for q, _ in batch.items]
            dids = [d for _, d in batch.items]
            per_query = cfg.hard_negatives or cfg.mine_negatives
            if per_query:
                for q in dict.fromkeys(qids):
                    dids += [n for n in data.negatives.get(q, [])[:per_query] if n not in dids]
            q_texts = [data.queries[q] for q in qids]
            d_texts = [data.corpus[d] for d in dids]
            qv = self.net.embed_train(self.q(q_texts))
            dv = self.net.embed_train(self.d(d_texts))
            relevant = [set(data.relevant[q]) for q in qids]
            dev = self.net.device
            same = torch.tensor([[d in rel for d in dids] for rel in relevant], dtype=torch.bool, device=dev)
            target = torch.arange(len(qids), device=dev)
            loss = losses.in_batch_contrastive(qv, dv, target, scale=cfg.scale, same_as_positive=same)
            return loss, q_texts + d_texts
        if isinstance(data, ScoredSet):
            rows = [data.pairs[i] for i in batch.items]
            a = self.net.embed_train(self.q([r[0] for r in rows]))
            b = self.net.embed_train(self.d([r[1] for r in rows]))
            scores = torch.tensor([r[2] for r in rows], dtype=torch.float32, device=self.net.device)
            fn = losses.angle if self.loss_name == "angle" else losses.cosent
            return fn(a, b, scores, scale=cfg.scale), [r[0] for r in rows] + [r[1] for r in rows]
        texts = [data.texts[i] for i in batch.items]
        names = sorted(set(data.labels))
        labels = torch.tensor([names.index(data.labels[i]) for i in batch.items], device=self.net.device)
        v = self.net.embed_train(self.d(texts))
        return losses.supervised_contrastive(v, labels, temperature=cfg.temperature), texts

    def anchor_loss(self, batch_texts: list[str], rng: random.Random) -> torch.Tensor:
        """Keep the similarity structure of (other sources') texts near the base model's, unprompted."""
        texts = rng.sample(self.anchor_texts, min(self.cfg.anchor_batch, len(self.anchor_texts)))
        if not texts:
            texts = batch_texts[: max(self.cfg.anchor_batch, 2)]
        prompted = [
            (
                self.task.query_prompt
                if (self.kind in ("retrieval", "code") and i % 2 == 0)
                else self.task.document_prompt
            )
            + t
            for i, t in enumerate(texts)
        ]
        # No dropout here: the teacher has none, and a noisy student would make the anchor pull (weight x its noise
        # floor) even where the adapter has not moved. Without it the anchor is exactly 0 at step 0.
        student = self.net.embed_train(prompted, dropout=False)
        return losses.similarity_anchor(student, self.net.teacher(texts))

    # ----------------------------------------------------------------------------------- validation
    def validate(self, mode: str = "adapter") -> dict[str, float]:
        """The validation figure per source. ``mode``: ``adapter``, ``prompt_only`` (adapter off) or ``base``
        (adapter off, no prompt: the model as shipped, the figure each adapter must beat)."""
        adapter = mode == "adapter"
        qp = self.task.query_prompt if mode != "base" else ""
        dp = self.task.document_prompt if mode != "base" else ""
        out = {}
        for val in self.val_sets:
            if len(val):  # --val-fraction 0 leaves nothing to score
                out[val.name] = round(self._validate_one(val, qp, dp, adapter), 5)
        return out

    def _validate_one(self, val: Dataset, qp: str, dp: str, adapter: bool) -> float:
        embed = self.net.embed
        if isinstance(val, PairSet):
            qids = sorted(val.relevant)
            docs = sorted({d for q in qids for d in val.relevant[q]})
            rng = random.Random(self.cfg.seed)
            others = sorted(set(val.corpus) - set(docs))
            docs += rng.sample(others, min(self.cfg.val_corpus, len(others)))
            qv = embed([qp + val.queries[q] for q in qids], adapter=adapter)
            dv = embed([dp + val.corpus[d] for d in docs], adapter=adapter)
            return metrics.search_ndcg(qv, dv, docs, [val.relevant[q] for q in qids])
        if isinstance(val, ScoredSet):
            a = embed([qp + p[0] for p in val.pairs], adapter=adapter)
            b = embed([dp + p[1] for p in val.pairs], adapter=adapter)
            return validation.spearman([p[2] for p in val.pairs], (a * b).sum(1))
        v = embed([dp + t for t in val.texts], adapter=adapter)
        if self.kind == "clustering":
            return validation.clustering_v_measure(v, val.labels, seed=self.cfg.seed)
        return validation.few_shot_accuracy(v, val.labels, seed=self.cfg.seed)

    # ---------------------------------------------------------------------------------------- train
    def run(self) -> TrainResult:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        cfg = self.cfg
        rng = random.Random(cfg.seed)
        plan_probe = plan_epoch(self.train_sets, cfg, random.Random(cfg.seed))
        steps_per_epoch = len(plan_probe)
        total = cfg.max_steps or max(1, math.ceil(steps_per_epoch * cfg.epochs))
        eval_every = max(1, steps_per_epoch // max(cfg.evals_per_epoch, 1))
        params = self.net.trainable_parameters()
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        warm = max(1, int(total * cfg.warmup))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(total - warm, 1)))
        )
        base = self.validate("base")
        # With empty prompts (MiniLM's retrieval, similarity, classification) prompt-only is the base: skip the rerun.
        unprompted = not (self.task.query_prompt or self.task.document_prompt)
        validation: dict[str, Any] = {
            "base": base,
            "prompt_only": dict(base) if unprompted else self.validate("prompt_only"),
        }
        best_score = _mean(validation["prompt_only"])
        best_state = {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.net.model).items()}
        best_step, bad, step = 0, 0, 0
        history: list[dict[str, Any]] = [{"step": 0, **validation["prompt_only"], "mean": best_score}]
        loss_log: list[float] = []
        bar = tqdm(total=total, disable=not cfg.progress, desc=f"train {cfg.task}", unit="step")
        plan: list[Batch] = []
        stop = False
        while step < total and not stop:
            if not plan:
                plan = plan_epoch(self.train_sets, cfg, rng)
            batch = plan.pop(0)
            loss, seen = self.batch_loss(batch)
            if cfg.anchor_weight > 0:
                loss = loss + cfg.anchor_weight * self.anchor_loss(seen, rng)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            loss_log.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(loss_log[-20:]):.4f}", best=f"{best_score:.4f}")
            if step % eval_every == 0 or step == total:
                figures = self.validate("adapter")
                score = _mean(figures)
                history.append({"step": step, **figures, "mean": score, "loss": float(np.mean(loss_log[-eval_every:]))})
                if score > best_score or not figures:  # no validation data: the last step is the result
                    best_score, best_step, bad = score, step, 0
                    best_state = {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.net.model).items()}
                else:
                    bad += 1
                    stop = bad >= cfg.patience
        bar.close()
        set_peft_model_state_dict(self.net.model, best_state)
        validation["adapter"] = self.validate("adapter") if best_step else dict(validation["prompt_only"])
        wall = time.time() - self.started
        result = TrainResult(cfg.out, best_step, step, validation, history, wall, loss_log)
        self.save(result)
        return result

    # ----------------------------------------------------------------------------------------- save
    def save(self, result: TrainResult) -> None:
        from taskvec.train.model_card import write_model_card

        out = Path(self.cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        self.net.model.peft_config["default"].base_model_name_or_path = self.model_name
        self.net.model.save_pretrained(str(out))
        info = self.describe(result)
        (out / SAVED_INFO).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
        write_model_card(out, info)

    def describe(self, result: TrainResult) -> dict[str, Any]:
        cfg = asdict(self.cfg)
        cfg["out"] = str(cfg["out"])
        cfg["tasks_file"] = str(cfg["tasks_file"]) if cfg["tasks_file"] else None
        cfg.pop("progress", None)
        cfg.pop("command", None)
        return {
            "task": self.task.name,
            "kind": self.kind,
            "base_model": self.model_name,
            "base_model_fingerprint": fingerprint_folder(self.model_path),
            "query_prompt": self.task.query_prompt,
            "document_prompt": self.task.document_prompt,
            "pooling": self.pooling,
            "max_seq_length": self.max_seq_length,
            "loss": self.loss_name,
            "target_modules": self.net.target_modules,
            "trainable_parameters": sum(p.numel() for p in self.net.trainable_parameters()),
            "data": [
                {"source": spec, "name": tr.name, "train": len(tr), "validation": len(va), "licence": tr.licence}
                for spec, tr, va in zip(
                    self.cfg.data, self.train_sets, self.val_sets[: len(self.train_sets)], strict=True
                )
            ],
            "anchor_data": list(self.cfg.anchor_data),
            "val_data": list(self.cfg.val_data),
            "hyperparameters": cfg,
            "validation": result.validation,
            "history": result.history,
            "best_step": result.best_step,
            "steps": result.steps,
            "wall_seconds": round(result.wall_seconds, 1),
            "cpu_seconds": round(_cpu_seconds(), 1),
            "device": str(self.net.device) if self.net.device.type != "cuda" else torch.cuda.get_device_name(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}; load average {os.getloadavg()[1]:.1f} (5 min) at the end",
            "command": self.cfg.command,
            "test": {},
        }


def _cpu_seconds() -> float:
    """User + system CPU time of this process: the cost of a run, whatever else shares the machine."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _mean(figures: dict[str, float]) -> float:
    return float(np.mean(list(figures.values()))) if figures else 0.0


def _anchor_texts(specs: Sequence[str], seed: int, per_source: int = 4000, max_chars: int = 120) -> list[str]:
    """Plain texts from each anchor source (any format), a seeded sample of at most ``per_source`` each, cut to
    ``max_chars``: the anchor is about the shape of the space, and long documents would only cost time."""
    rng = random.Random(seed)
    texts: list[str] = []
    for spec in specs:
        data = read_source(spec)
        if isinstance(data, PairSet):
            pool_ = list(data.queries.values()) + list(data.corpus.values())
        elif isinstance(data, ScoredSet):
            pool_ = [t for a, b, _ in data.pairs for t in (a, b)]
        else:
            pool_ = list(data.texts)
        pool_ = sorted(set(pool_))
        texts += [t[:max_chars] for t in rng.sample(pool_, min(per_source, len(pool_)))]
    return texts


def train(cfg: TrainConfig, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train and save one adapter; returns its figures. ``log`` receives one-line progress notes."""
    trainer = Trainer(cfg)
    if log:
        sizes = ", ".join(
            f"{t.name}: {len(t)} train / {len(v)} val"
            for t, v in zip(trainer.train_sets, trainer.val_sets, strict=False)  # held-out sets come after
        )
        log(
            f"task {trainer.task.name} ({trainer.kind}, loss {trainer.loss_name}); prompts {trainer.task.query_prompt!r} / {trainer.task.document_prompt!r}; {sizes}"
        )
    return trainer.run()
