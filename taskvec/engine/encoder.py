"""The encoder: one frozen backbone, LoRA adapters attached by name, texts of any mix of tasks per forward pass.

Hot path, in order: prompt + text -> tokenize once (truncating, counting what was cut) -> sort by length ->
batches bounded by rows and padded tokens -> forward (per-row adapter names when adapters are loaded) ->
pool -> normalise -> back to input order. On CPU, batches run one per core at once, one torch thread each; on a
GPU, the next chunk is tokenized on worker threads while the current one runs.

This module is the public face and the order of the steps; each step lives in its own module:

* ``loading``  - device, dtype, model and tokenizer, length limit, int8, torch.compile
* ``adapters`` - LoRA adapters attached by name, per-row adapters in a mixed batch (``gate``: who may run when)
* ``tokenize`` - text checks, prompts, tokenizing with truncation counts
* ``forward``  - batching by tokens, padding, the forward pass, pooling, Matryoshka truncation, normalisation

Two ways to call it. ``encode``/``encode_rows`` return an ``EncodeResult``: vectors plus how many texts were cut
and the embedding space of each row, which the store needs. ``embed``, ``encode_query`` and ``encode_document``
return the vectors alone as a numpy float32 array, the way sentence-transformers does: one string gives one
vector of shape (dim,), a list gives (n, dim). ``encode`` keeps one return type on purpose: a result whose type
depended on how the arguments were spelled would surprise every caller that passes them the other way.

Why this module is just past ~400 lines: the public methods above, each with its argument checks; the steps
themselves are in the modules listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from taskvec.engine import forward as fwd
from taskvec.engine.adapters import BASE_ADAPTER, Adapters
from taskvec.engine.blend import blended
from taskvec.engine.loading import CompiledBackbone, load_backbone
from taskvec.engine.shape import VectorShape
from taskvec.engine.task_spaces import TaskSpaces, model_fingerprint
from taskvec.engine.tasks import Role, Task, TaskRegistry, check_role
from taskvec.engine.tokenize import TextTokenizer, check_text, tokenize_pool, with_prompts
from taskvec.errors import InvalidInputError
from taskvec.spaces import EmbeddingSpace

__all__ = ["BASE_ADAPTER", "EncodeResult", "EncodeRow", "Encoder", "PreparedRows"]

_PIPELINE_ROWS = 2048  # accelerators: rows per step of a large encode, the next step tokenized while this one runs


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

    ids: list[list[int]]  # token ids per forward row, truncated to max_seq_length
    adapter_names: list[str]  # PEFT adapter per forward row; BASE_ADAPTER where the task has none
    space_ids: list[str]  # the embedding space of each row
    truncated: int  # rows that were cut to fit
    # Blended tasks (taskvec.engine.blend): each row's adapter share; the forward rows are then the rows' bare
    # halves followed by their adapter halves, two per row. None: one forward row per row.
    shares: list[float] | None = None

    def __len__(self) -> int:
        """Forward rows: what a pass runs (twice the rows for blended tasks)."""
        return len(self.ids)

    def compose(self, vectors: np.ndarray) -> np.ndarray:
        """The rows' vectors from the forward rows' vectors (the identity unless the rows are blended)."""
        if self.shares is None:
            return vectors
        n = len(self.shares)
        return blended(vectors[:n], vectors[n:], self.shares)


class Encoder:
    """Task-aware text encoder over one frozen backbone.

    >>> enc = Encoder()                                    # bundled all-MiniLM-L6-v2, shipped adapters
    >>> enc.encode(["how do vaccines work?"], task="retrieval", role="query").vectors.shape
    (1, 384)
    >>> enc.encode_query("how do vaccines work?", task="retrieval").shape
    (384,)
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
        """``dtype="auto"`` is fp16 on CUDA, bf16 on a CPU with native bf16 (AVX512-BF16 or AMX; arm64 BF16), else
        fp32 (``loading.pick_dtype``). ``dtype="int8"`` (CPU, opt-in) quantizes the backbone's linear layers dynamically: faster, at a
        measured quality cost (docs/results/performance.md), and a space of its own. ``compile=True`` (opt-in) runs the
        backbone through ``torch.compile``: the same vectors, faster after a one-off compilation of a minute or
        more; batches with LoRA adapters stay eager."""
        self.batch_size = _positive(batch_size, "batch_size")
        self.max_batch_tokens = max_batch_tokens
        backbone = load_backbone(model, device=device, dtype=dtype, max_seq_length=max_seq_length, pooling=pooling)
        self.model_name, self.model_path, self.profile = backbone.name, backbone.path, backbone.profile
        self.device, self.dtype, self.quantized = backbone.device, backbone.dtype, backbone.quantized
        self.pooling, self.normalize = backbone.pooling, backbone.normalize
        self.tokenizer, self.max_seq_length = backbone.tokenizer, backbone.max_seq_length
        shape = VectorShape(backbone.pooling, backbone.normalize, backbone.max_seq_length, backbone.hidden_size)
        self.spaces = TaskSpaces(
            model_name=self.model_name,
            fingerprint=model_fingerprint(self.model_path, quantized=self.quantized),
            profile=self.profile,
            tasks=tasks or TaskRegistry.from_profile(self.profile, tasks_file),
            shape=shape,
            truncate_dim=truncate_dim,
        )
        self.tasks, self.model_fingerprint = self.spaces.tasks, self.spaces.model_fingerprint
        self.truncate_dim, self.dimension = truncate_dim, self.spaces.dimension
        self.compile = compile
        self.adapters = Adapters(
            backbone.model,
            quantized=self.quantized,
            fused=not self.quantized and self.dtype != torch.float32,
            fingerprint=self.spaces.adapter_fingerprint,
        )
        self.tokens = TextTokenizer(self.tokenizer, self.max_seq_length, tokenize_pool(self.device))
        # CUDA: padded widths rounded up to a multiple of 8 for the tensor cores.
        multiple = 8 if self.device.type == "cuda" else 1
        self.padding = fwd.Padding.for_tokenizer(self.tokenizer, self.device, self.max_seq_length, multiple)
        self.spec = fwd.VectorSpec(self.pooling, self.normalize, truncate_dim)
        self._compiled = CompiledBackbone()
        # CPU: forward passes that may run at once, one torch thread each (see forward.run_parallel).
        self.workers = max(1, torch.get_num_threads()) if self.device.type == "cpu" else 1

    @property
    def model(self) -> torch.nn.Module:
        """The module that runs: the backbone, wrapped in a PeftModel once an adapter is attached."""
        return self.adapters.model

    @property
    def loaded_adapters(self) -> dict[str, str]:
        return self.adapters.loaded

    # ----------------------------------------------------------------------------------------------- spaces
    def space(self, task: str | Task) -> EmbeddingSpace:
        """The embedding space that vectors of ``task`` are made in, with this model and its adapters."""
        return self.spaces.space(task)

    # ------------------------------------------------------------------------------------------ array API
    def embed(
        self,
        texts: str | Sequence[str],
        task: str | Task = "retrieval",
        role: Role = "document",
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Vectors of ``texts`` for ``task`` and ``role`` as float32: shape (dim,) for one string, (n, dim) for a
        list. Use ``encode`` for the truncation count and the space of each row."""
        single = isinstance(texts, str)
        batch = [texts] if single else texts
        vectors = self.encode(batch, task, role, batch_size=batch_size, show_progress=show_progress).vectors
        return vectors[0] if single else vectors

    def encode_query(
        self,
        texts: str | Sequence[str],
        task: str | Task = "retrieval",
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> np.ndarray:
        """``embed`` with the task's query prompt: what to search with."""
        return self.embed(texts, task, "query", batch_size=batch_size, show_progress=show_progress)

    def encode_document(
        self,
        texts: str | Sequence[str],
        task: str | Task = "retrieval",
        *,
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> np.ndarray:
        """``embed`` with the task's document prompt: what to index (symmetric tasks use it on both sides)."""
        return self.embed(texts, task, "document", batch_size=batch_size, show_progress=show_progress)

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
                fix="Wrap the text in a list: [text], or call embed()/encode_query()/encode_document().",
            )
        if isinstance(texts, bytes | Mapping) or not isinstance(texts, Iterable):
            raise InvalidInputError(
                f"texts must be a list of strings, not a {type(texts).__name__}.",
                field="texts",
                fix="Pass the texts as a list of strings.",
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
        if batch_size is not None:
            _positive(batch_size, "batch_size")
        tasks = self._check_rows(rows)
        step = _PIPELINE_ROWS if self.tokens.pool is not None else max(len(rows), 1)
        bounds = [(a, min(a + step, len(rows))) for a in range(0, len(rows), step)]
        halves = 2 if tasks and tasks[0].blend is not None else 1  # _check_rows: all blended or none
        out = np.zeros((len(rows), self.dimension * halves), dtype=np.float32)
        truncated = 0
        space_ids: list[str] = []
        with (
            tqdm(total=len(rows) * halves, disable=not show_progress, desc="encode", unit="pass", leave=False) as bar,
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
                out[a:b] = prepared.compose(self.encode_prepared(prepared, batch_size=batch_size, progress=bar.update))
                truncated += prepared.truncated
                space_ids.extend(prepared.space_ids)
        return EncodeResult(vectors=out, truncated=truncated, space_ids=space_ids)

    def prepare(self, rows: Sequence[EncodeRow]) -> PreparedRows:
        """Check, prompt and tokenize ``rows`` (loading their adapters) without touching the forward lock."""
        return self._prepare_checked(rows, self._check_rows(rows))

    def _check_rows(self, rows: Sequence[EncodeRow]) -> list[Task]:
        tasks = [self.tasks.resolve(r.task) for r in rows]
        for i, r in enumerate(rows):
            check_text(r.text, i)
            check_role(r.role)
        distinct = {id(t): t for t in tasks}.values()  # a call's rows share a few Task objects: check each once
        if len({t.blend is None for t in distinct}) > 1:
            wide = sorted({t.name for t in distinct if t.blend is not None})
            raise InvalidInputError(
                f"Tasks {', '.join(map(repr, wide))} are blended (vectors of twice the width) and cannot share one "
                "call with the other tasks' rows.",
                field="task",
                fix="Encode the blended tasks' texts in a call of their own (taskvec.engine.blend).",
            )
        if unpaired := sorted({t.name for t in distinct if t.blend is not None and t.adapter is None}):
            raise InvalidInputError(
                f"Task {unpaired[0]!r} has a blend share but no adapter.", field="task", fix="Give it an adapter."
            )
        return tasks

    def _prepare_checked(self, rows: Sequence[EncodeRow], tasks: Sequence[Task]) -> PreparedRows:
        texts = [r.text for r in rows]
        prompted = with_prompts(texts, [t.prompt(r.role) for r, t in zip(rows, tasks, strict=True)])
        adapter_names = [self.adapters.name_for(t) for t in tasks]
        space_cache: dict[int, str] = {}
        space_ids = [space_cache.setdefault(id(t), self.space(t).id) for t in tasks]
        ids, truncated = self.tokens(prompted)
        if not tasks or tasks[0].blend is None:
            return PreparedRows(ids=ids, adapter_names=adapter_names, space_ids=space_ids, truncated=truncated)
        bare_ids, _ = self.tokens(texts)  # the bare halves: no prompt, no adapter (taskvec.engine.blend)
        return PreparedRows(
            ids=bare_ids + ids,
            adapter_names=[BASE_ADAPTER] * len(rows) + adapter_names,
            space_ids=space_ids,
            truncated=truncated,
            shares=[float(t.blend) for t in tasks if t.blend is not None],
        )

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
            parts = fwd.run_parallel(run, batches, self.workers)
        else:
            parts = [run(batch) for batch in batches]
        out = np.empty((len(prepared), self.dimension), dtype=np.float32)
        out[[i for batch in batches for i in batch]] = torch.cat(parts).cpu().numpy()
        return out

    def batches(self, lengths: Sequence[int], batch_size: int | None = None) -> Iterator[list[int]]:
        """Indices grouped longest first, bounded by rows and by padded tokens (rows x longest row)."""
        return fwd.batches(lengths, batch_size or self.batch_size, self.max_batch_tokens)

    def fits(self, rows: int, longest: int, batch_size: int | None = None) -> bool:
        """Whether ``rows`` rows padded to ``longest`` tokens fit one forward pass (rows and token budget)."""
        return fwd.fits(rows, longest, batch_size or self.batch_size, self.max_batch_tokens)

    @torch.inference_mode()
    def forward(self, ids: Sequence[Sequence[int]], adapter_names: Sequence[str] | None = None) -> torch.Tensor:
        """Pooled (normalised) float32 vectors of one batch of token ids, left on the model's device.

        ``adapter_names`` gives each row's PEFT adapter (``BASE_ADAPTER`` for none). Whether to pass them is
        decided inside the gate, which adapter loads hold alone: a batch prepared before the first adapter
        arrived still runs its rows without one. Several threads may run forward passes at once.
        """
        with self.adapters.gate.shared():
            order = self.adapters.order(adapter_names)  # fused LoRA: each adapter's rows side by side
            if order is not None:
                assert adapter_names is not None
                ids, adapter_names = [ids[i] for i in order], [adapter_names[i] for i in order]
            input_ids, mask = self.padding(ids)
            with self.adapters.rows(adapter_names, len(ids)) as model:
                if self.compile and not len(self.adapters):  # batches with LoRA adapters stay eager
                    model = self._compiled(model)
                vectors = fwd.embed(model, input_ids, mask, self.spec, threads=fwd.pass_threads(input_ids))
        if order is None:
            return vectors
        out = torch.empty_like(vectors)
        out[torch.as_tensor(order, device=vectors.device)] = vectors
        return out

    # ------------------------------------------------------------------------------------------------- misc
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.tokens.count(texts)

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


def _positive(value: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInputError(
            f"{name} must be a positive integer, got {value!r}.", field=name, fix=f"Set {name} >= 1."
        )
    return value
