"""The encoder: one frozen backbone, LoRA adapters attached by name, texts of any mix of tasks per forward pass.

Hot path, in order: prompt + text -> tokenize once (truncating, counting what was cut) -> sort by length ->
batches bounded by rows and padded tokens -> forward (per-row adapter names when adapters are loaded) ->
pool -> normalise -> back to input order. On CPU, batches run one per core at once, one torch thread each; on a
GPU, the next chunk is tokenized on worker threads while the current one runs.

PEFT caveat: mixed-adapter batches need the model in eval mode and adapters that are not merged into the base
weights; rows that should see no adapter use PEFT's reserved name ``"__base__"``. The per-row names reach the LoRA
layers through a thread-local (``_hook_adapter_layers``), not PEFT's per-call hooks, so passes may run at once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
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
_PIPELINE_ROWS = 2048  # accelerators: rows per step of a large encode, the next step tokenized while this one runs
_TOKENIZE_SLICE = 64  # accelerators: texts per tokenizing task, so a step's tokens are ready in a few ms
# CPU: forward passes of at most this many padded tokens (queries, a few short texts) run on one thread. Splitting
# a pass that small over cores costs more in synchronisation than it saves, and on a busy machine every OpenMP
# barrier waits for a descheduled thread: measured here at load ~6.6 on 2 cores, one query took a median 34-41 ms
# on one thread against 167-808 ms on two. Larger passes keep every core.
_SMALL_PASS_TOKENS = 1024


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


@dataclass
class PreparedRows:
    """Rows checked, prompted and tokenized: all a forward pass needs, made outside the forward lock.

    The batching queue prepares each caller's rows on the caller's own thread, so tokenizing (and refusing bad
    input) never stalls the one thread that runs forward passes, and a bad request fails alone.
    """

    ids: list[list[int]]  # token ids per row, truncated to max_seq_length
    adapter_names: list[str]  # PEFT adapter per row; BASE_ADAPTER where the task has none
    space_ids: list[str]  # the embedding space of each row
    truncated: int  # rows that were cut to fit

    def __len__(self) -> int:
        return len(self.ids)


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
            f"Unknown dtype {dtype!r}.", field="dtype", fix="Use auto, fp32, fp16, bf16, or int8 on CPU."
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
        compile: bool = False,
    ) -> None:
        """``dtype="int8"`` (CPU, opt-in) quantizes the backbone's linear layers dynamically: faster, at a
        measured quality cost (docs/performance.md), and a space of its own. ``compile=True`` (opt-in) runs the
        backbone through ``torch.compile``: the same vectors, faster after a one-off compilation of a minute or
        more; batches with LoRA adapters stay eager."""
        from transformers import AutoModel, AutoTokenizer

        self.model_name, self.model_path = resolve_model_path(model)
        files = ModelFiles.read(self.model_path)
        self.profile: ModelProfile = profile_for(self.model_name, self.model_path)
        self.pooling = pooling or files.pooling or self.profile.pooling
        self.normalize = files.normalize if files.normalize is not None else self.profile.normalize
        self.device = pick_device(device)
        self.quantized = dtype == "int8"
        if self.quantized and self.device.type != "cpu":
            raise InvalidInputError(
                f"dtype int8 is a CPU variant; the device is {self.device}.",
                field="dtype",
                fix="Use fp16 or bf16 on accelerators, or device=cpu.",
            )
        self.dtype = pick_dtype(self.device, "fp32" if self.quantized else dtype)
        self.compile = compile
        self._compiled: tuple[torch.nn.Module, torch.nn.Module] | None = None  # (model, its compiled wrapper)
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
        self._pad_id = int(self.tokenizer.pad_token_id or 0)
        model_limit = min(
            int(getattr(backbone.config, "max_position_embeddings", 512) or 512),
            int(self.tokenizer.model_max_length) if self.tokenizer.model_max_length < 1e9 else 1 << 30,
        )
        self.max_seq_length = min(max_seq_length or files.max_seq_length or self.profile.max_seq_length, model_limit)
        self._backend = _truncating_backend(self.tokenizer, self.max_seq_length)
        self._tokenize_pool = _tokenize_pool(self.device)
        self.model = backbone.to(self.device).eval()
        self.model.requires_grad_(False)
        self.model_fingerprint = fingerprint_folder(self.model_path)
        if self.quantized:
            self.model = _quantize_int8(self.model)
            # int8 weights are other weights: vectors made with them live in a space of their own (the guard
            # calls fp32 vectors of the same model a stale version, and indexing again replaces them).
            self.model_fingerprint += "+int8"
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
        self._lock = threading.RLock()  # one adapter load at a time
        self._gate = SharedGate()  # forward passes share the model; an adapter load has it alone
        # CPU: forward passes that may run at once, one torch thread each (see encode_prepared).
        self.workers = max(1, torch.get_num_threads()) if self.device.type == "cpu" else 1

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
        if self.quantized:
            raise ModelLoadError(
                f"Task {task.name!r} has a LoRA adapter, and the int8 backbone cannot take adapters.",
                field="dtype",
                fix="Serve adapter tasks with dtype fp32, or use this task without its adapter.",
            )
        with self._lock, self._gate.exclusive():  # waits for running forward passes, holds off new ones
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
            _hook_adapter_layers(self.model)
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
        """Encode rows that may each have their own task and role, sharing forward passes across tasks.

        Every row is checked before any work starts. Large inputs are tokenized in chunks on worker threads
        while earlier chunks run through the model (the fast tokenizer releases the GIL), so on a GPU the
        tokenizer does not leave the device idle.
        """
        tasks = self._check_rows(rows)
        step = _PIPELINE_ROWS if self._tokenize_pool is not None else max(len(rows), 1)
        bounds = [(a, min(a + step, len(rows))) for a in range(0, len(rows), step)]
        out = np.zeros((len(rows), self.dimension), dtype=np.float32)
        truncated = 0
        space_ids: list[str] = []
        with (
            tqdm(total=len(rows), disable=not show_progress, desc="encode", unit="text", leave=False) as bar,
            ThreadPoolExecutor(max_workers=1) if len(bounds) > 1 else nullcontext() as ahead,
        ):

            def prepare(k: int) -> Future[PreparedRows] | PreparedRows:
                a, b = bounds[k]
                if ahead is None:
                    return self._prepare_checked(rows[a:b], tasks[a:b])
                return ahead.submit(self._prepare_checked, rows[a:b], tasks[a:b])

            coming = prepare(0) if bounds else None
            for k, (a, b) in enumerate(bounds):
                prepared = coming.result() if isinstance(coming, Future) else coming
                coming = prepare(k + 1) if k + 1 < len(bounds) else None  # tokenized while this chunk runs
                out[a:b] = self.encode_prepared(prepared, batch_size=batch_size, progress=bar.update)
                truncated += prepared.truncated
                space_ids.extend(prepared.space_ids)
        return EncodeResult(vectors=out, truncated=truncated, space_ids=space_ids)

    def prepare(self, rows: Sequence[EncodeRow]) -> PreparedRows:
        """Check, prompt and tokenize ``rows`` (loading their adapters) without touching the forward lock."""
        return self._prepare_checked(rows, self._check_rows(rows))

    def _check_rows(self, rows: Sequence[EncodeRow]) -> list[Task]:
        tasks = [self.tasks.resolve(r.task) for r in rows]
        for i, r in enumerate(rows):
            _check_text(r.text, i)
            check_role(r.role)
        return tasks

    def _prepare_checked(self, rows: Sequence[EncodeRow], tasks: Sequence[Task]) -> PreparedRows:
        prompted = [t.prompt(r.role) + r.text for r, t in zip(rows, tasks, strict=True)]
        adapter_names = [self._adapter_name(t) for t in tasks]
        space_cache: dict[int, str] = {}
        space_ids = [space_cache.setdefault(id(t), self.space(t).id) for t in tasks]
        ids, truncated = self._tokenize(prompted)
        return PreparedRows(ids=ids, adapter_names=adapter_names, space_ids=space_ids, truncated=truncated)

    def encode_prepared(
        self,
        prepared: PreparedRows,
        *,
        batch_size: int | None = None,
        progress: Callable[[int], object] | None = None,
    ) -> np.ndarray:
        """Vectors of prepared rows, in their order: length-sorted batches, one host copy at the end.

        Batch results stay on the device until every batch is queued, so a GPU never waits for the host
        between batches (on CPU the final copy is free).
        """
        if not len(prepared):
            return np.zeros((0, self.dimension), dtype=np.float32)
        batches = list(self.batches([len(x) for x in prepared.ids], batch_size or self.batch_size))

        def run(batch: list[int]) -> torch.Tensor:
            vectors = self.forward([prepared.ids[i] for i in batch], [prepared.adapter_names[i] for i in batch])
            if progress is not None:
                progress(len(batch))
            return vectors

        if self.workers > 1 and len(batches) > 1:
            parts = self._parallel(run, batches)
        else:
            parts = [run(batch) for batch in batches]
        out = np.empty((len(prepared), self.dimension), dtype=np.float32)
        out[[i for batch in batches for i in batch]] = torch.cat(parts).cpu().numpy()
        return out

    def _parallel(self, run: Callable[[list[int]], torch.Tensor], batches: list[list[int]]) -> list[torch.Tensor]:
        """CPU: ``self.workers`` batches at once, each on one torch thread, instead of one batch on all threads.

        Every operator of a forward pass ends in a barrier where all its threads wait for the slowest; passes on
        one thread each have none, and keep every core busy just the same. On a machine that other jobs share,
        where a waiting thread is often descheduled, this is the difference between using the cores and waiting
        for them (docs/performance.md has the figures).
        """
        threads = torch.get_num_threads()
        try:
            with ThreadPoolExecutor(self.workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
                return list(pool.map(run, batches))
        finally:
            torch.set_num_threads(threads)  # the pool set MKL's process-wide count to 1: give it back

    def _tokenize(self, texts: list[str]) -> tuple[list[list[int]], int]:
        """Token ids per text, truncated to max_seq_length; also how many texts were cut.

        Calls a private copy of the Rust tokenizer when there is one: the same ids as the transformers wrapper,
        without its per-row Python bookkeeping, and safe to call from several threads at once.
        """
        if self._backend is not None:
            if self._tokenize_pool is not None and len(texts) > _TOKENIZE_SLICE:
                slices = [texts[a : a + _TOKENIZE_SLICE] for a in range(0, len(texts), _TOKENIZE_SLICE)]
                encodings = [e for part in self._tokenize_pool.map(self._backend.encode_batch, slices) for e in part]
            else:
                encodings = self._backend.encode_batch(texts)
            return [e.ids for e in encodings], sum(1 for e in encodings if e.overflowing)
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

    def batches(self, lengths: Sequence[int], batch_size: int | None = None) -> Iterator[list[int]]:
        """Indices grouped longest first, bounded by rows and by padded tokens (rows x longest row)."""
        batch_size = batch_size or self.batch_size
        order = np.argsort(-np.asarray(lengths), kind="stable")
        batch: list[int] = []
        for i in order.tolist():
            if batch and not self.fits(len(batch) + 1, lengths[batch[0]], batch_size):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def fits(self, rows: int, longest: int, batch_size: int | None = None) -> bool:
        """Whether ``rows`` rows padded to ``longest`` tokens fit one forward pass (rows and token budget)."""
        budget = self.max_batch_tokens
        return rows <= (batch_size or self.batch_size) and not (budget and rows > 1 and rows * longest > budget)

    @torch.inference_mode()
    def forward(self, ids: Sequence[Sequence[int]], adapter_names: Sequence[str] | None = None) -> torch.Tensor:
        """Pooled (normalised) float32 vectors of one batch of token ids, left on the model's device.

        ``adapter_names`` gives each row's PEFT adapter (``BASE_ADAPTER`` for none). Whether to pass them is
        decided inside the gate, which adapter loads hold alone: a batch prepared before the first adapter
        arrived still runs its rows without one. Several threads may run forward passes at once.
        """
        input_ids, mask = self._pad(ids)
        with self._gate.shared():
            model = self.model
            if self._adapters:  # each LoRA layer reads this thread's row adapters (see _hook_adapter_layers)
                _row_adapters.names = list(adapter_names) if adapter_names is not None else [BASE_ADAPTER] * len(ids)
            elif self.compile:
                model = self._compiled_model()
            threads = torch.get_num_threads()
            small = self.device.type == "cpu" and input_ids.numel() <= _SMALL_PASS_TOKENS and threads > 1
            if small:
                torch.set_num_threads(1)  # process-wide, so restored right after (it costs well under a microsecond)
            try:
                hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            finally:
                _row_adapters.names = None
                if small:
                    torch.set_num_threads(threads)
        vectors = pool(hidden, mask, self.pooling)
        if self.truncate_dim:
            vectors = vectors[:, : self.truncate_dim]
        if self.normalize or self.truncate_dim:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        return vectors

    def _compiled_model(self) -> torch.nn.Module:
        """The backbone under ``torch.compile`` (dynamic shapes: one graph for every batch size and length)."""
        if self._compiled is None or self._compiled[0] is not self.model:
            self._compiled = (self.model, torch.compile(self.model, dynamic=True))
        return self._compiled[1]

    def _pad(self, ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ids and attention mask on the device. On CUDA: widths rounded up to a multiple of 8 for the
        tensor cores (right padding only: left padding would shift positions), and a pinned, asynchronous copy."""
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        width = int(lengths.max())
        left = self.tokenizer.padding_side == "left"
        cuda = self.device.type == "cuda"
        if cuda and not left:
            width = min(-(-width // 8) * 8, max(width, self.max_seq_length))
        input_ids = np.full((len(ids), width), self._pad_id, dtype=np.int64)
        for i, row in enumerate(ids):
            if left:
                input_ids[i, width - len(row) :] = row
            else:
                input_ids[i, : len(row)] = row
        positions = np.arange(width)
        mask = (positions >= width - lengths[:, None]) if left else (positions < lengths[:, None])
        ids_t, mask_t = torch.from_numpy(input_ids), torch.from_numpy(mask.astype(np.int64))
        if cuda:
            return (
                ids_t.pin_memory().to(self.device, non_blocking=True),
                mask_t.pin_memory().to(self.device, non_blocking=True),
            )
        return ids_t.to(self.device), mask_t.to(self.device)

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
            "dtype": "int8" if self.quantized else str(self.dtype).removeprefix("torch."),
            "compile": self.compile,
        }


_row_adapters = threading.local()  # .names: the adapter of each row of the forward pass running on this thread


def _inject_row_adapters(module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    names = getattr(_row_adapters, "names", None)
    if names is not None:
        kwargs["adapter_names"] = names
    return args, kwargs


def _hook_adapter_layers(model: torch.nn.Module) -> None:
    """Give every LoRA layer a pre-hook that passes it this thread's per-row adapter names.

    PEFT's own ``model(..., adapter_names=...)`` does the same with hooks it registers on the shared modules for
    the length of one call, so two threads' forward passes would see each other's names. A thread-local makes
    concurrent mixed-adapter passes safe (and skips PEFT's per-call scan of every module).
    """
    from peft.tuners.lora import LoraLayer
    from peft.utils import AuxiliaryTrainingWrapper

    for module in model.modules():
        if isinstance(module, LoraLayer | AuxiliaryTrainingWrapper) and not getattr(module, "_taskvec_hooked", False):
            module.register_forward_pre_hook(_inject_row_adapters, with_kwargs=True)
            module._taskvec_hooked = True


class SharedGate:
    """Many holders at once (forward passes, which only read the model) or one alone (an adapter load, which
    changes it). A waiting exclusive holder keeps new shared ones out, so a load is never starved."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._waiting:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if not self._shared:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._exclusive or self._shared:
                self._cond.wait()
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


def _quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantization of every linear layer, with a scale per output channel: per-tensor scales lost
    more on STS-B (Spearman 0.801 against 0.810 per channel; fp32 0.824)."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def _truncating_backend(tokenizer: object, max_length: int) -> object | None:
    """A private copy of the fast tokenizer's Rust core, set to truncate like ``tokenizer(truncation=True)``.

    A copy, because the transformers wrapper re-configures its own core on every call: sharing it between
    threads would race. ``None`` for slow (pure Python) tokenizers, which keep the wrapper path.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    from tokenizers import Tokenizer

    core = Tokenizer.from_str(backend.to_str())
    core.no_padding()
    core.enable_truncation(max_length, stride=0, strategy="longest_first", direction=tokenizer.truncation_side)
    return core


def _tokenize_pool(device: torch.device) -> ThreadPoolExecutor | None:
    """Threads that tokenize slices of a large input in parallel (the Rust tokenizer releases the GIL), for
    accelerators only: there the forward pass is fast enough that one tokenizing thread would leave the device
    idle. On CPU the forward pass costs far more than tokenizing, and the cores are better left to torch."""
    threads = (os.cpu_count() or 1) - 1
    if device.type == "cpu" or threads < 2:
        return None
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="taskvec-tokenize")


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
