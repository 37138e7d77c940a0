"""The embedding space of each task: the model's fingerprint, the task's prompts and adapter, and the vectors' shape.

The encoder names the spaces of its rows through ``TaskSpaces``; ``TaskSpaces.from_files`` builds the same object
from the model folder's files alone (no torch), so that ``taskvec tasks`` prints space ids without loading the
model. It returns None where the files do not settle the shape (``shape.shape_from_files``): then load the model.
"""

from __future__ import annotations

from pathlib import Path

from taskvec.engine.fingerprint import fingerprint_folder
from taskvec.engine.model_files import ModelFiles, resolve_model_path
from taskvec.engine.profiles import ModelProfile, profile_for
from taskvec.engine.shape import VectorShape, check_truncate_dim, shape_from_files
from taskvec.engine.tasks import Task, TaskRegistry
from taskvec.spaces import EmbeddingSpace


def model_fingerprint(folder: Path, *, quantized: bool) -> str:
    """The weights' fingerprint. int8 weights are other weights: their vectors live in a space of their own (the
    guard calls fp32 vectors of the same model a stale version). bf16 and fp16 run the same weights rounded and
    move no home set beyond noise, so they share the fp32 space (docs/precision.md has the figures)."""
    return fingerprint_folder(folder) + ("+int8" if quantized else "")


class TaskSpaces:
    """The spaces of every task of one model: ``space(task)`` names where its vectors live."""

    def __init__(
        self,
        *,
        model_name: str,
        fingerprint: str,
        profile: ModelProfile,
        tasks: TaskRegistry,
        shape: VectorShape,
        truncate_dim: int | None = None,
    ) -> None:
        self.model_name, self.model_fingerprint, self.profile = model_name, fingerprint, profile
        self.tasks, self.shape, self.truncate_dim = tasks, shape, truncate_dim
        self.dimension = check_truncate_dim(truncate_dim, shape.hidden_size)
        self._adapter_fingerprints: dict[Path, str] = {}

    @classmethod
    def from_files(
        cls,
        model: str | Path | None,
        *,
        tasks: TaskRegistry | None = None,
        tasks_file: Path | None = None,
        device: str = "auto",
        dtype: str = "auto",
        max_seq_length: int | None = None,
        pooling: str | None = None,
        truncate_dim: int | None = None,
    ) -> TaskSpaces | None:
        """The spaces an ``Encoder`` with these arguments would have, from the folder's files; None where the
        files do not settle them (the model must then be loaded). int8 counts only on ``device="cpu"``: elsewhere
        the device, hence whether int8 is allowed at all, is torch's to say."""
        if dtype == "int8" and device != "cpu":
            return None
        name, path = resolve_model_path(model)
        files = ModelFiles.read(path)
        profile = profile_for(name, path)
        shape = shape_from_files(files, profile, pooling=pooling, max_seq_length=max_seq_length)
        if shape is None:
            return None
        return cls(
            model_name=name,
            fingerprint=model_fingerprint(path, quantized=dtype == "int8"),
            profile=profile,
            tasks=tasks or TaskRegistry.from_profile(profile, tasks_file),
            shape=shape,
            truncate_dim=truncate_dim,
        )

    def adapter_fingerprint(self, folder: Path) -> str:
        if folder not in self._adapter_fingerprints:
            self._adapter_fingerprints[folder] = fingerprint_folder(folder)
        return self._adapter_fingerprints[folder]

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
            adapter_fingerprint=self.adapter_fingerprint(t.adapter) if t.adapter else None,
            pooling=self.shape.pooling,
            normalize=self.shape.normalize,
            max_seq_length=self.shape.max_seq_length,
            dimension=self.dimension * (2 if t.blend is not None else 1),  # taskvec.engine.blend: two halves
            truncate_dim=self.truncate_dim,
            blend=t.blend,
        )
