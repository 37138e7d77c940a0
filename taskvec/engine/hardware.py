"""What the CPU can compute natively, read once: its feature flags and whether it has bf16 arithmetic.

``pick_dtype`` (taskvec.engine.loading) runs the forward in bf16 on a CPU that has it, because there it is both
fast and close to fp32: on a 2-core Sapphire Rapids (AMX) the bf16 forward of all-MiniLM-L6-v2 ran 3.2x the fp32
one with every SciFact vector at cosine >= 0.9999 to fp32 (docs/precision.md). Where bf16 is emulated in fp32
registers (AVX2, AVX-512 without BF16, arm64 without FEAT_BF16) it is slower than fp32 and loses precision, so
those CPUs stay in fp32.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

# x86 flags (as /proc/cpuinfo spells them) of bf16 dot products: AVX512-BF16 (Cooper Lake, Zen 4 and later) and
# AMX tiles (Sapphire Rapids and later). arm64 spells its FEAT_BF16 "bf16" (Neoverse V1/N2, Graviton 3, Apple M2+).
X86_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
ARM_BF16_FLAG = "bf16"


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (``flags`` on x86, ``Features`` on arm64); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    return parse_cpuinfo_flags(text)


def parse_cpuinfo_flags(text: str) -> frozenset[str]:
    """The flags of the first processor listed in a /proc/cpuinfo text (all cores of a machine share them)."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_bf16(flags: frozenset[str] | None = None, machine: str | None = None) -> bool:
    """Whether the CPU has native bf16 arithmetic. ``flags`` and ``machine`` default to this machine's; tests pass
    their own to simulate other CPUs."""
    machine = (machine or platform.machine()).lower()
    if flags is None:
        flags = cpu_flags()
        if not flags:
            return _bf16_without_proc(machine)
    if machine in ("x86_64", "amd64", "i686", "x86"):
        return bool(X86_BF16_FLAGS & flags)
    if machine in ("aarch64", "arm64"):
        return ARM_BF16_FLAG in flags
    return False


def _bf16_without_proc(machine: str) -> bool:
    """No /proc/cpuinfo (macOS, Windows): torch's own CPU checks on x86, sysctl on Apple silicon."""
    if machine in ("x86_64", "amd64"):
        import torch

        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    if machine == "arm64" and platform.system() == "Darwin":
        try:
            done = subprocess.run(
                ["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return done.stdout.strip() == "1"
    return False
