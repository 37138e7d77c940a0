"""The physical reference of the encode figures: the CPU's peak FLOP/s from its flags and clock, and the FLOPs a
forward pass of a BERT-style encoder does, so a measured docs/s reads as a fraction of what the silicon allows.

Peak per core and cycle (dense multiply-adds, 2 FLOPs each), assuming two 512-bit FMA ports on AVX-512 server
parts (one on client parts would halve the fp32 and AVX512-BF16 figures, not the AMX one):

* fp32: AVX-512 2 ports x 16 lanes x 2 = 64; AVX2 2 x 8 x 2 = 32.
* bf16: AMX ``TDPBF16PS`` 16x16x32 multiply-adds per 16 cycles = 1,024; AVX512-BF16 ``VDPBF16PS`` 2 ports x 32
  pairs x 2 = 128; without either, bf16 runs through fp32 registers at the fp32 rate.

The clock is /proc/cpuinfo's ``cpu MHz`` (under a hypervisor, the nominal one; turbo would raise both peaks).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


def clock_ghz() -> float | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return round(float(line.split(":", 1)[1]) / 1000, 3)
    except (OSError, ValueError):
        pass
    return None


def peak_flops_per_cycle(flags: frozenset[str]) -> dict[str, int]:
    """Per core and cycle, fp32 and bf16, from the CPU's flags (see the module's docstring)."""
    fp32 = 64 if "avx512f" in flags else 32 if "avx2" in flags else 16
    if "amx_bf16" in flags:
        bf16 = 1024
    elif "avx512_bf16" in flags:
        bf16 = 128
    else:
        bf16 = fp32
    return {"fp32": fp32, "bf16": bf16}


def peaks(flags: frozenset[str], cores: int, ghz: float | None) -> dict[str, Any]:
    per_cycle = peak_flops_per_cycle(flags)
    out: dict[str, Any] = {"flops_per_cycle_per_core": per_cycle, "cores": cores, "clock_ghz": ghz}
    if ghz:
        out["peak_gflops"] = {k: round(v * ghz * cores, 1) for k, v in per_cycle.items()}
    return out


def forward_flops(config: Any, batches: Iterable[tuple[int, int]]) -> int:
    """FLOPs of a BERT-style encoder over padded batches of (rows, width): the linear layers (Q, K, V, output,
    two feed-forward) on every token, and attention's two matrix products over every pair of positions. Layer
    norms, softmax, GELU and pooling are left out: they are a rounding error in FLOPs (not in time)."""
    hidden, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    total = 0
    for rows, width in batches:
        tokens = rows * width
        total += layers * tokens * 2 * (4 * hidden * hidden + 2 * hidden * inter)
        total += layers * rows * 2 * 2 * width * width * hidden
    return total
