"""Replay storage for off-policy agents: preallocated numpy rings with n-step returns computed at sample time.

Three buffers share one interface (`add`, `sample`, `sample_batches`, `gather`, `__len__`, `state_dict`,
`load_state_dict`, `save`, `load`, `rng_state`, `set_rng_state`):

- `ReplayBuffer` (`uniform.py`): every observation and successor stored in full; any observation space.
- `FrameReplayBuffer` (`frames.py`): frame stacks `(K, H, W)` with each frame stored once.
- `PrioritizedReplay` (`prioritized.py`): proportional prioritised sampling over either storage (a `SumTree`,
  `sum_tree.py`).

Both storages share `ReplayStorage` (`storage.py`); `Batch` and the n-step maths are in `batch.py`, replay files
in `files.py`.

`build_replay` picks one from the settings. Layout of both storages: arrays of shape `(rows, num_envs, ...)` with
`rows = capacity // num_envs`, each env's steps in its own column; a flat slot index is `row * num_envs + env`.
`add` returns `(added, removed)` flat slots so a prioritised wrapper can keep its sum tree in step with the ring.
"""

from __future__ import annotations

import os

import numpy as np

from rlkit.errors import ConfigError

from .batch import Batch, n_step_returns
from .files import read_replay_file, read_replay_step, stream_into, write_replay_file
from .frames import FrameReplayBuffer
from .prioritized import PrioritizedReplay
from .storage import ReplayStorage
from .sum_tree import SumTree
from .uniform import ReplayBuffer

STORAGES = ("auto", "full", "frames")
__all__ = ["Batch", "FrameReplayBuffer", "PrioritizedReplay", "ReplayBuffer", "ReplayStorage", "STORAGES", "SumTree",
           "build_replay", "n_step_returns", "read_replay_file", "read_replay_step", "stream_into",
           "write_replay_file"]


def build_replay(capacity: int, obs_shape: tuple[int, ...], obs_dtype, num_envs: int = 1, n_step: int = 1,
                 gamma: float = 0.99, seed: int | None = None, storage: str = "auto", prioritized: bool = False,
                 alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6, num_actions: int | None = None):
    """The replay a run needs. storage: "full" stores whole observations; "frames" stores each frame of `(K, H, W)`
    stacks once (`num_actions` picks the smallest action dtype); "auto" picks "frames" for uint8 `(K, H, W)`
    observations with K > 1 and "full" otherwise. `prioritized` wraps the storage in `PrioritizedReplay`."""
    if storage not in STORAGES:
        raise ValueError(f"unknown replay storage {storage!r}; use one of {', '.join(STORAGES)}")
    shape = tuple(int(d) for d in obs_shape)
    if storage == "auto":
        storage = "frames" if np.dtype(obs_dtype) == np.uint8 and len(shape) == 3 and shape[0] > 1 else "full"
    _check_fits_in_memory(capacity, shape, obs_dtype, storage)
    if storage == "frames":
        try:
            buffer = FrameReplayBuffer(capacity, shape, obs_dtype, num_envs, n_step, gamma, seed, num_actions)
        except ValueError as error:  # observations that are not frame stacks: the config asked for the wrong storage
            raise ConfigError(f"config field 'replay.storage': {error}") from None
    else:
        buffer = ReplayBuffer(capacity, shape, obs_dtype, num_envs, n_step, gamma, seed)
    return PrioritizedReplay(buffer, alpha=alpha, beta=beta, eps=eps) if prioritized else buffer


def _check_fits_in_memory(capacity: int, obs_shape: tuple[int, ...], obs_dtype, storage: str) -> None:
    """ConfigError with the bytes needed when the observations alone would exceed this machine's memory (before a
    MemoryError, or an overcommitted mapping that the kernel kills later)."""
    frame_bytes = int(np.prod(obs_shape[1:] if storage == "frames" else obs_shape, dtype=np.int64))
    needed = capacity * frame_bytes * np.dtype(obs_dtype).itemsize * (1 if storage == "frames" else 2)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return  # a platform that does not say: let the allocation decide
    if needed > total:
        raise ConfigError(f"config field 'replay.capacity': {capacity:,} transitions of {tuple(obs_shape)} "
                          f"{np.dtype(obs_dtype).name} observations need {needed / 2**30:,.1f} GiB, more than this "
                          f"machine's {total / 2**30:,.1f} GiB; lower replay.capacity")
