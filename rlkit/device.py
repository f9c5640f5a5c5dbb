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
