"""``taskvec train --task rerank``: a rerank adapter (LoRA + scoring head) on the frozen backbone, trained listwise
over the first stage's own candidates.

Why this shape: a cross-encoder learnt from scratch on SciFact's 919 training pairs reranks the bi-encoder's top 50
far worse than the bi-encoder ranks them (nDCG@10 0.239 against 0.646). So the score is residual: the first stage's
cosine (an embedding task, ``retrieval`` by default, adapter included) plus the head's output, the head starting at
zero. At step 0 the reranker *is* the one-stage pipeline; training only moves it from there, and validation keeps
the best checkpoint, step 0 included.

The loop: read the sources (training splits only) and carve a validation split by query -> the first stage ranks
each source's corpus for every query (the encoder's own path: the serving first stage) -> per step, each query's
positive with ``group - 1`` negatives drawn from its top ``candidates`` -> softmax cross-entropy over
``scale * (cosine + head)`` -> validation: nDCG@10 of reranking each held-out query's top ``val_candidates``.
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
from taskvec.engine.fingerprint import fingerprint_folder
from taskvec.engine.loading import load_backbone
from taskvec.engine.rerank import HEAD_FILE, RERANK_CONFIG, PairTokenizer, ScoreHead, pair_states
from taskvec.errors import DataError
from taskvec.train.batches import Batch, plan_epoch
from taskvec.train.config import SAVED_INFO, autocast_bf16, set_seed
from taskvec.train.data import PairSet, carve_validation, for_kind, read_source
from taskvec.train.model import default_target_modules
from taskvec.train.optimizer import Optimisation

VALIDATION_PAIRS = 64  # pairs per forward pass when validating (queries x depth)


@dataclass
class RerankConfig:
    """Everything a rerank training run depends on; the model card records it."""

    data: list[str]
    out: Path
    model: str | None = None
    tasks_file: Path | None = None
    first_stage: str = "retrieval"  # the embedding task whose cosine the head is added to
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.1
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup: float = 0.1
    epochs: float = 2.0
    max_steps: int | None = None
    batch_size: int = 4  # queries per step
    mix_temperature: float = 1.0  # source mixing as in embedding training (taskvec.train.batches.plan_epoch)
    group: int = 8  # documents per query in the listwise loss: the positive and group - 1 negatives
    candidates: int = 50  # first-stage depth negatives are drawn from
    mine_skip: int = 0  # top first-stage ranks never used as negatives (unjudged relevant documents)
    max_seq_length: int = 256  # tokens per (query, document) pair
    scale: float = 20.0  # softmax logit scale: the cosine's range
    autocast: str = "auto"  # the training passes in bf16: auto (where native), bf16, none (taskvec.train.config)
    val_fraction: float = 0.15
    val_max: int = 100
    val_candidates: int = 20
    evals_per_epoch: int = 2
    patience: int = 2
    seed: int = 42
    threads: int | None = None
    device: str = "cpu"
    progress: bool = True
    command: str = ""
    val_data: list[str] = field(default_factory=list)  # validation-only sources, never trained on


@dataclass
class Ranked:
    """One source with its first stage: per query, the top candidates and the cosine of any (query, doc)."""

    data: PairSet
    doc_ids: list[str]
    query_vectors: dict[str, np.ndarray]
    doc_vectors: np.ndarray  # in doc_ids order
    top: dict[str, list[int]]  # query id -> indices into doc_ids, best first
    position: dict[str, int] = field(init=False)  # doc id -> its index in doc_ids

    def __post_init__(self) -> None:
        self.position = {d: i for i, d in enumerate(self.doc_ids)}

    def cosine(self, query: str, docs: Sequence[int]) -> np.ndarray:
        return self.doc_vectors[list(docs)] @ self.query_vectors[query]


def first_stage(encoder: Any, task: Any, data: PairSet, depth: int) -> Ranked:
    """Rank ``data``'s whole corpus for each of its queries with the encoder's first stage (cosine, exact).

    Vectors go through the checks' disk cache (``$TASKVEC_CHECKS_CACHE``, keyed by space and texts), so a second
    run with the same first stage encodes nothing."""
    from taskvec.eval.checks import Runner

    cache = os.environ.get("TASKVEC_CHECKS_CACHE", "/tmp/taskvec_checks_cache")
    runner = Runner(encoder, task, Path(cache) if cache else None)
    doc_ids = sorted(data.corpus)
    queries = sorted(data.relevant)
    dv = runner.embed([data.corpus[d] for d in doc_ids], "document")
    qv = runner.embed([data.queries[q] for q in queries], "query")
    dv, qv = metrics.normalize_rows(dv), metrics.normalize_rows(qv)
    ties = metrics.lexical_ranks(doc_ids)
    top = {q: metrics.top_k(dv @ qv[i], ties, depth).tolist() for i, q in enumerate(queries)}
    return Ranked(data, doc_ids, dict(zip(queries, qv, strict=True)), dv, top)


class PairModel:
    """The backbone with a trainable LoRA adapter and head, reading pairs as the serving reranker does."""

    def __init__(self, cfg: RerankConfig) -> None:
        from peft import LoraConfig, TaskType, get_peft_model

        backbone = load_backbone(cfg.model, device="cpu", dtype="fp32")
        self.name, self.path, self.hidden = backbone.name, backbone.path, backbone.hidden_size
        lora = LoraConfig(
            task_type=TaskType.FEATURE_EXTRACTION,
            r=cfg.rank,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=default_target_modules(backbone.model),
        )
        self.device = torch.device(cfg.device)
        self.model = get_peft_model(backbone.model, lora).to(self.device)
        self.head = ScoreHead(self.hidden).to(self.device)
        self.tokens = PairTokenizer(backbone.tokenizer, min(cfg.max_seq_length, backbone.max_seq_length))
        self.autocast = autocast_bf16(cfg.autocast, self.device)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad] + list(self.head.parameters())

    def scores(self, groups: Sequence[tuple[str, Sequence[str]]], *, train: bool) -> list[torch.Tensor]:
        """Head scores of each ``(query, texts)`` group, in one forward pass over all their pairs (a step's
        queries together: fewer, larger matrix products); with gradients and dropout when ``train``."""
        ids: list[list[int]] = []
        type_ids: list[list[int]] = []
        for query, texts in groups:
            prepared = self.tokens(query, texts)
            ids += prepared.ids
            type_ids += prepared.type_ids
        batch = self.tokens.pad(ids, type_ids, self.device)
        self.model.train(train)
        # Validation runs under the same autocast: its figures pick a checkpoint; the test figures are fp32.
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            states = pair_states(self.model, batch)
        flat = self.head(states.float(), batch["attention_mask"])
        return list(torch.split(flat, [len(texts) for _, texts in groups]))

    def state(self) -> dict[str, torch.Tensor]:
        from peft import get_peft_model_state_dict

        lora = get_peft_model_state_dict(self.model)
        return {**{f"lora.{k}": v.detach().clone() for k, v in lora.items()}, **self._head_state()}

    def _head_state(self) -> dict[str, torch.Tensor]:
        return {f"head.{k}": v.detach().clone() for k, v in self.head.state_dict().items()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(self.model, {k[5:]: v for k, v in state.items() if k.startswith("lora.")})
        self.head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})


def ndcg_reranked(net: PairModel, ranked: Ranked, queries: Sequence[str], depth: int) -> tuple[float, float]:
    """(first stage, reranked) mean nDCG@10 over ``queries``, reranking each one's top ``depth``."""
    first, second = [], []
    per_pass = max(1, VALIDATION_PAIRS // depth)
    with torch.no_grad():
        for start in range(0, len(queries), per_pass):
            chunk = queries[start : start + per_pass]
            tops = [ranked.top[q][:depth] for q in chunk]
            heads = net.scores(
                [
                    (ranked.data.queries[q], [ranked.data.corpus[ranked.doc_ids[j]] for j in docs])
                    for q, docs in zip(chunk, tops, strict=True)
                ],
                train=False,
            )
            for q, docs, head in zip(chunk, tops, heads, strict=True):
                grades = dict.fromkeys(ranked.data.relevant[q], 1)
                ids = [ranked.doc_ids[j] for j in docs]
                total = ranked.cosine(q, docs) + head.cpu().numpy()
                first.append(metrics.ndcg_at_k(ids, grades, 10))
                second.append(metrics.ndcg_at_k([ids[i] for i in np.argsort(-total, kind="stable")], grades, 10))
    return float(np.mean(first)), float(np.mean(second))


def train_reranker(cfg: RerankConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train and save one rerank adapter; returns the recorded facts (also in ``taskvec_training.json``)."""
    from taskvec.engine import Encoder

    started = time.time()
    say = log or (lambda _msg: None)
    set_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.group < 2:
        raise DataError("group must be at least 2.", field="group", fix="Set --group to 2 or more.")
    # The first stage exactly as served: the encoder with the task's prompts and shipped adapter, fp32.
    encoder = Encoder(cfg.model, tasks_file=cfg.tasks_file, device=cfg.device, dtype="fp32")
    stage = encoder.tasks[cfg.first_stage]
    train_sets: list[Ranked] = []
    val_sets: list[tuple[Ranked, list[str]]] = []
    for spec in [*cfg.data, *cfg.val_data]:
        data = for_kind(read_source(spec), "retrieval")
        assert isinstance(data, PairSet)
        if spec in cfg.val_data:
            train_part, val_part = None, data
        else:
            train_part, val_part = carve_validation(data, cfg.val_fraction, cfg.val_max, seed=cfg.seed)
        say(f"{spec}: ranking {len(data.corpus)} documents for {len(data.relevant)} queries with {stage.name!r}")
        ranked = first_stage(encoder, stage, data, max(cfg.candidates, cfg.val_candidates))
        if train_part is not None:
            assert isinstance(train_part, PairSet)
            train_sets.append(Ranked(train_part, ranked.doc_ids, ranked.query_vectors, ranked.doc_vectors, ranked.top))
        assert isinstance(val_part, PairSet)
        val_sets.append((ranked, sorted(val_part.relevant)))
    residual_space = encoder.space(stage).id
    del encoder
    net = PairModel(cfg)
    rng = random.Random(cfg.seed)
    steps_per_epoch = len(plan_epoch([r.data for r in train_sets], cfg, random.Random(cfg.seed)))
    total = cfg.max_steps or max(1, math.ceil(steps_per_epoch * cfg.epochs))
    eval_every = max(1, steps_per_epoch // max(cfg.evals_per_epoch, 1))
    optimisation = Optimisation(
        net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, total_steps=total, warmup=cfg.warmup
    )

    def validate() -> dict[str, list[float]]:
        return {r.data.name + "[val]": list(ndcg_reranked(net, r, qs, cfg.val_candidates)) for r, qs in val_sets}

    figures = validate()
    first_stage_figures = {k: round(v[0], 5) for k, v in figures.items()}
    best = float(np.mean([v[1] for v in figures.values()]))
    history: list[dict[str, Any]] = [{"step": 0, **{k: round(v[1], 5) for k, v in figures.items()}, "mean": best}]
    say(f"step 0 (the first stage alone): {history[0]}")
    best_state, best_step, bad, step, losses_seen = net.state(), 0, 0, 0, []
    bar = tqdm(total=total, disable=not cfg.progress, desc="train rerank", unit="step")
    plan: list[Batch] = []
    while step < total:
        if not plan:
            plan = plan_epoch([r.data for r in train_sets], cfg, rng)
        batch = plan.pop()
        r = train_sets[batch.source]
        lists: list[tuple[Ranked, str, list[int]]] = []
        for q, positive in batch.items:
            relevant = set(r.data.relevant[q])
            pool = [j for j in r.top[q][cfg.mine_skip : cfg.candidates] if r.doc_ids[j] not in relevant]
            negatives = rng.sample(pool, min(cfg.group - 1, len(pool)))
            lists.append((r, q, [r.position[positive], *negatives]))
        heads = net.scores(
            [(r.data.queries[q], [r.data.corpus[r.doc_ids[j]] for j in docs]) for r, q, docs in lists], train=True
        )
        loss = torch.zeros((), device=net.device)
        for (r, q, docs), head in zip(lists, heads, strict=True):
            logits = cfg.scale * (torch.from_numpy(r.cosine(q, docs)).to(net.device) + head)
            loss = loss + torch.nn.functional.cross_entropy(logits.unsqueeze(0), torch.zeros(1, dtype=torch.long))
        loss = loss / len(lists)
        optimisation.step(loss)
        step += 1
        losses_seen.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses_seen[-20:]):.4f}", best=f"{best:.4f}")
        if step % eval_every == 0 or step == total:
            figures = validate()
            score = float(np.mean([v[1] for v in figures.values()]))
            history.append(
                {
                    "step": step,
                    **{k: round(v[1], 5) for k, v in figures.items()},
                    "mean": score,
                    "loss": float(np.mean(losses_seen[-eval_every:])),
                }
            )
            say(f"step {step}: {history[-1]}")
            if score > best:
                best, best_step, bad, best_state = score, step, 0, net.state()
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
    bar.close()
    net.load_state(best_state)
    info = _describe(cfg, net, train_sets, val_sets, first_stage_figures, history, best_step, step, started)
    info["residual_space"] = residual_space
    save(net, cfg, info)
    return info


def _describe(
    cfg: RerankConfig,
    net: PairModel,
    train_sets: list[Ranked],
    val_sets: list[tuple[Ranked, list[str]]],
    first: dict[str, float],
    history: list[dict[str, Any]],
    best_step: int,
    steps: int,
    started: float,
) -> dict[str, Any]:
    import resource

    hp = asdict(cfg)
    hp.update(out=str(cfg.out), tasks_file=str(cfg.tasks_file) if cfg.tasks_file else None)
    hp.pop("progress", None)
    hp.pop("command", None)
    best = next(h for h in history if h["step"] == best_step)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "task": "rerank",
        "kind": "rerank",
        "base_model": net.name,
        "base_model_fingerprint": fingerprint_folder(net.path),
        "first_stage": cfg.first_stage,
        "max_seq_length": net.tokens.max_length,
        "loss": f"listwise softmax over scale x (first-stage cosine + head), {cfg.group} per query",
        "trainable_parameters": sum(p.numel() for p in net.parameters()),
        "data": [
            {"source": spec, "name": r.data.name, "train": len(r.data), "licence": r.data.licence}
            for spec, r in zip(cfg.data, train_sets, strict=True)
        ],
        "val_data": list(cfg.val_data),
        "validation": {
            "first_stage": first,
            "reranked": {k: v for k, v in best.items() if k.endswith("[val]")},
            "queries": {r.data.name + "[val]": len(qs) for r, qs in val_sets},
        },
        "hyperparameters": hp,
        "history": history,
        "best_step": best_step,
        "steps": steps,
        "wall_seconds": round(time.time() - started, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}; load average {os.getloadavg()[1]:.1f} (5 min) at the end",
        "command": cfg.command,
        "test": {},
    }


def save(net: PairModel, cfg: RerankConfig, info: dict[str, Any]) -> None:
    """The PEFT adapter, the head, the reranker's config, the recorded facts and the model card."""
    from safetensors.torch import save_file

    from taskvec.train.rerank_card import write_card

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    net.model.peft_config["default"].base_model_name_or_path = net.name
    net.model.save_pretrained(str(out))
    save_file({k: v.contiguous() for k, v in net.head.state_dict().items()}, str(out / HEAD_FILE))
    config = {
        "hidden_size": net.hidden,
        "pooling": "mean",
        "residual_task": cfg.first_stage,
        "max_seq_length": net.tokens.max_length,
    }
    (out / RERANK_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    (out / SAVED_INFO).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    write_card(out, info)
