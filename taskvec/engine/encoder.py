"""The encoder: one frozen backbone, LoRA adapters attached by name, texts of any mix of tasks per forward pass.

Hot path, in order: prompt + text -> tokenize once (truncating, counting what was cut) -> sort by length ->
batches bounded by rows and padded tokens -> forward (per-row ``adapter_names`` when adapters are loaded) ->
pool -> normalise -> back to input order.

PEFT caveat: mixed-adapter batches (``adapter_names=[...]``) need the model in eval mode and adapters that are not
merged into the base weights; rows that should see no adapter use PEFT's reserved name ``"__base__"``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from taskvec.engine.fingerprint import fingerprint_folder
from taskvec.engine.model_files import ModelFiles, resolve_model_path
from taskvec.engine.pooling import pool
from taskvec.engine.profiles import ModelProfile, profile_for
from taskvec.engine.tasks import Role, Task, TaskRegistry, check_role
from taskvec.errors import InvalidInputError, ModelLoadError
from taskvec.spaces import EmbeddingSpace

log = logging.getLogger(__name__)

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed batch
_TOKENIZE_CHUNK = 4096  # texts tokenized per call, to bound memory on huge inputs


@dataclass(frozen=True)
class EncodeRow:
    """One text to encode, with the task and role it is encoded for."""

    text: str
    task: str | Task
    role: Role = "document"


@dataclass
class EncodeResult:
    vectors: np.ndarray  # (n, dim) float32, in input order
    truncated: int  # inputs longer than max_seq_length, cut to fit
    space_ids: list[str]  # the embedding space of each row


def pick_device(device: str = "auto") -> torch.device:
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, dtype: str = "auto") -> torch.dtype:
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    try:
        return {
            "float32": torch.float32,
            "fp32": torch.float32,
            "float16": torch.float16,
            "fp16": torch.float16,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
        }[dtype]
    except KeyError:
        raise InvalidInputError(
            f"Unknown dtype {dtype!r}.", field="dtype", fix="Use auto, fp32, fp16 or bf16."
        ) from None


class Encoder:
    """Task-aware text encoder over one frozen backbone.

    >>> enc = Encoder()                                    # bundled all-MiniLM-L6-v2, shipped adapters
    >>> enc.encode(["how do vaccines work?"], task="retrieval", role="query").vectors.shape
    (1, 384)
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        tasks: TaskRegistry | None = None,
        tasks_file: Path | None = None,
        device: str = "auto",
        dtype: str = "auto",
        max_seq_length: int | None = None,
        batch_size: int = 32,
        max_batch_tokens: int | None = None,
        truncate_dim: int | None = None,
        pooling: str | None = None,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.model_name, self.model_path = resolve_model_path(model)
        files = ModelFiles.read(self.model_path)
        self.profile: ModelProfile = profile_for(self.model_name, self.model_path)
        self.pooling = pooling or files.pooling or self.profile.pooling
        self.normalize = files.normalize if files.normalize is not None else self.profile.normalize
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        self.batch_size = _positive(batch_size, "batch_size")
        self.max_batch_tokens = max_batch_tokens
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_path))
            backbone = AutoModel.from_pretrained(str(self.model_path), dtype=self.dtype)
        except Exception as exc:
            raise ModelLoadError(
                f"Could not load the model in {str(self.model_path)!r}: {exc}",
                field="model",
                fix="Pass a folder saved by transformers/sentence-transformers with its tokenizer files.",
            ) from exc
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model_limit = min(
            int(getattr(backbone.config, "max_position_embeddings", 512) or 512),
            int(self.tokenizer.model_max_length) if self.tokenizer.model_max_length < 1e9 else 1 << 30,
        )
        self.max_seq_length = min(max_seq_length or files.max_seq_length or self.profile.max_seq_length, model_limit)
        self.model = backbone.to(self.device).eval()
        self.model.requires_grad_(False)
        self.model_fingerprint = fingerprint_folder(self.model_path)
        hidden = int(getattr(backbone.config, "hidden_size", 0) or backbone.get_input_embeddings().embedding_dim)
        if truncate_dim is not None and not 0 < truncate_dim <= hidden:
            raise InvalidInputError(
                f"truncate_dim {truncate_dim} is outside 1..{hidden}.",
                field="truncate_dim",
                fix=f"Use a dimension up to the model's {hidden}, or leave it unset.",
            )
        self.truncate_dim = truncate_dim
        self.dimension = truncate_dim or hidden
        self.tasks = tasks or TaskRegistry.from_profile(self.profile, tasks_file)
        self._adapters: dict[Path, str] = {}  # adapter folder -> PEFT adapter name
        self._adapter_fingerprints: dict[Path, str] = {}
        self._lock = threading.RLock()  # one forward pass (and one adapter load) at a time

    # ----------------------------------------------------------------------------------------------- spaces
    def space(self, task: str | Task) -> EmbeddingSpace:
        """The embedding space that vectors of ``task`` are made in, with this model and its adapters."""
        t = self.tasks.resolve(task)
        return EmbeddingSpace(
            model=self.model_name,
            model_fingerprint=self.model_fingerprint,
            task=t.name,
            query_prompt=t.query_prompt,
            document_prompt=t.document_prompt,
            adapter=t.adapter.name if t.adapter else None,
            adapter_fingerprint=self._adapter_fingerprint(t.adapter) if t.adapter else None,
            pooling=self.pooling,
            normalize=self.normalize,
            max_seq_length=self.max_seq_length,
            dimension=self.dimension,
            truncate_dim=self.truncate_dim,
        )

    def _adapter_fingerprint(self, folder: Path) -> str:
        if folder not in self._adapter_fingerprints:
            self._adapter_fingerprints[folder] = fingerprint_folder(folder)
        return self._adapter_fingerprints[folder]

    # --------------------------------------------------------------------------------------------- adapters
    def _adapter_name(self, task: Task) -> str:
        """Load ``task``'s adapter onto the shared backbone once; return its PEFT name (or the base name)."""
        if task.adapter is None:
            return BASE_ADAPTER
        folder = task.adapter
        if folder in self._adapters:
            return self._adapters[folder]
        with self._lock:
            if folder in self._adapters:
                return self._adapters[folder]
            name = f"a{len(self._adapters)}_{self._adapter_fingerprint(folder)}"
            try:
                from peft import PeftModel

                if isinstance(self.model, PeftModel):
                    self.model.load_adapter(str(folder), adapter_name=name)
                else:
                    self.model = PeftModel.from_pretrained(self.model, str(folder), adapter_name=name)
            except Exception as exc:
                raise ModelLoadError(
                    f"Could not load the adapter of task {task.name!r} from {str(folder)!r}: {exc}",
                    field=f"tasks.{task.name}.adapter",
                    fix="Check that the adapter was trained on this base model, or remove it from the task.",
                ) from exc
            self.model.eval()
            self._adapters[folder] = name
            return name

    @property
    def loaded_adapters(self) -> dict[str, str]:
        return {str(path): name for path, name in self._adapters.items()}

    # ------------------------------------------------------------------------------------------------ encode
    def encode(
        self,
        texts: Sequence[str],
        task: str | Task = "retrieval",
        role: Role = "document",
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> EncodeResult:
        """Encode ``texts`` for one task and role. Queries of asymmetric tasks use ``role="query"``."""
        if isinstance(texts, str):
            raise InvalidInputError(
                "texts must be a list of strings, not one string.",
                field="texts",
                fix="Wrap the text in a list: [text].",
            )
        t = self.tasks.resolve(task)
        check_role(role)
        return self.encode_rows(
            [EncodeRow(x, t, role) for x in texts], batch_size=batch_size, show_progress=show_progress
        )

    def encode_rows(
        self, rows: Sequence[EncodeRow], *, batch_size: int | None = None, show_progress: bool = False
    ) -> EncodeResult:
        """Encode rows that may each have their own task and role, sharing forward passes across tasks."""
        tasks = [self.tasks.resolve(r.task) for r in rows]
        for i, r in enumerate(rows):
            _check_text(r.text, i)
            check_role(r.role)
        prompted = [t.prompt(r.role) + r.text for r, t in zip(rows, tasks, strict=True)]
        adapter_names = [self._adapter_name(t) for t in tasks]
        use_adapter_names = bool(self._adapters)  # the backbone is a PeftModel once any adapter is loaded
        space_cache: dict[int, str] = {}
        space_ids = [space_cache.setdefault(id(t), self.space(t).id) for t in tasks]

        ids, truncated = self._tokenize(prompted)
        out = np.zeros((len(rows), self.dimension), dtype=np.float32)
        batches = list(self._batches([len(x) for x in ids], batch_size or self.batch_size))
        for batch in tqdm(batches, disable=not show_progress, desc="encode", unit="batch", leave=False):
            names = [adapter_names[i] for i in batch] if use_adapter_names else None
            out[batch] = self._forward([ids[i] for i in batch], names)
        return EncodeResult(vectors=out, truncated=truncated, space_ids=space_ids)

    def _tokenize(self, texts: list[str]) -> tuple[list[list[int]], int]:
        """Token ids per text, truncated to max_seq_length; also how many texts were cut."""
        ids: list[list[int]] = []
        truncated = 0
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            enc = self.tokenizer(
                texts[start : start + _TOKENIZE_CHUNK],
                truncation=True,
                max_length=self.max_seq_length,
                return_overflowing_tokens=True,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            mapping = enc.get("overflow_to_sample_mapping")
            if mapping is None:  # tokenizers without overflow support: lengths tell only when cut exactly
                ids.extend(enc["input_ids"])
                continue
            last = -1
            overflowed: set[int] = set()
            for row, sample in enumerate(mapping):
                if sample != last:
                    ids.append(enc["input_ids"][row])  # the first piece is the usual truncated sequence
                    last = sample
                else:
                    overflowed.add(sample)  # a second piece: this text was longer than the limit
            truncated += len(overflowed)
        return ids, truncated

    def _batches(self, lengths: list[int], batch_size: int):
        """Indices grouped longest first, bounded by rows and by padded tokens (rows x longest row)."""
        order = np.argsort(-np.asarray(lengths), kind="stable")
        budget = self.max_batch_tokens
        batch: list[int] = []
        for i in order.tolist():
            if batch and (len(batch) >= batch_size or (budget and (len(batch) + 1) * lengths[batch[0]] > budget)):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    @torch.inference_mode()
    def _forward(self, ids: list[list[int]], adapter_names: list[str] | None) -> np.ndarray:
        padded = self.tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
        input_ids = padded["input_ids"].to(self.device, non_blocking=True)
        mask = padded["attention_mask"].to(self.device, non_blocking=True)
        kwargs = {"adapter_names": adapter_names} if adapter_names is not None else {}
        with self._lock:
            hidden = self.model(input_ids=input_ids, attention_mask=mask, **kwargs).last_hidden_state
        vectors = pool(hidden, mask, self.pooling)
        if self.truncate_dim:
            vectors = vectors[:, : self.truncate_dim]
        if self.normalize or self.truncate_dim:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        return vectors.cpu().numpy()

    # ------------------------------------------------------------------------------------------------- misc
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(x) for x in self.tokenizer(list(texts), add_special_tokens=True)["input_ids"]]

    def describe(self) -> dict[str, object]:
        return {
            "model": self.model_name,
            "model_path": str(self.model_path),
            "model_fingerprint": self.model_fingerprint,
            "profile": self.profile.name,
            "prompt_source": self.profile.source,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "max_seq_length": self.max_seq_length,
            "dimension": self.dimension,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
        }


def _positive(value: int, name: str) -> int:
    if not isinstance(value, int) or value < 1:
        raise InvalidInputError(
            f"{name} must be a positive integer, got {value!r}.", field=name, fix=f"Set {name} >= 1."
        )
    return value


def _check_text(text: object, index: int) -> None:
    if not isinstance(text, str):
        raise InvalidInputError(
            f"Text #{index} is a {type(text).__name__}, not a string.",
            field=f"texts[{index}]",
            fix="Pass every text as a string.",
        )
    if not text.strip():
        raise InvalidInputError(
            f"Text #{index} is empty or only whitespace.",
            field=f"texts[{index}]",
            fix="Remove empty texts before sending them; they have no meaning to embed.",
        )
