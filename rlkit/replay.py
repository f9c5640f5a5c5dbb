"""Replay storage for off-policy agents: a preallocated numpy ring buffer with n-step returns across vector envs.

Layout: every array has shape `(rows, num_envs, ...)` with `rows = capacity // num_envs`, so each env's steps are
consecutive in its own column and one vector-env step fills one row. A flat slot index is `row * num_envs + env`.
n-step returns are built at sample time, so `n_step` and `gamma` can change without touching the stored data.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rlkit.errors import CheckpointError

_FORMAT = "rlkit.replay/1"
_ARRAY_KEYS = ("obs", "next_obs", "actions", "rewards", "terminated", "truncated")


@dataclass
class Batch:
    """A sampled batch of (n-step) transitions; B is the batch size.

    obs: (B, *obs_shape) in the buffer's obs dtype; actions: (B,) int64;
    rewards: (B,) float32, sum_{k<m} gamma^k r_{t+k} over the m <= n_step steps taken;
    discounts: (B,) float32, gamma^m, or 0.0 when the episode terminated within the window;
    next_obs: (B, *obs_shape) observation after the m-th step (the true final obs at an episode end);
    indices: (B,) int64 flat storage slots; weights: (B,) float32 importance weights (ones when uniform).
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    discounts: np.ndarray
    next_obs: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    def split(self, count: int) -> list["Batch"]:
        """Cut into ``count`` equal consecutive batches (views, no copy); B must be a multiple of ``count``."""
        size = len(self.actions) // count
        fields = (self.obs, self.actions, self.rewards, self.discounts, self.next_obs, self.indices, self.weights)
        return [Batch(*(field[i * size:(i + 1) * size] for field in fields)) for i in range(count)]


class ReplayBuffer:
    """Uniform replay over a vector env's transitions, with n-step returns computed at sample time.

    `capacity` is rounded down to a multiple of `num_envs` (each env owns `capacity // num_envs` rows); the rounded
    value is `self.capacity`. Observations are stored in `obs_dtype` (uint8 frames stay uint8).
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype, num_envs: int = 1,
                 n_step: int = 1, gamma: float = 0.99, seed: int | None = None):
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
        self._row = 0  # next row to write
        self._num_rows = 0  # rows holding data, at most self.rows
        grid = (self.rows, self.num_envs)
        self._obs = np.zeros(grid + self.obs_shape, self.obs_dtype)
        self._next_obs = np.zeros(grid + self.obs_shape, self.obs_dtype)
        self._actions = np.zeros(grid, np.int64)
        self._rewards = np.zeros(grid, np.float32)
        self._terminated = np.zeros(grid, bool)
        self._truncated = np.zeros(grid, bool)
        # Flat views share memory with the grids: np.take on one flat index is cheaper than (row, env) indexing.
        self._flat_obs = self._obs.reshape((self.capacity,) + self.obs_shape)
        self._flat_next_obs = self._next_obs.reshape((self.capacity,) + self.obs_shape)
        self._flat_actions = self._actions.reshape(-1)
        self._flat_rewards = self._rewards.reshape(-1)
        self._flat_terminated = self._terminated.reshape(-1)
        self._flat_truncated = self._truncated.reshape(-1)
        self._steps = np.arange(self.n_step)
        self._gamma_powers = (self.gamma ** np.arange(self.n_step + 1)).astype(np.float32)

    def __len__(self) -> int:
        """Number of transitions stored, all envs together (at most `capacity`)."""
        return self._num_rows * self.num_envs

    def add(self, obs, actions, rewards, next_obs, terminated, truncated) -> None:
        """Store one vector-env step (N = num_envs), overwriting the oldest row once full.

        obs: (N, *obs_shape); actions: (N,) int; rewards: (N,) float; next_obs: (N, *obs_shape), the TRUE successor
        (the final obs when the episode ended, not the reset obs); terminated: (N,) bool; truncated: (N,) bool.
        """
        n = self.num_envs
        obs = self._checked("obs", obs, (n,) + self.obs_shape, obs=True)
        next_obs = self._checked("next_obs", next_obs, (n,) + self.obs_shape, obs=True)
        row = self._row
        self._obs[row] = obs
        self._next_obs[row] = next_obs
        self._actions[row] = self._checked("actions", actions, (n,))
        self._rewards[row] = self._checked("rewards", rewards, (n,))
        self._terminated[row] = self._checked("terminated", terminated, (n,))
        self._truncated[row] = self._checked("truncated", truncated, (n,))
        self._row = (row + 1) % self.rows
        self._num_rows = min(self._num_rows + 1, self.rows)

    def sample(self, batch_size: int) -> Batch:
        """Sample `batch_size` transitions uniformly with replacement; returns a Batch of n-step transitions."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if self._num_rows == 0:
            raise ValueError("cannot sample from an empty replay buffer; add transitions first")
        indices = self._rng.integers(0, len(self), size=batch_size, dtype=np.int64)
        return self._gather(indices)

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

    def state_dict(self) -> dict:
        """Buffer contents, write position and sampling RNG state: numpy arrays and python ints/floats/str only.

        The arrays are views of the live storage trimmed to the rows in use (no copy); copy them if you keep the
        dict while adding. n_step and gamma are recorded for information: a loading buffer keeps its own.
        """
        used = slice(0, self._num_rows)  # before the first wrap, rows [0, num_rows) are exactly the stored ones
        state = {
            "format": _FORMAT,
            "capacity": self.capacity,
            "num_envs": self.num_envs,
            "obs_shape": np.asarray(self.obs_shape, np.int64),
            "obs_dtype": self.obs_dtype.name,
            "n_step": self.n_step,
            "gamma": self.gamma,
            "row": self._row,
            "num_rows": self._num_rows,
            # The PCG64 state holds 128-bit ints that no numpy dtype stores; JSON keeps them exact.
            "rng_state": json.dumps(self._rng.bit_generator.state),
        }
        for key in _ARRAY_KEYS:
            state[key] = getattr(self, "_" + key)[used]
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore from `state_dict()` output (scalars may be python values or 0-d arrays, as after np.load).

        Everything is validated before anything is changed; a mismatch raises CheckpointError with one line.
        """
        try:
            fmt = str(state["format"])
            if fmt != _FORMAT:
                raise CheckpointError(f"replay state has format {fmt!r}, expected {_FORMAT!r}")
            expected = {"capacity": self.capacity, "num_envs": self.num_envs,
                        "obs_shape": self.obs_shape, "obs_dtype": self.obs_dtype.name}
            found = {"capacity": int(state["capacity"]), "num_envs": int(state["num_envs"]),
                     "obs_shape": tuple(int(d) for d in np.asarray(state["obs_shape"]).reshape(-1)),
                     "obs_dtype": str(state["obs_dtype"])}
            for key, want in expected.items():
                if found[key] != want:
                    raise CheckpointError(f"replay state has {key}={found[key]}, but this buffer has {key}={want}; "
                                          f"build the buffer with the saved settings")
            row, num_rows = int(state["row"]), int(state["num_rows"])
            if not (0 <= num_rows <= self.rows and 0 <= row < self.rows and (num_rows == self.rows or row == num_rows)):
                raise CheckpointError(f"replay state has inconsistent row={row}, num_rows={num_rows} "
                                      f"for {self.rows} rows")
            arrays = {key: np.asarray(state[key]) for key in _ARRAY_KEYS}
            rng = np.random.default_rng()
            rng.bit_generator.state = json.loads(str(state["rng_state"]))
        except KeyError as err:
            raise CheckpointError(f"replay state is missing key {err.args[0]!r}") from None
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"replay state has an invalid value: {err}") from None
        for key, array in arrays.items():
            storage = getattr(self, "_" + key)
            want_shape = (num_rows,) + storage.shape[1:]
            if array.shape != want_shape or array.dtype != storage.dtype:
                raise CheckpointError(f"replay state array {key!r} is {array.dtype}{list(array.shape)}, "
                                      f"expected {storage.dtype}{list(want_shape)}")
        for key, array in arrays.items():
            getattr(self, "_" + key)[:num_rows] = array
        self._row, self._num_rows, self._rng = row, num_rows, rng

    def save(self, path) -> None:
        """Write `state_dict()` to `path` (exactly that name) as an uncompressed .npz, atomically.

        The data goes to a temporary file in the same directory, is flushed and fsynced, then os.replace'd over
        `path`, so a crash never leaves a half-written file under the final name.
        """
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **self.state_dict())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    def load(self, path) -> None:
        """Restore this buffer from a file written by `save` (never unpickles anything).

        A missing, corrupt, unsafe (pickled objects) or mismatched file raises CheckpointError naming the file.
        """
        try:
            with np.load(path, allow_pickle=False) as npz:
                state = {key: npz[key] for key in npz.files}
        except FileNotFoundError:
            raise CheckpointError(f"replay file {path} not found; check the path") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            reason = " ".join(str(err).split()) or type(err).__name__
            raise CheckpointError(f"replay file {path} is unreadable or unsafe ({reason}); "
                                  f"it was not written by ReplayBuffer.save") from None
        try:
            self.load_state_dict(state)
        except CheckpointError as err:
            raise CheckpointError(f"replay file {path}: {err}") from None

    def _gather(self, indices: np.ndarray, weights: np.ndarray | None = None) -> Batch:
        """Build the n-step Batch for flat slots `indices` (B,) int64, which must hold stored transitions."""
        n = self.num_envs
        rows, envs = np.divmod(indices, n)
        # Steps the window may read without passing the newest row; counted from the oldest row, so a window
        # never wraps from the write head into overwritten (older) data.
        oldest = (self._row - self._num_rows) % self.rows
        available = self._num_rows - (rows - oldest) % self.rows
        window = ((rows[:, None] + self._steps) % self.rows) * n + envs[:, None]  # (B, n_step) flat slots
        in_range = self._steps < available[:, None]
        ended = (self._flat_terminated.take(window) | self._flat_truncated.take(window)) & in_range
        # Keep steps up to and including the first one that ended an episode.
        taken = in_range & ((np.cumsum(ended, axis=1) - ended) == 0)
        num_taken = taken.sum(axis=1)
        rewards = (self._flat_rewards.take(window) * taken) @ self._gamma_powers[:-1]
        last = window[np.arange(len(indices)), num_taken - 1]
        discounts = np.where(self._flat_terminated.take(last), np.float32(0), self._gamma_powers[num_taken])
        return Batch(
            obs=self._gather_obs(indices),
            actions=self._flat_actions.take(indices),
            rewards=rewards.astype(np.float32, copy=False),
            discounts=discounts.astype(np.float32, copy=False),
            next_obs=self._gather_next_obs(last),
            indices=indices,
            weights=np.ones(len(indices), np.float32) if weights is None else weights,
        )

    # Observation access goes through these two methods so a frame-deduplicating subclass can replace storage.
    def _gather_obs(self, slots: np.ndarray) -> np.ndarray:
        """Observations at flat `slots` (B,) -> (B, *obs_shape)."""
        return self._flat_obs.take(slots, axis=0)

    def _gather_next_obs(self, slots: np.ndarray) -> np.ndarray:
        """Successor observations at flat `slots` (B,) -> (B, *obs_shape)."""
        return self._flat_next_obs.take(slots, axis=0)

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


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable on POSIX; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
