"""``ReplayStorage``: what the uniform and the frame storage share (sampling, RNG state, saving and loading,
argument checks); the layout is ``(rows, num_envs, ...)`` arrays, a flat slot being ``row * num_envs + env``."""

from __future__ import annotations

import json

import numpy as np

from rlkit.errors import CheckpointError

from .batch import Batch
from .files import read_replay_file, write_replay_file


class ReplayStorage:
    """What every replay storage shares: settings, the sampling RNG, uniform sampling and files.

    A subclass provides `add`, `gather`, `valid_slots`, `clear`, `__len__`, `state_dict`, `load_state_dict` and
    `_draw(count) -> (count,) int64 flat slots drawn uniformly over the sampleable ones`.
    """

    prioritized = False

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype, num_envs: int, n_step: int,
                 gamma: float, seed: int | None):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if capacity < num_envs:
            raise ValueError(f"capacity must be >= num_envs ({num_envs}), got {capacity}")
        if n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {n_step}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.num_envs = int(num_envs)
        self.rows = int(capacity) // self.num_envs
        self.capacity = self.rows * self.num_envs
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self.n_step = int(n_step)
        self.gamma = float(gamma)
        self._rng = np.random.default_rng(seed)
        self._steps = np.arange(self.n_step)
        self._gamma_powers = (self.gamma ** np.arange(self.n_step + 1)).astype(np.float32)

    @property
    def rng(self) -> np.random.Generator:
        """The sampling RNG (a prioritised wrapper draws from it too, so one state covers both)."""
        return self._rng

    def sample(self, batch_size: int) -> Batch:
        """Sample `batch_size` transitions uniformly with replacement; returns a Batch of n-step transitions."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(self) == 0:
            raise ValueError("cannot sample from an empty replay buffer; add transitions first")
        return self.gather(self._draw(batch_size))

    def sample_batches(self, batch_size: int, count: int) -> list[Batch]:
        """``count`` independent uniform batches of ``batch_size``, drawn with one index draw and one gather.

        Distributed exactly as ``count`` calls of ``sample`` (the buffer does not change in between), at a fraction
        of the cost: a training phase pays numpy's per-call overhead once instead of once per gradient step.
        """
        return self.sample(batch_size * count).split(count)

    def rng_state(self) -> dict:
        """The sampling RNG's state (a dict of ints), so a resumed run samples as the original would."""
        return self._rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        """Restore the sampling RNG from ``rng_state()``."""
        self._rng.bit_generator.state = state

    def save(self, path, step: int | None = None) -> None:
        """Write `state_dict()` to `path` as an uncompressed .npz, atomically, streaming the arrays (no copy);
        `step`, the env step the buffer belongs to, is stamped into the file (see `read_replay_step`)."""
        write_replay_file(path, self.state_dict(), step)

    def load(self, path) -> None:
        """Restore this buffer from a file written by `save` (never unpickles anything; large arrays are streamed
        into place, so loading needs no second copy of the buffer). A missing, corrupt, unsafe or mismatched file
        raises CheckpointError naming the file; a file whose data turns out corrupt part-way leaves it empty."""
        read_replay_file(path, self)

    def _rng_from(self, state: dict) -> np.random.Generator:
        rng = np.random.default_rng()
        rng.bit_generator.state = json.loads(str(np.asarray(state["rng_state"])))
        return rng

    def _check_header(self, state: dict, fmt: str) -> None:
        """Raise CheckpointError unless `state` has format `fmt` and this buffer's capacity, envs and obs space."""
        found_fmt = str(np.asarray(state["format"]))
        if found_fmt != fmt:
            raise CheckpointError(f"replay state has format {found_fmt!r}, expected {fmt!r}")
        expected = {"capacity": self.capacity, "num_envs": self.num_envs, "obs_shape": self.obs_shape,
                    "obs_dtype": self.obs_dtype.name}
        for key, want in expected.items():
            value = np.asarray(state[key])
            found = tuple(int(d) for d in value.reshape(-1)) if key == "obs_shape" else type(want)(value)
            if found != want:
                raise CheckpointError(f"replay state has {key}={found}, but this buffer has {key}={want}; "
                                      f"build the buffer with the saved settings")

    def _check_arrays(self, state: dict, storages: dict[str, np.ndarray], count: int) -> None:
        """Raise CheckpointError unless each `state[key]` has the dtype of `storages[key]` and `count` leading rows."""
        for key, storage in storages.items():
            array = state[key]
            want_shape = (count,) + storage.shape[1:]
            if tuple(array.shape) != want_shape or array.dtype != storage.dtype:
                raise CheckpointError(f"replay state array {key!r} is {array.dtype}{list(array.shape)}, "
                                      f"expected {storage.dtype}{list(want_shape)}")

    def add_steps(self, obs, actions, rewards, next_obs, terminated, truncated) -> tuple[np.ndarray, np.ndarray]:
        """T consecutive vector-env steps, the same as T `add` calls; `add`'s arguments with a leading axis T (obs:
        (T, N, *obs_shape), actions: (T, N), ...).

        Returns (slots (K,) int64, sources (K,) int64): every flat slot the steps wrote, in the order written, and
        for each the index into the flattened (T, N) steps of the transition it received, or -1 where the write
        took a transition away (a slot written twice holds what its last write says).
        """
        n, slots, sources = self.num_envs, [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for t in range(len(actions)):
            added, removed = self.add(obs[t], actions[t], rewards[t], next_obs[t], terminated[t], truncated[t])
            slots += [removed, added]
            sources += [np.full(len(removed), -1, np.int64), t * n + np.arange(len(added), dtype=np.int64)]
        return np.concatenate(slots), np.concatenate(sources)

    def _checked(self, name: str, value, shape: tuple[int, ...], obs: bool = False) -> np.ndarray:
        """`value` as an array of `shape`, else ValueError naming the argument; refuses float obs into int storage."""
        array = np.asarray(value)
        if array.shape != shape:
            raise ValueError(f"{name} has shape {array.shape}, expected {shape} "
                             f"(leading axis num_envs={self.num_envs})")
        if obs and not np.can_cast(array.dtype, self.obs_dtype, "same_kind"):
            raise ValueError(f"{name} has dtype {array.dtype}, which cannot be stored as {self.obs_dtype} "
                             f"without losing values; pass {self.obs_dtype} observations")
        return array
