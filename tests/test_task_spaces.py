"""Embedding spaces without the model: ``TaskSpaces.from_files`` names the same space as the loaded ``Encoder``
for every task of every tiny model family and the bundled MiniLM (with and without a tasks file and adapters),
knows when the files do not settle a space (then the model loads), and ``taskvec tasks`` imports no torch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import in_subprocess, make_random_adapter, write_tasks_file
from model_families import FAMILIES, make_family_model

from taskvec.engine import Encoder, TaskSpaces
from taskvec.engine.loading import _position_table
from taskvec.engine.shape import _FIXED_OFFSET, _PAD_OFFSET_POSITIONS, _PLAIN_POSITIONS, _skipped_positions

TASKS = '[tasks.retrieval]\nadapter = "a1"\n[tasks.tickets]\nkind = "classification"\nprompt = "ticket: "\n'
TASKS += '[tasks.tickets-tuned]\nkind = "classification"\nadapter = "a2"\n'


def _same_spaces(folder: Path | None, **kwargs: object) -> None:
    files = TaskSpaces.from_files(folder, device="cpu", **kwargs)  # type: ignore[arg-type]
    encoder = Encoder(folder, device="cpu", **kwargs)  # type: ignore[arg-type]
    assert files is not None and list(files.tasks) == list(encoder.tasks)
    for task in encoder.tasks:
        assert files.space(task) == encoder.space(task), (
            f"{folder} {task}: {files.space(task).differences(encoder.space(task))}"
        )


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_spaces_from_the_files_equal_the_loaded_encoders(name: str, tmp_path: Path) -> None:
    spec = FAMILIES[name]
    folder = make_family_model(tmp_path, name)
    _same_spaces(folder)
    make_random_adapter(folder, tmp_path / "a1", seed=1, target_modules=spec.lora_targets)
    make_random_adapter(folder, tmp_path / "a2", seed=2, target_modules=spec.lora_targets)
    tasks_file = write_tasks_file(tmp_path / "tasks.toml", TASKS)
    _same_spaces(folder, tasks_file=tasks_file, truncate_dim=16)
    (folder / "sentence_bert_config.json").unlink()  # the limit now comes from the positions and the tokenizer
    _same_spaces(folder, tasks_file=tasks_file)


def test_the_tiny_bert_and_the_bundled_minilm_with_its_shipped_adapters(tiny_model_dir: Path, tmp_path: Path) -> None:
    _same_spaces(tiny_model_dir)
    _same_spaces(tiny_model_dir, dtype="int8")  # a space of its own, on CPU
    _same_spaces(None)  # the shipped similarity adapter runs by default
    shutil.copytree(tiny_model_dir, tmp_path / "tiny")
    make_random_adapter(tmp_path / "tiny", tmp_path / "a1", seed=1)
    make_random_adapter(tmp_path / "tiny", tmp_path / "a2", seed=2)
    _same_spaces(tmp_path / "tiny", tasks_file=write_tasks_file(tmp_path / "tasks.toml", TASKS))


@pytest.mark.parametrize("model_type", sorted(_PLAIN_POSITIONS | _PAD_OFFSET_POSITIONS | set(_FIXED_OFFSET)), ids=str)
def test_every_listed_architecture_skips_what_its_loaded_embeddings_skip(model_type: str) -> None:
    """The file rule (config.json's model_type) against the loaded rule (the embedding modules themselves)."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.for_model(
        model_type,
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
        pad_token_id=3,
    )
    positions, skipped = _position_table(AutoModel.from_config(config))
    assert positions == 40 and _skipped_positions(json.loads(config.to_json_string())) == skipped


def test_files_that_do_not_settle_the_space_load_the_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    unknown = shutil.copytree(tiny_model_dir, tmp_path / "unknown")
    config = json.loads((unknown / "config.json").read_text())
    (unknown / "config.json").write_text(json.dumps({**config, "model_type": "electra", "embedding_size": 32}))
    no_tokenizer_config = shutil.copytree(tiny_model_dir, tmp_path / "no-tokenizer-config")
    (no_tokenizer_config / "tokenizer_config.json").unlink()
    no_width = shutil.copytree(tiny_model_dir, tmp_path / "no-width")
    (no_width / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "hidden_size"}))
    for folder in (unknown, no_tokenizer_config, no_width):
        assert TaskSpaces.from_files(folder, device="cpu") is None, folder
    assert TaskSpaces.from_files(tiny_model_dir, dtype="int8") is None  # int8 needs a CPU: torch says which
    # `taskvec tasks` then loads the model, and prints the spaces it names.
    codes, torch, out, err = in_subprocess({"TASKVEC_MODEL": str(unknown)}, ["tasks", "--json"])
    assert codes == [0] and torch, err
    ids = {t["name"]: t["space_id"] for t in json.loads(out)["tasks"]}
    assert ids == {name: space.id for name, space in _encoder_spaces(unknown).items()}


def _encoder_spaces(folder: Path | None, **kwargs: object) -> dict[str, object]:
    encoder = Encoder(folder, **kwargs)  # type: ignore[arg-type]
    return {name: encoder.space(name) for name in encoder.tasks}


def test_taskvec_tasks_imports_no_torch_and_prints_the_encoders_spaces(tmp_path: Path) -> None:
    folder = make_family_model(tmp_path, "multilingual-e5-small-tiny")
    make_random_adapter(folder, tmp_path / "a1", seed=1)
    make_random_adapter(folder, tmp_path / "a2", seed=2)
    tasks_file = write_tasks_file(tmp_path / "tasks.toml", TASKS)
    runs = [
        ({}, None, None),  # the bundled MiniLM and its shipped adapters
        ({"TASKVEC_MODEL": str(folder)}, folder, None),
        ({"TASKVEC_MODEL": str(folder), "TASKVEC_TASKS_FILE": str(tasks_file)}, folder, tasks_file),
    ]
    for environ, model, tasks in runs:
        codes, torch, out, err = in_subprocess(
            {"TASKVEC_CACHE_DIR": str(tmp_path / "cache"), **environ}, ["tasks", "--json"]
        )
        assert codes == [0] and not torch, err
        printed = {t["name"]: t["space_id"] for t in json.loads(out)["tasks"]}
        expected = _encoder_spaces(model, tasks_file=tasks, device="cpu")
        assert printed == {name: space.id for name, space in expected.items()}  # type: ignore[attr-defined]
