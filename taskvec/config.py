"""Settings: flags > environment (``TASKVEC_*``) > the TOML file (``TASKVEC_CONFIG`` or ./taskvec.toml) > defaults.

The same TOML file may also define tasks under ``[tasks.NAME]`` (see ``taskvec.engine.tasks``)::

    store = "~/corpora/lancedb"
    model = "BAAI/bge-small-en-v1.5"

    [tasks.support-tickets]
    kind = "classification"
    prompt = "ticket: "
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from taskvec.errors import InvalidInputError
from taskvec.options import DEFAULT_CHUNKING, DEFAULT_LIMITS, ChunkingOptions, DocumentLimits
from taskvec.store.indexes import VectorIndexKind

if TYPE_CHECKING:
    from taskvec.engine import Encoder
    from taskvec.engine.task_spaces import TaskSpaces
    from taskvec.store import Store

_BYTE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_BYTE_UNITS |= {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_bytes(value: Any) -> Any:
    """'2GiB', '512 MB', '1000000' -> bytes; anything else is left for pydantic to refuse with its message."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower().replace(" ", "")
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number) :]
    if unit not in _BYTE_UNITS:
        raise ValueError(f"unknown unit {unit!r}: use B, KB, MB, GB, KiB, MiB or GiB (e.g. 2GiB)")
    try:
        return int(float(number) * _BYTE_UNITS[unit])
    except ValueError:
        raise ValueError(f"{value!r} is not a size: write a number of bytes or e.g. 2GiB") from None


def default_store_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "taskvec" / "lancedb"


def config_file_path() -> Path | None:
    explicit = os.environ.get("TASKVEC_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InvalidInputError(
                f"TASKVEC_CONFIG points to {str(path)!r}, which is not a file.",
                field="TASKVEC_CONFIG",
                fix="Fix the path or unset the variable.",
            )
        return path
    local = Path("taskvec.toml")
    return local.resolve() if local.is_file() else None


def read_config_file(path: Path) -> dict[str, Any]:
    """The TOML file's tables, or an error that says where it is broken and how to get past it."""
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"{path} is not valid TOML: {exc}.",
            field="TASKVEC_CONFIG",
            fix=f"Repair {path.name} (taskvec reads ./taskvec.toml of the folder it runs in), or run from another "
            "folder, or set TASKVEC_CONFIG to another file.",
        ) from exc


class _TomlSource(PydanticBaseSettingsSource):
    """Top-level keys of the TOML file; the ``[tasks]`` tables belong to the task registry."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = config_file_path()
        self.data: dict[str, Any] = {}
        if path:
            self.data = {k: v for k, v in read_config_file(path).items() if k != "tasks"}
            _check_known_keys(self.data, path)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k in self.settings_cls.model_fields}


class EngineSettings(BaseSettings):
    """The model and how it runs: what decides the vectors and how fast they come."""

    model: str | None = Field(default=None, description="Model folder or hub id; unset = bundled all-MiniLM-L6-v2")
    tasks_file: Path | None = Field(default=None, description="TOML file of extra or overridden tasks")
    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:1, mps")
    dtype: str = Field(
        default="auto",
        description=(
            "auto (fp16 on CUDA, bf16 on a CPU with native bf16, else fp32), fp32 (exact: sentence-transformers' "
            "vectors), fp16, bf16; int8 (CPU, opt-in, costs quality)"
        ),
    )
    compile: bool = Field(default=False, description="Run the backbone through torch.compile (opt-in; slow start)")
    batch_size: int = Field(default=32, ge=1, le=4096, description="Rows per forward pass")
    max_batch_tokens: int | None = Field(default=16384, ge=1, description="Padded tokens per forward pass")
    truncate_dim: int | None = Field(default=None, ge=1, description="Matryoshka: keep the first N dimensions")
    batch_wait_ms: float = Field(default=2.0, ge=0, description="How long a lone request waits for company")
    query_cache_size: int = Field(default=1024, ge=0, description="Query embeddings kept (LRU), keyed by space")

    @field_validator("tasks_file")
    @classmethod
    def _tasks_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"tasks file {str(value)!r} does not exist")
        return Path(value).expanduser() if value else None

    def effective_tasks_file(self) -> Path | None:
        """The tasks file: the explicit one, else the config file when it defines [tasks]."""
        if self.tasks_file:
            return self.tasks_file
        path = config_file_path()
        if path and "tasks" in read_config_file(path):
            return path
        return None

    def build_encoder(self) -> Encoder:
        """The encoder these settings describe (torch is imported here, not when settings are read)."""
        from taskvec.engine import Encoder

        return Encoder(**self.encoder_options())

    def encoder_options(self) -> dict[str, Any]:
        """``Encoder``'s keyword arguments, plain values: what a Ray worker builds its own encoder from."""
        return {
            "model": self.model,
            "tasks_file": self.effective_tasks_file(),
            "device": self.device,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "max_batch_tokens": self.max_batch_tokens,
            "truncate_dim": self.truncate_dim,
            "compile": self.compile,
        }

    def task_spaces_from_files(self) -> TaskSpaces | None:
        """The spaces of every task the encoder would have, from the model folder's files (no torch); None where
        the files do not settle them and the encoder must load (``TaskSpaces.from_files``)."""
        from taskvec.engine.task_spaces import TaskSpaces

        return TaskSpaces.from_files(
            self.model,
            tasks_file=self.effective_tasks_file(),
            device=self.device,
            dtype=self.dtype,
            truncate_dim=self.truncate_dim,
        )


class StoreSettings(BaseSettings):
    """Where the vectors live and how searches over them are answered."""

    store: str = Field(
        default_factory=lambda: str(default_store_path()),
        description="LanceDB folder or URI (s3://, gs://, db:// ...); under $XDG_DATA_HOME when that is set",
    )
    ann_threshold: int = Field(
        default=100_000,
        ge=256,
        description="Rows before searches go through an ANN index (in memory per space, LanceDB's per collection)",
    )
    memory_budget: Annotated[int | None, BeforeValidator(parse_bytes)] = Field(
        default=None,
        ge=0,
        description="Bytes of vectors one process holds for unfiltered searches (e.g. 2GiB); unset = 1/4 of RAM; "
        "0 = LanceDB answers every search",
    )
    vector_index: VectorIndexKind = Field(
        default="IVF_HNSW_SQ",
        description="LanceDB's ANN index: IVF_HNSW_SQ (8 bits a dimension), IVF_PQ or IVF_RQ (binary) for "
        "smaller indexes at a recall cost (docs/results/compression.md)",
    )

    def build_store(self, *, read_only: bool = False) -> Store:
        """The store these settings describe (``read_only``: every write refused, for TASKVEC_READ_ONLY)."""
        from taskvec.store import IndexPolicy, Store

        indexes = IndexPolicy(vector_index=self.vector_index, vector_min_rows=self.ann_threshold)
        return Store(
            self.store,
            ann_threshold=self.ann_threshold,
            memory_budget=self.memory_budget,
            indexes=indexes,
            read_only=read_only,
        )


class CallSettings(BaseSettings):
    """How much one call may bring and how its documents are cut (defaults: `taskvec/options.py`)."""

    max_documents: int = Field(
        default=DEFAULT_LIMITS.max_documents, ge=1, description="Documents or texts accepted in one call"
    )
    max_text_bytes: int = Field(
        default=DEFAULT_LIMITS.max_text_bytes, ge=1, description="UTF-8 bytes of text in one document"
    )
    max_call_bytes: int = Field(
        default=DEFAULT_LIMITS.max_call_bytes,
        ge=1,
        description="Bytes of text and metadata in one tool call (bounds a call's memory on every transport)",
    )
    chunk_tokens: int | None = Field(
        default=DEFAULT_CHUNKING.max_tokens, ge=16, description="Chunk size in tokens; unset = the model's limit"
    )
    chunk_overlap: int = Field(
        default=DEFAULT_CHUNKING.overlap, ge=0, description="Tokens shared by consecutive chunks"
    )
    default_collection: str | None = Field(
        default=None,
        description="Collection used when a tool call or command names none (the tools' collection argument "
        "becomes optional; drop_collection always names one)",
    )

    @field_validator("default_collection")
    @classmethod
    def _collection_name(cls, value: str | None) -> str | None:
        if value is not None:
            from taskvec.store.catalog import COLLECTION_NAME

            if not COLLECTION_NAME.fullmatch(value):
                raise ValueError(
                    "a collection name is 1-64 letters, digits, '_' or '-', starting with a letter or digit"
                )
        return value

    def document_limits(self) -> DocumentLimits:
        return DocumentLimits(self.max_documents, self.max_text_bytes, self.max_call_bytes)

    def chunking(self) -> ChunkingOptions:
        return ChunkingOptions(max_tokens=self.chunk_tokens, overlap=self.chunk_overlap)


class ServerSettings(BaseSettings):
    """The MCP server: its transports, their protection, and the tools it offers."""

    host: str = Field(default="127.0.0.1", description="HTTP transports: address to bind")
    port: int = Field(default=8765, ge=1, le=65535, description="HTTP transports: port")
    token: str | None = Field(default=None, description="Bearer token required on every HTTP request when set")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="HTTP transports: extra Host names (host or host:port) accepted by the DNS-rebinding check, "
        "e.g. the public name of a server bound to 0.0.0.0; comma-separated",
    )
    log_level: str = Field(
        default="INFO", description="Log level (logs go to stderr; an MCP client may ask for its own level)"
    )
    read_only: bool = Field(
        default=False,
        description="MCP server: offer no tool that writes (index, delete, drop_collection) and open the store "
        "read-only",
    )
    tool_descriptions: dict[str, str] = Field(
        default_factory=dict,
        description='MCP server: replacement tool descriptions, as JSON {"search": "..."} or a '
        "[tool_descriptions] table in taskvec.toml",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """``a.example,b.example`` or a JSON list, from the environment; a list from TOML."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value


CONCERNS = {"engine": EngineSettings, "store": StoreSettings, "calls": CallSettings, "server": ServerSettings}


# Set on each class that reads settings, not only inherited: pydantic lets a later base's config win, and every
# concern is a BaseSettings of its own.
_CONFIG = SettingsConfigDict(env_prefix="TASKVEC_", extra="ignore", validate_default=True)


class _Sources(BaseSettings):
    """Where settings come from: flags (init arguments), ``TASKVEC_*`` variables, then the TOML file."""

    model_config = _CONFIG

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlSource(settings_cls)


class Settings(_Sources, EngineSettings, StoreSettings, CallSettings, ServerSettings):
    """Every knob of taskvec, one concern per base class. Environment variables are the field names upper-cased
    with a ``TASKVEC_`` prefix; README's configuration table is ``settings_table()``."""

    model_config = _CONFIG


@functools.cache
def settings_for(*concerns: str) -> type[BaseSettings]:
    """Settings of some concerns only, read from the same sources: a command reads what it needs, so a bad value
    of another concern (a server port, say) does not stop it."""
    bases = tuple(CONCERNS[name] for name in concerns)
    namespace = {"__doc__": Settings.__doc__, "model_config": _CONFIG}
    return type(f"Settings[{','.join(concerns)}]", (_Sources, *bases), namespace)


def _check_known_keys(data: dict[str, Any], path: Path) -> None:
    """A misspelt key must not be ignored: ``stor = ...`` would leave the store where it was."""
    known = sorted(Settings.model_fields)
    for key in data:
        if key not in Settings.model_fields:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"Did you mean {close[0]!r}? " if close else ""
            raise InvalidInputError(
                f"{path} sets {key!r}, which is not a taskvec setting.",
                field=key,
                fix=f"{hint}Settings: {', '.join(known)}; tasks go under [tasks.NAME].",
            )


def setting_source(name: str) -> str:
    """Where a setting's value came from, for messages: its variable, or its key in the TOML file."""
    variable = f"TASKVEC_{name.upper()}"
    if variable not in os.environ:
        path = config_file_path()
        if path is not None and name in read_config_file(path):
            return f"{name!r} in {path}"
    return variable


def settings_table() -> str:
    """README's configuration table, made from the fields' own defaults and descriptions (a test compares them;
    ``python -m taskvec.config`` prints it)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for concern, cls in CONCERNS.items():
        lines.append(f"| **{concern}** | | {(cls.__doc__ or '').strip()} |")
        for name, field in cls.model_fields.items():
            default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
            if isinstance(default, str) and default.startswith(str(Path.home())):
                default = "~" + default[len(str(Path.home())) :]
            shown = "none" if default in (None, [], {}) else f"`{default}`"
            lines.append(f"| `TASKVEC_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table())
