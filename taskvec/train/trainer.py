"""Training one LoRA adapter on the frozen backbone for one task, with that task's prompts on every input.

The loop, in order: read the sources and carve a validation split from each -> wrap the backbone in PEFT LoRA
(only the adapter trains) -> batches per source, mixed across sources -> task loss (+ an optional anchor that keeps
similarity structure near the base model on texts from elsewhere) -> validation at checkpoints, keeping the best
adapter and stopping early when it stops improving -> save the PEFT folder and its model card.

Everything the result depends on (seed, data order, LoRA init, dropout) is drawn from seeded generators, so the
same command on the same machine gives the same adapter. Imports: torch, transformers, peft, numpy, tqdm, and
scipy/scikit-learn for the harness's metrics (validation scores as ``taskvec eval`` does); no mcp, and lancedb only
for ``--teacher hybrid`` and ``--mine-with hybrid`` (the store's own hybrid search scores or picks the candidates).

Why this module is past ~400 lines: it is the one ``Trainer``, and its methods are the loop's steps in the order
above, each short; the losses, batching, data and card it calls live in their own modules.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from taskvec import metrics
from taskvec.engine.blend import blended
from taskvec.engine.fingerprint import fingerprint_folder
from taskvec.engine.loading import pick_device
from taskvec.engine.model_files import resolve_model_path
from taskvec.engine.profiles import profile_for
from taskvec.engine.tasks import Task, TaskRegistry
from taskvec.errors import DataError, InvalidInputError
from taskvec.spaces import EmbeddingSpace
from taskvec.train import losses, validation
from taskvec.train.batches import Batch, plan_epoch, sample_anchor_texts
from taskvec.train.config import LOSS_NAMES, LOSSES_BY_KIND, MINERS, SAVED_INFO, TrainConfig, TrainResult, set_seed
from taskvec.train.data import (
    PAIR_KINDS,
    Dataset,
    PairSet,
    ScoredSet,
    carve_validation,
    check_learnable,
    for_kind,
    read_source,
)
from taskvec.train.distill import (
    CACHE_SUFFIX,
    HYBRID_TEACHER,
    TeacherScores,
    candidates,
    check_teacher,
    hybrid_teacher_scores,
    teacher_scores,
)
from taskvec.train.model import EmbeddingModel
from taskvec.train.optimizer import Optimisation
from taskvec.train.output import check_out_folder


class Trainer:
    def __init__(self, cfg: TrainConfig, log: Callable[[str], None] | None = None) -> None:
        self.started = time.time()  # the wall time on record covers the whole run: loading, mining, training
        self.cfg = cfg
        self.log = log or (lambda _msg: None)
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
        teacher = self.check_distillation() if cfg.teacher else None
        _check_mining(cfg)
        _check_blend_share(cfg)
        self.train_sets: list[Dataset] = []
        self.val_sets: list[Dataset] = []
        for spec in cfg.data:
            data = for_kind(read_source(spec), self.kind)
            check_learnable(data, spec)
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
        self.anchor_texts = sample_anchor_texts(cfg.anchor_data, cfg.seed)
        self.net = EmbeddingModel(cfg, pick_device(cfg.device))
        self.pooling, self.max_seq_length = self.net.pooling, self.net.max_seq_length
        self._base_vectors: dict[str, tuple[list[str], np.ndarray, list[str], np.ndarray]] = {}
        _check_matryoshka_dims(cfg.matryoshka_dims, self.net.dimension)
        if cfg.mine_negatives:
            for data in self.train_sets:
                if isinstance(data, PairSet):
                    self.mine_negatives(data)
        self.teacher: TeacherScores | None = None
        if teacher is not None:
            self.teacher = self.score_with_teacher(teacher)

    def check_distillation(self) -> Path | str:
        """The --teacher folder (or ``hybrid``), after the flags that distillation needs: before any model loads."""
        cfg = self.cfg
        if self.kind not in PAIR_KINDS:
            raise InvalidInputError(
                f"--teacher distils a reranker into a retrieval adapter; task {cfg.task!r} is a {self.kind} task.",
                field="teacher",
                fix="Drop --teacher, or train a retrieval (or code) task.",
            )
        if not (cfg.mine_negatives or cfg.hard_negatives):
            raise InvalidInputError(
                "--teacher ranks each query's candidates, and without hard negatives a query has only its positives.",
                field="teacher",
                fix="Add --mine-negatives N (or --hard-negatives N with negatives in the data).",
            )
        if not 0 < cfg.distill_weight <= 1 or cfg.distill_temperature <= 0:
            raise InvalidInputError(
                f"--distill-weight {cfg.distill_weight:g} / --distill-temperature {cfg.distill_temperature:g}.",
                field="distill_weight",
                fix="--distill-weight takes a share in (0, 1] (1: the teacher alone), --distill-temperature a "
                "positive number.",
            )
        return check_teacher(cfg.teacher or "")

    def score_with_teacher(self, teacher: Path | str) -> TeacherScores:
        """The teacher's scores of every training query's candidates, once, cached beside the output folder."""
        cfg = self.cfg
        per_query = cfg.hard_negatives or cfg.mine_negatives
        sources = [(d, candidates(d, per_query)) for d in self.train_sets if isinstance(d, PairSet)]
        out = Path(cfg.out)
        cache = out.with_name(out.name + CACHE_SUFFIX)
        if teacher == HYBRID_TEACHER:
            return hybrid_teacher_scores(sources, self.base_vectors, self.base_space(), cache=cache, log=self.log)
        return teacher_scores(
            Path(teacher),
            sources,
            model=cfg.model,
            model_fingerprint=fingerprint_folder(self.model_path),
            tasks_file=cfg.tasks_file,
            device=str(self.net.device),
            cache=cache,
            log=self.log,
        )

    def base_vectors(self, data: PairSet) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
        """The base model's vectors of a source's training queries and whole corpus (prompts on, no adapter,
        documents cut to the training length as the loss sees them), made once for the miner and the teacher."""
        if data.name not in self._base_vectors:
            qids, doc_ids = sorted(data.relevant), sorted(data.corpus)
            qv = self.net.embed(self.q([data.queries[q] for q in qids]), adapter=False)
            dv = self.net.embed(self.d([data.corpus[d] for d in doc_ids]), adapter=False)
            self._base_vectors[data.name] = (qids, qv, doc_ids, dv)
        return self._base_vectors[data.name]

    def base_space(self) -> EmbeddingSpace:
        """The space of :meth:`base_vectors`: the store files them under it for the hybrid teacher's search."""
        return EmbeddingSpace(
            model=self.model_name,
            model_fingerprint=fingerprint_folder(self.model_path),
            task=self.task.name,
            query_prompt=self.task.query_prompt,
            document_prompt=self.task.document_prompt,
            adapter=None,
            adapter_fingerprint=None,
            pooling=self.pooling,
            normalize=True,
            max_seq_length=self.max_seq_length,
            dimension=self.net.dimension,
        )

    def mine_negatives(self, data: PairSet) -> None:
        """Hard negatives chosen before training (prompts on, no adapter yet): per training query, the best-ranked
        documents of the whole corpus that are not judged relevant, after skipping the first ``mine_skip`` ranks.
        ``--mine-with model`` ranks by the base model's cosine; ``hybrid`` by the store's hybrid search (that
        cosine and BM25, fused as ``search(mode="hybrid")`` fuses them), so documents that share the query's words
        but not its meaning become negatives too.

        Caveat: unjudged relevant documents exist in every real set; skipping the top ranks keeps most of them out
        of the negatives. Documents are cut to the training length, as the loss will see them; BM25 reads them whole.
        """
        cfg = self.cfg
        qids, qv, doc_ids, dv = self.base_vectors(data)
        want = cfg.mine_skip + cfg.mine_negatives + max(len(v) for v in data.relevant.values())
        if cfg.mine_with == "hybrid":
            from taskvec.eval.hybrid import hybrid_hits

            self.log(f"mining {data.name}: hybrid search of {len(doc_ids)} documents for {len(qids)} queries")
            hits = hybrid_hits(
                self.base_space(),
                [data.queries[q] for q in qids],
                qv,
                [data.corpus[d] for d in doc_ids],
                dv,
                doc_ids,
                want,
            )
            ranking = [[d for d, _score in row] for row in hits]
        else:
            top = np.argsort(-(qv @ dv.T), axis=1, kind="stable")[:, :want]
            ranking = [[doc_ids[j] for j in row] for row in top]
        for q, ranked_ids in zip(qids, ranking, strict=True):
            ranked = [d for d in ranked_ids if d not in data.relevant[q]]
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
            qv = self.student(q_texts, self.q(q_texts))
            dv = self.student(d_texts, self.d(d_texts))
            relevant = [set(data.relevant[q]) for q in qids]
            dev = self.net.device
            same = torch.tensor([[d in rel for d in dids] for rel in relevant], dtype=torch.bool, device=dev)
            target = torch.arange(len(qids), device=dev)
            loss = self.over_dims(
                lambda q, d: losses.in_batch_contrastive(q, d, target, scale=cfg.scale, same_as_positive=same), qv, dv
            )
            if self.teacher is not None:
                distil = self.over_dims(lambda q, d: self.distillation_loss(data, qids, q, dids, d), qv, dv)
                loss = cfg.distill_weight * distil + (1 - cfg.distill_weight) * loss
            return loss, q_texts + d_texts
        if isinstance(data, ScoredSet):
            rows = [data.pairs[i] for i in batch.items]
            a = self.student([r[0] for r in rows], self.q([r[0] for r in rows]))
            b = self.student([r[1] for r in rows], self.d([r[1] for r in rows]))
            scores = torch.tensor([r[2] for r in rows], dtype=torch.float32, device=self.net.device)
            fn = losses.angle if self.loss_name == "angle" else losses.cosent
            loss = self.over_dims(lambda x, y: fn(x, y, scores, scale=cfg.scale), a, b)
            return loss, [r[0] for r in rows] + [r[1] for r in rows]
        texts = [data.texts[i] for i in batch.items]
        names = sorted(set(data.labels))
        labels = torch.tensor([names.index(data.labels[i]) for i in batch.items], device=self.net.device)
        v = self.student(texts, self.d(texts))
        return self.over_dims(lambda x: losses.supervised_contrastive(x, labels, temperature=cfg.temperature), v), texts

    def student(self, texts: list[str], prompted: list[str]) -> torch.Tensor:
        """The vectors the task loss sees: the adapter's of the prompted texts, or with ``--blend-share S`` the
        blended vectors the task will serve, ``[sqrt(1 - S) bare(text) ; sqrt(S) adapter(prompt + text)]``
        (taskvec.engine.blend). The bare half is fixed, no gradient: the adapter learns what it lacks. It is cached per
        text (the anchor's cache), so a run holds one bare vector of every distinct text it trained on."""
        adapted = self.net.embed_train(prompted)
        share = self.cfg.blend_share
        if share is None:
            return adapted
        return torch.cat([math.sqrt(1 - share) * self.net.teacher(texts), math.sqrt(share) * adapted], dim=1)

    def over_dims(self, loss: Callable[..., torch.Tensor], *vectors: torch.Tensor) -> torch.Tensor:
        """The task loss, over the Matryoshka prefixes too when ``--matryoshka-dims`` asks for them."""
        return losses.matryoshka(loss, self.cfg.matryoshka_dims, *vectors)

    def distillation_loss(
        self, data: PairSet, qids: list[str], qv: torch.Tensor, dids: list[str], dv: torch.Tensor
    ) -> torch.Tensor:
        """Listwise KL to the teacher, per query of the batch, over its candidates among the batch's documents
        (its positive and its hard negatives, all scored by the teacher up front)."""
        assert self.teacher is not None
        rows = self.teacher.scores[data.name]
        terms = []
        for q in dict.fromkeys(qids):
            cols = [j for j, d in enumerate(dids) if d in rows[q]]
            student = dv[cols] @ qv[qids.index(q)]
            teacher = torch.tensor([rows[q][dids[j]] for j in cols], device=self.net.device)
            terms.append(
                losses.listwise_distillation(
                    student, teacher, scale=self.cfg.scale, temperature=self.cfg.distill_temperature
                )
            )
        return torch.stack(terms).mean()

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

    def val_vectors(self, texts: list[str], prompt: str, *, adapter: bool) -> np.ndarray:
        """Eval-mode vectors of ``prompt + text`` as validation scores them: with the adapter under ``--blend-share``
        the blended vectors the task will serve (the bare half unprompted), else the model's own."""
        vectors = self.net.embed([prompt + t for t in texts], adapter=adapter)
        if not adapter or self.cfg.blend_share is None:
            return vectors
        return blended(self.net.teacher(texts).cpu().numpy(), vectors, [self.cfg.blend_share] * len(texts))

    def _validate_one(self, val: Dataset, qp: str, dp: str, adapter: bool) -> float:
        def embed(texts: list[str], prompt: str) -> np.ndarray:
            return self.val_vectors(texts, prompt, adapter=adapter)

        if isinstance(val, PairSet):
            qids = sorted(val.relevant)
            docs = sorted({d for q in qids for d in val.relevant[q]})
            rng = random.Random(self.cfg.seed)
            others = sorted(set(val.corpus) - set(docs))
            docs += rng.sample(others, min(self.cfg.val_corpus, len(others)))
            qv = embed([val.queries[q] for q in qids], qp)
            dv = embed([val.corpus[d] for d in docs], dp)
            return metrics.search_ndcg(qv, dv, docs, [val.relevant[q] for q in qids])
        if isinstance(val, ScoredSet):
            a = embed([p[0] for p in val.pairs], qp)
            b = embed([p[1] for p in val.pairs], dp)
            return validation.spearman([p[2] for p in val.pairs], (a * b).sum(1))
        v = embed(list(val.texts), dp)
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
        optimisation = Optimisation(
            self.net.trainable_parameters(),
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            total_steps=total,
            warmup=cfg.warmup,
        )
        base = self.validate("base")
        # With empty prompts (MiniLM's retrieval, similarity, classification) prompt-only is the base: skip the rerun.
        unprompted = not (self.task.query_prompt or self.task.document_prompt)
        validation: dict[str, Any] = {
            "base": base,
            "prompt_only": dict(base) if unprompted else self.validate("prompt_only"),
        }
        # Where a step must beat: the untrained adapter (it changes nothing), alone or in the blend it trains for.
        start = dict(validation["prompt_only"]) if cfg.blend_share is None else self.validate("adapter")
        if cfg.blend_share is not None:
            validation["blend_start"] = start
        best_score = _mean(start)
        best_state = {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.net.model).items()}
        best_step, bad, step = 0, 0, 0
        history: list[dict[str, Any]] = [{"step": 0, **start, "mean": best_score}]
        self.log(f"step 0 of {total} (no adapter{_blend_phrase(cfg)}): {_figures_line(start)}")
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
            optimisation.step(loss)
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
                # One line per validation: with --no-progress the only sign of life in a run of half an hour.
                self.log(
                    f"step {step} of {total}: loss {history[-1]['loss']:.4f}; {_figures_line(figures)}; "
                    f"best {best_score:.4f} at step {best_step}"
                    + (f" ({bad} of {cfg.patience} validations without a gain)" if bad else "")
                    + ("; stopping early" if stop else "")
                )
        bar.close()
        set_peft_model_state_dict(self.net.model, best_state)
        validation["adapter"] = self.validate("adapter") if best_step else start
        wall = time.time() - self.started
        result = TrainResult(cfg.out, best_step, step, validation, history, wall, loss_log)
        self.save(result)
        return result

    # ----------------------------------------------------------------------------------------- save
    def loss_description(self) -> str:
        if self.teacher is None:
            return self.loss_name
        cfg = self.cfg
        distil = (
            f"listwise KL to the teacher's softmax (temperature {cfg.distill_temperature:g}) over each query's "
            f"positive and hard negatives"
        )
        if cfg.distill_weight == 1:
            return distil
        return f"{cfg.distill_weight:g} x {distil} + {1 - cfg.distill_weight:g} x {self.loss_name}"

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
        cfg.pop("overwrite", None)
        return {
            "task": self.task.name,
            "kind": self.kind,
            "base_model": self.model_name,
            "base_model_fingerprint": fingerprint_folder(self.model_path),
            "query_prompt": self.task.query_prompt,
            "document_prompt": self.task.document_prompt,
            "pooling": self.pooling,
            "max_seq_length": self.max_seq_length,
            "loss": self.loss_description(),
            "teacher": self.teacher.describe() if self.teacher else None,
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
            "bf16_autocast": self.net.autocast,
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


def _check_mining(cfg: TrainConfig) -> None:
    if cfg.mine_with not in MINERS:
        raise InvalidInputError(
            f"Unknown --mine-with {cfg.mine_with!r}.", field="mine_with", fix=f"Use one of {', '.join(MINERS)}."
        )
    if cfg.mine_with != "model" and not cfg.mine_negatives:
        raise InvalidInputError(
            f"--mine-with {cfg.mine_with} chooses how negatives are mined, but none are: --mine-negatives is 0.",
            field="mine_with",
            fix="Add --mine-negatives N (1-3 is usual), or drop --mine-with.",
        )


def _blend_phrase(cfg: TrainConfig) -> str:
    return "" if cfg.blend_share is None else f", blended with the bare model at share {cfg.blend_share:g}"


def _check_blend_share(cfg: TrainConfig) -> None:
    if cfg.blend_share is None:
        return
    if not 0 < cfg.blend_share < 1:
        raise InvalidInputError(
            f"--blend-share {cfg.blend_share:g} is not an adapter share.",
            field="--blend-share",
            fix="Give a number strictly between 0 and 1 (the shipped clustering blend is 0.25), or drop it.",
        )
    if cfg.matryoshka_dims:
        raise InvalidInputError(
            "--blend-share and --matryoshka-dims do not combine: a blended vector's prefix is only the bare half.",
            field="--blend-share",
            fix="Drop one of them.",
        )


def _check_matryoshka_dims(dims: list[int], hidden: int) -> None:
    if any(not 0 < d < hidden for d in dims):
        raise InvalidInputError(
            f"--matryoshka-dims {' '.join(map(str, dims))} must each be between 1 and {hidden - 1}",
            field="--matryoshka-dims",
            fix=f"Give prefixes shorter than the model's {hidden} dimensions (the full vector is always trained).",
        )


def _figures_line(figures: dict[str, float]) -> str:
    """Validation figures as one line: each source, then their mean (the figure that picks the best step)."""
    parts = [f"{name} {value:.4f}" for name, value in figures.items()]
    return ", ".join([*parts, f"mean {_mean(figures):.4f}"]) if parts else "no validation data"


def train(cfg: TrainConfig, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train and save one adapter; returns its figures. ``log`` receives one-line progress notes."""
    check_out_folder(cfg.out, overwrite=cfg.overwrite)  # before the model loads: a bad --out fails now
    trainer = Trainer(cfg, log)
    if log:
        sizes = ", ".join(
            f"{t.name}: {len(t)} train / {len(v)} val"
            for t, v in zip(trainer.train_sets, trainer.val_sets, strict=False)  # held-out sets come after
        )
        log(
            f"task {trainer.task.name} ({trainer.kind}, loss {trainer.loss_name}); prompts {trainer.task.query_prompt!r} / {trainer.task.document_prompt!r}; {sizes}"
        )
    return trainer.run()
