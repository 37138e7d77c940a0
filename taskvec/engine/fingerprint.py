"""Fingerprints of weight files: a changed model or adapter must change the embedding space."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_CONFIG_NAMES = ("config.json", "adapter_config.json", "1_Pooling/config.json", "modules.json")
_CHUNK = 1 << 22


def _cache_file() -> Path:
    root = Path(os.environ.get("TASKVEC_CACHE_DIR") or Path.home() / ".cache" / "taskvec")
    return root / "fingerprints.json"


def _file_digest(path: Path) -> str:
    """SHA-256 of a file, cached by (path, size, mtime) so multi-GB checkpoints are hashed once."""
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    cache_path = _cache_file()
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    cache[key] = digest.hexdigest()
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        tmp.replace(cache_path)
    except OSError:
        pass  # a read-only home only costs us re-hashing next time
    return cache[key]


def fingerprint_folder(folder: Path) -> str:
    """A 16-hex-digit fingerprint over the weight files and the configs that change the output of a folder."""
    folder = Path(folder)
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
    files += [folder / name for name in _CONFIG_NAMES if (folder / name).is_file()]
    for path in files:
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(_file_digest(path).encode())
    return digest.hexdigest()[:16]
