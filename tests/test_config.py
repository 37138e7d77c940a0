"""Settings: one concern per class, each default in one place, and README's table made from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskvec.config import CONCERNS, Settings, settings_table
from taskvec.options import DEFAULT_CHUNKING, DEFAULT_LIMITS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_settings_table_is_the_generated_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert settings_table() in README.read_text(), "README's settings table drifted: paste `python -m taskvec.config`"


def test_every_setting_belongs_to_one_concern() -> None:
    owners: dict[str, list[str]] = {}
    for concern, cls in CONCERNS.items():
        for name in cls.model_fields:
            owners.setdefault(name, []).append(concern)
    assert set(owners) == set(Settings.model_fields)
    assert all(len(o) == 1 for o in owners.values()), owners


def test_call_defaults_come_from_the_options_module(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("TASKVEC_CHUNK_OVERLAP", "TASKVEC_CHUNK_TOKENS", "TASKVEC_MAX_DOCUMENTS"):
        monkeypatch.delenv(key, raising=False)
    assert Settings().chunking() == DEFAULT_CHUNKING and Settings().document_limits() == DEFAULT_LIMITS
    monkeypatch.setenv("TASKVEC_CHUNK_OVERLAP", "8")
    monkeypatch.setenv("TASKVEC_CHUNK_TOKENS", "64")
    assert (Settings().chunking().overlap, Settings().chunking().max_tokens) == (8, 64)


def test_allowed_hosts_read_a_comma_list_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKVEC_ALLOWED_HOSTS", "a.example, b.example:8080")
    assert Settings().allowed_hosts == ["a.example", "b.example:8080"]
    monkeypatch.setenv("TASKVEC_ALLOWED_HOSTS", '["c.example"]')
    assert Settings().allowed_hosts == ["c.example"]
