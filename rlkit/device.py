"""Device selection: ``auto`` picks CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from rlkit.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cpu'; 'cuda' or 'cuda:N' (an error when CUDA is absent)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"config field 'device': '{name}' requested but CUDA is not available; use device=auto or cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"config field 'device': '{name}' is not a torch device; use auto, cpu or cuda[:N]") from None


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:  # not Linux: no flags to read, so no claim of bf16 hardware
        pass
    return set()


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 matrix products in hardware: a CUDA device that supports bf16, or a CPU
    with AVX512-BF16 or AMX-BF16 (read from /proc/cpuinfo; oneDNN uses them) and a torch built with oneDNN.
    Elsewhere torch emulates bf16, slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
