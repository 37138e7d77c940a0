"""Rerankers: score (query, document) pairs with full attention between the two, for the second stage of search.

Two kinds of ``rerank`` task, one interface (``Reranker.score``):

* ``AdapterReranker``: the encoder's own frozen backbone with a LoRA adapter, attached by name next to the
  embedding adapters (one backbone in memory serves both), reading ``[CLS] query [SEP] document [SEP]``, plus a
  small scoring head on the mean-pooled states. The score is *residual*: the cosine of the query and the document
  in an embedding task's space (``residual_task``, the first stage) plus the head's output. The head starts at
  zero, so an untrained reranker ranks exactly as the first stage does, and training moves it from there: a
  cross-encoder learnt from scratch on a few thousand pairs ranks far worse than the bi-encoder it should improve.
* ``CrossEncoderReranker``: a sentence-transformers ``CrossEncoder`` folder (sequence classification: ms-marco
  MiniLM, bge-reranker, ...) on a model of its own, scoring as ``CrossEncoder.predict`` does (its activation
  included).

Pairs go through the server's encode queue when there is one (``EncodeQueue.submit_pairs``), so a rerank of 50
candidates is a few forward passes shared with other calls. An identity (model, weights fingerprints, adapter,
residual space) goes into every result, as an embedding space does.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from taskvec.engine.fingerprint import fingerprint_folder
from taskvec.engine.tasks import Task
from taskvec.engine.tokenize import check_text
from taskvec.errors import InvalidInputError, ModelLoadError

if TYPE_CHECKING:
    from taskvec.engine.encoder import Encoder
    from taskvec.engine.queue import EncodeQueue

RERANK_CONFIG = "taskvec_rerank.json"  # beside a rerank adapter: its head's shape and the residual task
HEAD_FILE = "rerank_head.safetensors"
PAIR_BATCH = 16  # pairs per forward pass outside the queue (documents are long: 16 x 256 tokens)


# ----------------------------------------------------------------------------------------------- identity
@dataclass(frozen=True)
class RerankerIdentity:
    """What made a rerank score: like an embedding space, a change of any field changes what scores mean."""

    task: str
    kind: str  # "adapter" (backbone + LoRA + head) or "cross-encoder" (a CrossEncoder folder)
    model: str
    model_fingerprint: str
    adapter: str | None
    adapter_fingerprint: str | None
    residual_space: str | None  # the embedding space whose cosine the head's score is added to
    max_seq_length: int

    @property
    def id(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        if self.kind == "cross-encoder":
            return f"cross-encoder {self.model} [{self.model_fingerprint}], {self.max_seq_length} tokens per pair"
        residual = f", added to the cosine of space {self.residual_space}" if self.residual_space else ""
        return (
            f"{self.model} [{self.model_fingerprint}] + rerank adapter {self.adapter} [{self.adapter_fingerprint}]"
            f"{residual}, {self.max_seq_length} tokens per pair"
        )


# ------------------------------------------------------------------------------------------------- pairs
@dataclass
class PreparedPairs:
    """Pairs checked and tokenized (on the caller's thread): what a forward pass needs."""

    ids: list[list[int]]
    type_ids: list[list[int]]
    truncated: int  # pairs cut to fit the limit

    def __len__(self) -> int:
        return len(self.ids)


class PairTokenizer:
    """``tokenizer(query, document, truncation=True, max_length=...)`` per pair: ``[CLS] q [SEP] d [SEP]``, the
    longer side cut first, as transformers and sentence-transformers tokenize pairs. A private copy of the fast
    tokenizer's Rust core, so several threads may tokenize at once (see ``taskvec.engine.tokenize``)."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        from tokenizers import Tokenizer

        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ModelLoadError(
                "Reranking needs a fast (Rust) tokenizer.", field="model", fix="Save the model with its tokenizer.json."
            )
        self.core = Tokenizer.from_str(backend.to_str())
        self.core.no_padding()
        self.core.enable_truncation(max_length, stride=0, strategy="longest_first")
        self.max_length = max_length
        self.pad_id = int(tokenizer.pad_token_id or 0)

    def __call__(self, query: str, texts: Sequence[str]) -> PreparedPairs:
        encodings = self.core.encode_batch([(query, t) for t in texts])
        return PreparedPairs(
            [e.ids for e in encodings], [e.type_ids for e in encodings], sum(1 for e in encodings if e.overflowing)
        )

    def pad(self, ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]], device: torch.device) -> dict:
        """Right-padded ``input_ids``, ``attention_mask`` and ``token_type_ids`` on ``device``."""
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        types = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, (row, row_types) in enumerate(zip(ids, type_ids, strict=True)):
            input_ids[i, : len(row)], types[i, : len(row)], mask[i, : len(row)] = row, row_types, 1
        return {
            "input_ids": torch.from_numpy(input_ids).to(device),
            "attention_mask": torch.from_numpy(mask).to(device),
            "token_type_ids": torch.from_numpy(types).to(device),
        }


def check_pairs(query: object, texts: object) -> list[str]:
    """Refuse an empty query or a text that is not a non-empty string, naming it."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("The query is empty.", field="query", fix="Send the question to rank the texts for.")
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidInputError("texts must be a list of strings.", field="texts", fix="Pass the texts as a list.")
    for i, text in enumerate(texts):
        check_text(text, i)
    return list(texts)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------------- head
class ScoreHead(torch.nn.Module):
    """One linear layer on the mean of the pair's token states (all-MiniLM-L6-v2 was trained with mean pooling).
    Zero-initialised: an untrained head adds nothing to the first stage's cosine."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(hidden, 1)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1)
        return self.linear(pooled.to(self.linear.weight.dtype)).squeeze(-1)

    @classmethod
    def load(cls, folder: Path, hidden: int, device: torch.device) -> ScoreHead:
        from safetensors.torch import load_file

        head = cls(hidden)
        head.load_state_dict(load_file(str(folder / HEAD_FILE)))
        return head.to(device).eval().requires_grad_(False)


def pair_states(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """The token states of a padded batch of pairs: the one forward path of serving and training."""
    return model(**batch).last_hidden_state


# ------------------------------------------------------------------------------------------------ base
class Reranker:
    """Scores documents for a query, higher is better. Subclasses define ``prepare`` and ``forward_rows``."""

    identity: RerankerIdentity
    tokens: PairTokenizer
    device: torch.device

    def prepare(self, query: str, texts: Sequence[str]) -> PreparedPairs:
        return self.tokens(query, check_pairs(query, texts))

    def forward_rows(self, parts: Sequence[tuple[PreparedPairs, Sequence[int]]]) -> torch.Tensor:
        """Scores of the given rows of prepared pairs, as an (n, 1) float32 tensor (the queue's interface)."""
        raise NotImplementedError

    def pair_scores(self, prepared: PreparedPairs, queue: EncodeQueue | None = None) -> np.ndarray:
        """One score per prepared pair: through ``queue`` when given, else in length-sorted batches here."""
        if not len(prepared):
            return np.zeros(0, dtype=np.float32)
        if queue is not None:
            return queue.submit_pairs(prepared, self.forward_rows)[:, 0]
        order = np.argsort([-len(x) for x in prepared.ids], kind="stable")
        out = np.empty(len(prepared), dtype=np.float32)
        for start in range(0, len(order), PAIR_BATCH):
            rows = order[start : start + PAIR_BATCH].tolist()
            out[rows] = self.forward_rows([(prepared, rows)])[:, 0].cpu().numpy()
        return out

    def score(
        self,
        query: str,
        texts: Sequence[str],
        *,
        first_stage: Sequence[float] | None = None,
        queue: EncodeQueue | None = None,
    ) -> tuple[np.ndarray, int]:
        """(scores, pairs truncated). ``first_stage``: the cosines in ``identity.residual_space``, when the
        caller has them (a vector search in that space), so they are not computed again."""
        prepared = self.prepare(query, texts)
        return self.pair_scores(prepared, queue), prepared.truncated


# ------------------------------------------------------------------------------------- backbone + adapter
class AdapterReranker(Reranker):
    """The encoder's backbone with a rerank LoRA adapter and a scoring head; score = residual cosine + head."""

    def __init__(self, encoder: Encoder, task: Task) -> None:
        assert task.adapter is not None
        config = read_rerank_config(task.adapter)
        self.encoder, self.task, self.device = encoder, task, encoder.device
        self.residual = encoder.tasks[config["residual_task"]] if config.get("residual_task") else None
        self.adapter_name = encoder.adapters.name_for(task)  # attached next to the embedding adapters
        self.head = ScoreHead.load(task.adapter, int(config["hidden_size"]), self.device)
        self.tokens = PairTokenizer(encoder.tokenizer, int(config.get("max_seq_length") or encoder.max_seq_length))
        self.identity = RerankerIdentity(
            task=task.name,
            kind="adapter",
            model=encoder.model_name,
            model_fingerprint=encoder.model_fingerprint,
            adapter=task.adapter.name,
            adapter_fingerprint=encoder.adapters.fingerprint(task.adapter),
            residual_space=encoder.space(self.residual).id if self.residual else None,
            max_seq_length=self.tokens.max_length,
        )

    @torch.inference_mode()
    def forward_rows(self, parts: Sequence[tuple[PreparedPairs, Sequence[int]]]) -> torch.Tensor:
        ids = [p.ids[i] for p, rows in parts for i in rows]
        types = [p.type_ids[i] for p, rows in parts for i in rows]
        batch = self.tokens.pad(ids, types, self.device)
        adapters = self.encoder.adapters
        with adapters.gate.shared(), adapters.rows([self.adapter_name] * len(ids), len(ids)) as model:
            states = pair_states(model, batch)
        return self.head(states.float(), batch["attention_mask"]).unsqueeze(1)

    def score(
        self,
        query: str,
        texts: Sequence[str],
        *,
        first_stage: Sequence[float] | None = None,
        queue: EncodeQueue | None = None,
    ) -> tuple[np.ndarray, int]:
        prepared = self.prepare(query, texts)
        head = self.pair_scores(prepared, queue)
        if self.residual is None:
            return head, prepared.truncated
        if first_stage is None:
            first_stage = self.cosines(query, texts, queue)
        return np.asarray(first_stage, dtype=np.float32) + head, prepared.truncated

    def cosines(self, query: str, texts: Sequence[str], queue: EncodeQueue | None = None) -> np.ndarray:
        """The first stage's cosine of each text with the query, in the residual task's space."""
        from taskvec.engine.encoder import EncodeRow

        assert self.residual is not None
        rows = [EncodeRow(query, self.residual, "query"), *(EncodeRow(t, self.residual, "document") for t in texts)]
        vectors = (queue.submit(rows) if queue is not None else self.encoder.encode_rows(rows)).vectors
        return _normalized(vectors[1:]) @ _normalized(vectors[:1])[0]


def _normalized(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def read_rerank_config(folder: Path) -> dict[str, Any]:
    path = Path(folder) / RERANK_CONFIG
    if not path.is_file() or not (Path(folder) / HEAD_FILE).is_file():
        raise ModelLoadError(
            f"{str(folder)!r} is not a rerank adapter (no {RERANK_CONFIG} and {HEAD_FILE}).",
            field="adapter",
            fix="Point a rerank task at a folder written by `taskvec train --task rerank`, or set model= to a "
            "sentence-transformers CrossEncoder folder.",
        )
    return json.loads(path.read_text())


# --------------------------------------------------------------------------------------- CrossEncoder folder
class CrossEncoderReranker(Reranker):
    """A sentence-transformers CrossEncoder folder (sequence classification, one label), scored as
    ``CrossEncoder.predict`` scores: the logit through the folder's activation (sigmoid by default)."""

    def __init__(self, task: Task, device: torch.device, dtype: torch.dtype = torch.float32) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        assert task.model is not None
        folder = Path(task.model)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
            model = AutoModelForSequenceClassification.from_pretrained(str(folder), dtype=dtype)
        except Exception as exc:
            raise ModelLoadError(
                f"Could not load the cross-encoder of task {task.name!r} from {str(folder)!r}: {exc}",
                field=f"tasks.{task.name}.model",
                fix="Point model= at a folder saved by sentence-transformers' CrossEncoder (or transformers' "
                "AutoModelForSequenceClassification) with its tokenizer.",
            ) from exc
        if model.config.num_labels != 1:
            raise ModelLoadError(
                f"The cross-encoder in {str(folder)!r} has {model.config.num_labels} labels; a reranker gives one "
                "score per pair.",
                field=f"tasks.{task.name}.model",
                fix="Use a reranking CrossEncoder (num_labels = 1), e.g. ms-marco-MiniLM-L6-v2 or bge-reranker.",
            )
        self.task, self.device = task, device
        self.model = model.to(device).eval().requires_grad_(False)
        self.activation = _activation(folder, model.config)
        self.tokens = PairTokenizer(tokenizer, _cross_encoder_max_length(folder, tokenizer, model))
        # RoBERTa-family models (bge-reranker) take no token types.
        self.token_types = "token_type_ids" in inspect.signature(self.model.forward).parameters
        self.identity = RerankerIdentity(
            task=task.name,
            kind="cross-encoder",
            model=folder.name,
            model_fingerprint=fingerprint_folder(folder),
            adapter=None,
            adapter_fingerprint=None,
            residual_space=None,
            max_seq_length=self.tokens.max_length,
        )

    @torch.inference_mode()
    def forward_rows(self, parts: Sequence[tuple[PreparedPairs, Sequence[int]]]) -> torch.Tensor:
        ids = [p.ids[i] for p, rows in parts for i in rows]
        types = [p.type_ids[i] for p, rows in parts for i in rows]
        batch = self.tokens.pad(ids, types, self.device)
        if not self.token_types:
            batch.pop("token_type_ids")
        logits = self.model(**batch).logits.float()
        return self.activation(logits)


def _activation(folder: Path, config: Any) -> torch.nn.Module:
    """The activation ``CrossEncoder.predict`` applies: the folder's (a ``torch.`` path, as sentence-transformers
    trusts without remote code), else sigmoid for one label. Where each version wrote it: v5+ in
    config_sentence_transformers.json, v4 in config.json's ``sentence_transformers``, older as
    ``sbert_ce_default_activation_function``."""
    saved = folder / "config_sentence_transformers.json"
    path = json.loads(saved.read_text()).get("activation_fn") if saved.is_file() else None
    path = (
        path
        or (getattr(config, "sentence_transformers", None) or {}).get("activation_fn")
        or getattr(config, "sbert_ce_default_activation_function", None)
    )
    if isinstance(path, str) and path.startswith("torch."):
        import importlib

        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)()
    return torch.nn.Sigmoid()


def _cross_encoder_max_length(folder: Path, tokenizer: Any, model: Any) -> int:
    """sentence_bert_config.json's max_seq_length, else the tokenizer's limit, within the position table."""
    declared = None
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        declared = json.loads(config.read_text()).get("max_seq_length")
    limit = int(tokenizer.model_max_length) if tokenizer.model_max_length < 1e9 else 512
    positions = int(getattr(model.config, "max_position_embeddings", 512) or 512)
    return min(int(declared or limit), positions)


# ------------------------------------------------------------------------------------------------- build
def build_reranker(encoder: Encoder, task: Task) -> Reranker:
    """The reranker of a ``rerank`` task: a CrossEncoder folder (``model``) or a rerank adapter (``adapter``)."""
    if task.kind != "rerank":
        raise InvalidInputError(
            f"Task {task.name!r} is a {task.kind} task, not a rerank task.",
            field="rerank",
            fix="Name a task of kind 'rerank' (see taskvec://tasks), or pass rerank=true for the default.",
        )
    if task.model is not None:
        return CrossEncoderReranker(task, encoder.device, encoder.dtype if not encoder.quantized else torch.float32)
    if task.adapter is None:
        raise ModelLoadError(
            f"Rerank task {task.name!r} has neither an adapter nor a model.",
            field=f"tasks.{task.name}",
            fix="Set adapter= to a folder from `taskvec train --task rerank`, or model= to a CrossEncoder folder.",
        )
    return AdapterReranker(encoder, task)
