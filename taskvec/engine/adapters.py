"""LoRA adapters attached by name to one shared backbone, and how each row of a batch picks its own.

A task's adapter is loaded on the task's first use and kept: the backbone is wrapped in a ``PeftModel`` once, and
every later adapter joins it under its own name, so one model in memory serves every task. A forward pass may mix
tasks: each row names its adapter, ``BASE_ADAPTER`` for rows that should see none.

In a bf16 or fp16 forward the LoRA layers run taskvec's own forward (``taskvec.engine.lora``): one GEMM per
adapter's rows, with the adapter merged for the call, instead of PEFT's gathered fp32 side path. fp32 keeps PEFT's.

PEFT caveat: mixed-adapter batches need the model in eval mode and adapters that are not merged into the base
weights. PEFT's own ``model(..., adapter_names=...)`` passes the names through hooks it registers on the shared
modules for the length of one call, so two threads' passes would see each other's names. Here every LoRA layer
gets one permanent pre-hook that reads the names from a thread-local instead (``rows``): concurrent mixed-adapter
passes are safe, and PEFT's per-call scan of every module is skipped.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from taskvec.engine import lora
from taskvec.engine.fingerprint import fingerprint_folder
from taskvec.engine.gate import SharedGate
from taskvec.engine.lora import BASE_ADAPTER
from taskvec.engine.tasks import Task
from taskvec.errors import ModelLoadError

__all__ = ["BASE_ADAPTER", "Adapters"]

# PEFT asks transformers' deprecated is_gradient_checkpointing on every adapter load: only that warning is muted.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

_row_adapters = threading.local()  # .names: the adapter of each row of the forward pass running on this thread


class Adapters:
    """The backbone and the adapters attached to it, by folder; loads take ``gate`` alone (see taskvec.engine.gate).

    ``model`` is the module to run: the plain backbone until the first adapter arrives, then its ``PeftModel``.
    ``fused``: run LoRA layers through ``taskvec.engine.lora`` (bf16/fp16 forwards; fp32 keeps PEFT's path).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        quantized: bool = False,
        fused: bool = False,
        fingerprint: Callable[[Path], str] = fingerprint_folder,
    ) -> None:
        self.model = model
        self.fingerprint = fingerprint  # an adapter folder's weights (the encoder's spaces cache them)
        self.gate = SharedGate()  # forward passes share the model; an adapter load has it alone
        self._quantized = quantized
        self.fused = fused
        self._names: dict[Path, str] = {}  # adapter folder -> PEFT adapter name
        self._lock = threading.RLock()  # one adapter load at a time

    def __len__(self) -> int:
        return len(self._names)

    @property
    def loaded(self) -> dict[str, str]:
        """Adapter folder -> PEFT name, for every adapter attached so far."""
        return {str(path): name for path, name in self._names.items()}

    def name_for(self, task: Task) -> str:
        """Attach ``task``'s adapter to the backbone once; return its PEFT name (``BASE_ADAPTER`` for none)."""
        if task.adapter is None:
            return BASE_ADAPTER
        folder = task.adapter
        if folder in self._names:
            return self._names[folder]
        if self._quantized:
            raise ModelLoadError(
                f"Task {task.name!r} has a LoRA adapter, and the int8 backbone cannot take adapters.",
                field="dtype",
                fix="Serve adapter tasks with dtype fp32, or use this task without its adapter.",
            )
        with self._lock, self.gate.exclusive():  # waits for running forward passes, holds off new ones
            if folder in self._names:
                return self._names[folder]
            name = f"a{len(self._names)}_{self.fingerprint(folder)}"
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
            if self.fused:
                lora.install(self.model)
            self._names[folder] = name
            return name

    def order(self, names: Sequence[str] | None) -> list[int] | None:
        """The row order a forward pass should run ``names`` in: each adapter's rows side by side, which the fused
        LoRA layers need for one GEMM per adapter; None to keep the given order."""
        if not self.fused or not self._names or names is None:
            return None
        return lora.adapter_order(names)

    @contextmanager
    def rows(self, names: Sequence[str] | None, count: int) -> Iterator[torch.nn.Module]:
        """The model to run for ``count`` rows with adapters ``names`` (None: all ``BASE_ADAPTER``), their names
        visible to the LoRA layers on this thread only. Enter it inside ``gate.shared()``: the model and the set of
        adapters must not change between choosing and running."""
        if not self._names:  # no LoRA layers yet: nothing reads the names
            yield self.model
            return
        _row_adapters.names = list(names) if names is not None else [BASE_ADAPTER] * count
        try:
            yield self.model
        finally:
            _row_adapters.names = None


def _inject_row_adapters(module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    names = getattr(_row_adapters, "names", None)
    if names is not None:
        kwargs["adapter_names"] = names
    return args, kwargs


def _hook_adapter_layers(model: torch.nn.Module) -> None:
    """Give every LoRA layer (once) a pre-hook that passes it this thread's per-row adapter names."""
    from peft.tuners.lora import LoraLayer
    from peft.utils import AuxiliaryTrainingWrapper

    for module in model.modules():
        if isinstance(module, LoraLayer | AuxiliaryTrainingWrapper) and not getattr(module, "_taskvec_hooked", False):
            module.register_forward_pre_hook(_inject_row_adapters, with_kwargs=True)
            module._taskvec_hooked = True
