"""The bf16 path: ``auto`` picks bf16 where the CPU has it (simulated flags), bf16 vectors stay close to fp32 ones
(the tiny model and the real one), LoRA adapters run in bf16 through the fused layers, mixed-task batches too,
and fp32 keeps PEFT's path untouched. No timing: speed lives in benchmarks/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import load_benchmark, make_random_adapter, write_tasks_file
from model_families import FAMILIES, make_family_model
from test_queue import TEXTS  # five texts of different lengths, one longer than a short pass

from taskvec.engine import Encoder, EncodeRow, hardware, loading, lora
from taskvec.engine.lora import BASE_ADAPTER

X86_BF16 = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile\n"
X86_AMX_ONLY = "flags\t\t: fpu avx2 avx512f amx_bf16 amx_tile amx_int8\n"
X86_AVX2 = "flags\t\t: fpu sse sse2 avx avx2 fma\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics bf16 i8mm\n"
ARM_PLAIN = "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ------------------------------------------------------------------------------------------ choosing the dtype
@pytest.mark.parametrize(
    ("cpuinfo", "machine", "expected"),
    [
        (X86_BF16, "x86_64", True),
        (X86_AMX_ONLY, "x86_64", True),
        (X86_AVX2, "x86_64", False),
        (ARM_BF16, "aarch64", True),
        (ARM_PLAIN, "aarch64", False),
        (X86_BF16, "riscv64", False),  # flags of another architecture mean nothing here
    ],
)
def test_bf16_is_read_from_the_cpu_flags(cpuinfo: str, machine: str, expected: bool) -> None:
    flags = hardware.parse_cpuinfo_flags(cpuinfo)
    assert hardware.cpu_has_bf16(flags, machine) is expected


def test_auto_picks_bf16_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: True)
    assert loading.pick_dtype(cpu, "auto") == torch.bfloat16
    assert loading.pick_dtype(cpu, "fp32") == torch.float32  # an explicit dtype always wins
    assert loading.pick_dtype(cuda, "auto") == torch.float16
    assert loading.pick_dtype(torch.device("mps"), "auto") == torch.float32
    monkeypatch.setattr(loading, "cpu_has_bf16", lambda: False)
    assert loading.pick_dtype(cpu, "auto") == torch.float32


def test_auto_encoder_follows_the_flags(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for has_bf16, dtype in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(loading, "cpu_has_bf16", lambda has=has_bf16: has)
        encoder = Encoder(tiny_model_dir, device="cpu")
        assert encoder.describe()["dtype"] == dtype
        assert encoder.adapters.fused is has_bf16


# ---------------------------------------------------------------------------------------- vectors and spaces
def test_bf16_vectors_are_close_to_fp32_and_share_their_space(tiny_model_dir: Path) -> None:
    fp32 = Encoder(tiny_model_dir, device="cpu", dtype="fp32")
    bf16 = Encoder(tiny_model_dir, device="cpu", dtype="bf16")
    for task in ("similarity", "retrieval"):
        a, b = fp32.encode(TEXTS, task).vectors, bf16.encode(TEXTS, task).vectors
        assert b.dtype == np.float32
        assert cosines(a, b).min() >= 0.999
        # The decision of docs/precision.md: bf16 moves no home set beyond noise, alone or mixed with fp32.
        assert bf16.space(task).id == fp32.space(task).id


@pytest.mark.real_model
def test_real_model_bf16_is_close_to_fp32_with_every_shipped_adapter(real_encoder: Encoder) -> None:
    bf16 = Encoder(device="cpu", dtype="bf16")
    assert bf16.adapters.fused and not real_encoder.adapters.fused
    for task in ("retrieval", "similarity", "classification", "clustering"):
        for role in ("query", "document"):
            a = real_encoder.encode(TEXTS, task, role).vectors
            b = bf16.encode(TEXTS, task, role).vectors
            assert cosines(a, b).min() >= 0.999, (task, role)
    plain = bf16.tasks["retrieval"].without_adapter()
    a, b = real_encoder.encode(TEXTS, plain).vectors, bf16.encode(TEXTS, plain).vectors
    assert cosines(a, b).min() >= 0.999


# --------------------------------------------------------------------------------------------- LoRA in bf16
@pytest.fixture(scope="module")
def lora_tasks(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bf16-adapters")
    make_random_adapter(tiny_model_dir, root / "a1", seed=1)
    make_random_adapter(tiny_model_dir, root / "a2", seed=2, target_modules=("query", "value", "dense"))
    return write_tasks_file(
        root / "tasks.toml",
        '[tasks.retrieval]\nadapter = "a1"\n\n[tasks.similarity]\nprompt = "s: "\nadapter = "a2"\n\n'
        '[tasks.tickets]\nkind = "classification"\nprompt = "ticket: "\n',
    )


def test_adapters_run_fused_in_bf16_close_to_fp32(tiny_model_dir: Path, lora_tasks: Path) -> None:
    fp32 = Encoder(tiny_model_dir, device="cpu", dtype="fp32", tasks_file=lora_tasks)
    bf16 = Encoder(tiny_model_dir, device="cpu", dtype="bf16", tasks_file=lora_tasks)
    for task in ("retrieval", "similarity"):
        assert cosines(fp32.encode(TEXTS, task).vectors, bf16.encode(TEXTS, task).vectors).min() >= 0.999
        assert cosines(bf16.encode(TEXTS, task).vectors, bf16.encode(TEXTS, "tickets").vectors).min() < 0.999
    fused = [m for m in bf16.model.modules() if "forward" in vars(m)]
    assert fused and all(isinstance(m.base_layer, torch.nn.Linear) for m in fused)
    assert not any("forward" in vars(m) for m in fp32.model.modules())  # fp32: PEFT's own layers, unchanged


def test_mixed_task_batches_in_bf16_equal_per_task_ones(tiny_model_dir: Path, lora_tasks: Path) -> None:
    encoder = Encoder(tiny_model_dir, device="cpu", dtype="bf16", tasks_file=lora_tasks)
    mixes = [("retrieval", "query"), ("similarity", "document"), ("tickets", "document"), ("retrieval", "document")]
    rows = [EncodeRow(t, task, role) for t in TEXTS for task, role in mixes]  # every batch interleaves tasks
    mixed = encoder.encode_rows(rows, batch_size=7).vectors
    for task, role in mixes:
        idx = [i for i, r in enumerate(rows) if (r.task, r.role) == (task, role)]
        alone = encoder.encode([rows[i].text for i in idx], task, role).vectors
        assert cosines(mixed[idx], alone).min() >= 0.999, (task, role)


@pytest.mark.parametrize("tokens", [3, 200])  # the factored form for a few tokens, the per-call merge for many
def test_fused_layer_computes_peft_lora(tiny_model_dir: Path, lora_tasks: Path, tokens: int) -> None:
    """In fp32, where both are exact to rounding: the fused forward of a mixed batch equals PEFT's."""
    encoder = Encoder(tiny_model_dir, device="cpu", dtype="fp32", tasks_file=lora_tasks)
    names = [encoder.adapters.name_for(encoder.tasks[t]) for t in ("retrieval", "similarity")]
    layer = next(m for m in encoder.model.modules() if hasattr(m, "lora_A") and names[1] in m.lora_A)
    rows = [names[0], names[0], BASE_ADAPTER, names[1], names[1]]
    x = torch.randn(len(rows), tokens, layer.base_layer.in_features)
    with torch.inference_mode():
        expected = type(layer).forward(layer, x, adapter_names=rows)
        fused = lora._fused_forward(layer, x, adapter_names=rows)
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)


def test_adapter_order_groups_rows() -> None:
    names = ["b", "a", "b", BASE_ADAPTER, "a"]
    order = lora.adapter_order(names)
    assert order == [0, 2, 1, 4, 3]
    assert lora.runs([names[i] for i in order]) == [("b", 0, 2), ("a", 2, 4), (BASE_ADAPTER, 4, 5)]
    assert lora.adapter_order(["a", "a", "b"]) is None


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_runs_bf16_with_adapters(name: str, tmp_path: Path) -> None:
    """Decoder (Qwen3, left padding, last-token pooling), RoBERTa, NomicBERT, ...: bf16 vectors near fp32 ones,
    with and without a LoRA adapter on the family's own projection names."""
    spec = FAMILIES[name]
    folder = make_family_model(tmp_path, name)
    make_random_adapter(folder, tmp_path / "a1", seed=1, target_modules=spec.lora_targets)
    tasks = write_tasks_file(tmp_path / "tasks.toml", '[tasks.retrieval]\nadapter = "a1"\n')
    fp32 = Encoder(folder, device="cpu", dtype="fp32", tasks_file=tasks)
    bf16 = Encoder(folder, device="cpu", dtype="bf16", tasks_file=tasks)
    for task in (bf16.tasks["retrieval"], bf16.tasks["retrieval"].without_adapter()):
        assert cosines(fp32.encode_query(TEXTS, task), bf16.encode_query(TEXTS, task)).min() >= 0.999


def test_precision_runs_on_different_sets_add_up() -> None:
    """benchmarks/precision.py --merge: a later run on the set an earlier one left out joins its figures, and the
    verdict is taken over both (the largest change anywhere decides)."""
    merged = load_benchmark("precision").merged

    earlier = {
        "machine": {"cpu": "a"},
        "load_at_end": 6.8,
        "fp32": {"emotion": {"task adapter": 0.55}},
        "bf16": {"emotion": {"task adapter": 0.5504}},
        "bf16+fp32 mixed": {"emotion": {"task adapter": 0.5501}},
        "verdicts": {"bf16": {"largest_change": 0.0004, "shares_fp32_space": True}},
    }
    later = {
        "machine": {"cpu": "b"},
        "load_at_end": 0.9,
        "fp32": {"scifact": {"no prompt": 0.6451}},
        "bf16": {"scifact": {"no prompt": 0.6421}},
        "bf16+fp32 mixed": {"scifact": {"no prompt": 0.6440}},
        "bf16 agreement": {"top10_overlap_mean": 0.97},
    }
    out = merged(earlier, later, ["bf16"])
    assert set(out["fp32"]) == set(out["bf16"]) == {"emotion", "scifact"}
    assert out["bf16 agreement"] == {"top10_overlap_mean": 0.97}
    assert out["verdicts"]["bf16"] == {"largest_change": 0.003, "shares_fp32_space": False}
    assert [r["machine"]["cpu"] for r in out["runs"]] == ["a", "b"] and out["runs"][1]["sets"] == ["scifact"]
    # A third run measures one variant of a set again (a new adapter): it replaces that figure, the other stays.
    again = {
        "machine": {"cpu": "c"},
        "load_at_end": 1.0,
        "fp32": {"scifact": {"task adapter": 0.68}},
        "bf16": {"scifact": {"task adapter": 0.6814}},
        "bf16+fp32 mixed": {"scifact": {"task adapter": 0.6809}},
    }
    out = merged(out, again, ["bf16"])
    assert out["fp32"]["scifact"] == {"no prompt": 0.6451, "task adapter": 0.68}
    assert out["bf16"]["scifact"] == {"no prompt": 0.6421, "task adapter": 0.6814}
    assert out["verdicts"]["bf16"] == {"largest_change": 0.003, "shares_fp32_space": False}  # the no-prompt row
