"""Replay storage for off-policy agents: preallocated numpy rings with n-step returns computed at sample time.

Four buffers share one interface (`add`, `sample`, `sample_batches`, `gather`, `__len__`, `state_dict`,
`load_state_dict`, `save`, `load`, `rng_state`, `set_rng_state`):

- `ReplayBuffer` (`uniform.py`): every observation and successor stored in full; any observation space.
- `FrameReplayBuffer` (`frames.py`): frame stacks `(K, H, W)` with each frame stored once.
- `KeyedFrameReplayBuffer` (`keyed_frames.py`): the same for keyed observations whose image keys are frame stacks.
- `PrioritizedReplay` (`prioritized.py`): proportional prioritised sampling over either storage (a `SumTree`,
  `sum_tree.py`).

The storages share `ReplayStorage` (`storage.py`); `Batch` and the n-step maths are in `batch.py`, replay files
in `files.py`.

`build_replay` picks one from the settings. Layout of every storage: arrays of shape `(rows, num_envs, ...)` with
`rows = capacity // num_envs`, each env's steps in its own column; a flat slot index is `row * num_envs + env`.
`add` returns `(added, removed)` flat slots so a prioritised wrapper can keep its sum tree in step with the ring.
"""

from __future__ import annotations

import os

import numpy as np

from rlkit.errors import ConfigError

from .batch import Batch, n_step_returns
from .files import read_replay_file, read_replay_format, read_replay_step, stream_into, write_replay_file
from .frames import FrameReplayBuffer
from .keyed_frames import KeyedFrameReplayBuffer, stackable_keys
from .prioritized import PrioritizedReplay
from .storage import ReplayStorage
from .sum_tree import SumTree
from .uniform import ReplayBuffer

STORAGES = ("auto", "full", "frames")
__all__ = ["Batch", "FrameReplayBuffer", "KeyedFrameReplayBuffer", "PrioritizedReplay", "ReplayBuffer", "ReplayStorage",
           "STORAGES", "SumTree", "build_replay", "n_step_returns", "read_replay_file", "read_replay_step",
           "saved_storage", "stackable_keys", "stream_into", "write_replay_file"]
_FORMAT_STORAGES = {"rlkit.replay/1": "full", "rlkit.frame_replay/1": "frames"}


def build_replay(capacity: int, obs_shape: tuple[int, ...], obs_dtype, num_envs: int = 1, n_step: int = 1,
                 gamma: float = 0.99, seed: int | None = None, storage: str = "auto", prioritized: bool = False,
                 alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6, num_actions: int | None = None,
                 frame_stack: int = 1):
    """The replay a run needs. storage: "full" stores whole observations; "frames" stores each frame of `(K, ...)`
    stacks once (`num_actions` picks the smallest action dtype), for a keyed observation each frame of its stacked
    image keys (`stackable_keys`) and the other keys whole; "auto" picks "frames" where the env says its
    observations are stacks of `frame_stack` > 1 uint8 images (`VecEnv.frame_stack`) and "full" otherwise.
    `prioritized` wraps the storage in `PrioritizedReplay`."""
    if storage not in STORAGES:
        raise ValueError(f"unknown replay storage {storage!r}; use one of {', '.join(STORAGES)}")
    shape, dtype = tuple(int(d) for d in obs_shape), np.dtype(obs_dtype)
    stacked = stackable_keys(dtype, frame_stack if frame_stack > 1 or storage == "auto" else None)
    if storage == "auto":
        plain_stack = dtype == np.uint8 and len(shape) >= 3 and shape[0] == frame_stack
        storage = "frames" if frame_stack > 1 and (plain_stack or stacked) else "full"
    if storage == "frames" and dtype.names and not stacked:
        raise ConfigError(f"config field 'replay.storage': frames needs a uint8 image key stacked (K, H, W) in the "
                          f"observation, whose keys are {list(dtype.names)}; use full")
    _check_fits_in_memory(capacity, shape, dtype, storage, stacked)
    try:
        if storage == "frames" and stacked:
            buffer = KeyedFrameReplayBuffer(capacity, shape, dtype, num_envs, n_step, gamma, seed, num_actions,
                                            stacked=stacked)
        elif storage == "frames":
            buffer = FrameReplayBuffer(capacity, shape, dtype, num_envs, n_step, gamma, seed, num_actions)
        else:
            buffer = ReplayBuffer(capacity, shape, dtype, num_envs, n_step, gamma, seed)
    except ValueError as error:  # observations that are not frame stacks: the config asked for the wrong storage
        if storage != "frames":
            raise
        raise ConfigError(f"config field 'replay.storage': {error}") from None
    return PrioritizedReplay(buffer, alpha=alpha, beta=beta, eps=eps) if prioritized else buffer


def saved_storage(path) -> str | None:
    """The ``replay.storage`` ("full" or "frames") of the replay file at `path`, or None without a readable one. A
    resumed run with ``storage: auto`` keeps what its file holds, whatever auto would pick for a new run."""
    return _FORMAT_STORAGES.get(read_replay_format(path))


def _check_fits_in_memory(capacity: int, obs_shape: tuple[int, ...], obs_dtype: np.dtype, storage: str,
                          stacked: tuple[str, ...]) -> None:
    """ConfigError with the bytes needed when the observations alone would exceed this machine's memory (before a
    MemoryError, or an overcommitted mapping that the kernel kills later)."""
    if storage == "full":
        needed = 2 * capacity * int(np.prod(obs_shape, dtype=np.int64)) * obs_dtype.itemsize
    elif stacked:  # a row holds one frame of each stacked key and the other keys whole
        per_row = sum(obs_dtype.fields[key][0].itemsize // obs_dtype.fields[key][0].shape[0] if key in stacked
                      else obs_dtype.fields[key][0].itemsize for key in obs_dtype.names)
        needed = capacity * per_row
    else:
        needed = capacity * int(np.prod(obs_shape[1:], dtype=np.int64)) * obs_dtype.itemsize
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return  # a platform that does not say: let the allocation decide
    if needed > total:
        raise ConfigError(f"config field 'replay.capacity': {capacity:,} transitions of {tuple(obs_shape)} "
                          f"{obs_dtype.name} observations need {needed / 2**30:,.1f} GiB, more than this "
                          f"machine's {total / 2**30:,.1f} GiB; lower replay.capacity")
