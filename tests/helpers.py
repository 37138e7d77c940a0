"""Test helpers that are not fixtures: random LoRA adapters and tasks files for the tiny model."""

from __future__ import annotations

from pathlib import Path


def make_random_adapter(model_dir: Path, out: Path, *, seed: int, rank: int = 4) -> Path:
    """A LoRA adapter with random (non-zero) weights on the attention projections, saved in PEFT format."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    torch.manual_seed(seed)
    base = AutoModel.from_pretrained(str(model_dir))
    config = LoraConfig(r=rank, lora_alpha=rank * 2, target_modules=["query", "key", "value"],
                        init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(str(out))
    return out


def write_tasks_file(path: Path, body: str) -> Path:
    path.write_text(body)
    return path
