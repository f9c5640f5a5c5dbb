"""Dotted keys of nested observations, in plain numpy (the torch-free runtime uses it too).

    flatten_obs({"pos": (x, y), "image": img})   # {"pos.0": x, "pos.1": y, "image": img}
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def flatten_obs(obs: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict / tuple observation, or a packed structured array (rlkit/spaces.py), as {dotted key: value};
    anything else is one value under ``prefix`` (``"obs"`` at the top)."""
    if isinstance(obs, (np.ndarray, np.void)) and obs.dtype.names:
        return {name: obs[name] for name in obs.dtype.names}
    if isinstance(obs, Mapping):
        out: dict[str, Any] = {}
        for key, value in obs.items():
            out.update(flatten_obs(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(obs, tuple):
        out = {}
        for index, value in enumerate(obs):
            out.update(flatten_obs(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "obs": obs}
