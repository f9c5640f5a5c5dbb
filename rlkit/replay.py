"""Replay storage for off-policy agents: preallocated numpy rings with n-step returns computed at sample time.

Three buffers share one interface (`add`, `sample`, `sample_batches`, `gather`, `__len__`, `state_dict`,
`load_state_dict`, `save`, `load`, `rng_state`, `set_rng_state`):

- `ReplayBuffer` (here): every observation and successor stored in full; any observation space.
- `FrameReplayBuffer` (`rlkit.frame_replay`): frame stacks `(K, H, W)` with each frame stored once.
- `PrioritizedReplay` (`rlkit.prioritized`): proportional prioritised sampling over either storage (a `SumTree`).

`build_replay` picks one from the settings. Layout of both storages: arrays of shape `(rows, num_envs, ...)` with
`rows = capacity // num_envs`, each env's steps in its own column; a flat slot index is `row * num_envs + env`.
`add` returns `(added, removed)` flat slots so a prioritised wrapper can keep its sum tree in step with the ring.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rlkit.errors import CheckpointError, ConfigError
from rlkit.memory import large_zeros

_FORMAT = "rlkit.replay/1"
_ARRAY_KEYS = ("obs", "next_obs", "actions", "rewards", "terminated", "truncated")
STORAGES = ("auto", "full", "frames")


@dataclass
class Batch:
    """A sampled batch of (n-step) transitions; B is the batch size.

    obs: (B, *obs_shape) in the buffer's obs dtype; actions: (B,) int64;
    rewards: (B,) float32, sum_{k<m} gamma^k r_{t+k} over the m <= n_step steps taken;
    discounts: (B,) float32, gamma^m, or 0.0 when the episode terminated within the window;
    next_obs: (B, *obs_shape) observation after the m-th step (the true final obs at an episode end);
    indices: (B,) int64 flat storage slots; weights: (B,) float32 importance weights (ones when uniform).
    Treat a batch as read-only: FrameReplayBuffer returns obs and next_obs as overlapping views of one array.
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


def build_replay(capacity: int, obs_shape: tuple[int, ...], obs_dtype, num_envs: int = 1, n_step: int = 1,
                 gamma: float = 0.99, seed: int | None = None, storage: str = "auto", prioritized: bool = False,
                 alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6, num_actions: int | None = None):
    """The replay a run needs. storage: "full" stores whole observations; "frames" stores each frame of `(K, H, W)`
    stacks once (`num_actions` picks the smallest action dtype); "auto" picks "frames" for uint8 `(K, H, W)`
    observations with K > 1 and "full" otherwise. `prioritized` wraps the storage in `PrioritizedReplay`."""
    from rlkit.frame_replay import FrameReplayBuffer
    from rlkit.prioritized import PrioritizedReplay

    if storage not in STORAGES:
        raise ValueError(f"unknown replay storage {storage!r}; use one of {', '.join(STORAGES)}")
    shape = tuple(int(d) for d in obs_shape)
    if storage == "auto":
        storage = "frames" if np.dtype(obs_dtype) == np.uint8 and len(shape) == 3 and shape[0] > 1 else "full"
    if storage == "frames":
        try:
            buffer = FrameReplayBuffer(capacity, shape, obs_dtype, num_envs, n_step, gamma, seed, num_actions)
        except ValueError as error:  # observations that are not frame stacks: the config asked for the wrong storage
            raise ConfigError(f"config field 'replay.storage': {error}") from None
    else:
        buffer = ReplayBuffer(capacity, shape, obs_dtype, num_envs, n_step, gamma, seed)
    return PrioritizedReplay(buffer, alpha=alpha, beta=beta, eps=eps) if prioritized else buffer


def n_step_returns(rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, available: np.ndarray,
                   gamma_powers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-step targets' ingredients for B windows of n consecutive steps of one env each.

    rewards: (B, n) float32; terminated, truncated: (B, n) bool; available: (B,) int, how many of the n steps exist
    (>= 1; the rest lie past the newest data); gamma_powers: (n + 1,) float32, gamma**k.
    A window stops after its first terminated or truncated step. Returns (returns (B,) float32, the discounted sum
    of the steps taken; discounts (B,) float32, gamma**m or 0.0 when the last step taken terminated; steps (B,)
    int64, m, the number of steps taken).
    """
    n = rewards.shape[1]
    if n == 1:  # the common 1-step case in a few operations: the one step always exists
        return (rewards[:, 0].astype(np.float32, copy=False),
                np.where(terminated[:, 0], np.float32(0), gamma_powers[1]).astype(np.float32, copy=False),
                np.ones(len(rewards), np.int64))
    in_range = np.arange(n) < available[:, None]
    ended = (terminated | truncated) & in_range
    taken = in_range & ((np.cumsum(ended, axis=1) - ended) == 0)  # up to and including the first ending
    steps = taken.sum(axis=1)
    # np.where, not a product: steps outside the window may hold any old value, inf included.
    returns = np.where(taken, rewards, np.float32(0)) @ gamma_powers[:-1]
    last_terminated = terminated[np.arange(len(steps)), steps - 1]
    discounts = np.where(last_terminated, np.float32(0), gamma_powers[steps])
    return returns.astype(np.float32, copy=False), discounts.astype(np.float32, copy=False), steps


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


class ReplayBuffer(ReplayStorage):
    """Uniform replay over a vector env's transitions, with n-step returns computed at sample time.

    `capacity` is rounded down to a multiple of `num_envs` (each env owns `capacity // num_envs` rows); the rounded
    value is `self.capacity`. Observations are stored in `obs_dtype` (uint8 frames stay uint8), obs and next_obs
    each in full: use `FrameReplayBuffer` for Atari frame stacks.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype, num_envs: int = 1,
                 n_step: int = 1, gamma: float = 0.99, seed: int | None = None):
        super().__init__(capacity, obs_shape, obs_dtype, num_envs, n_step, gamma, seed)
        self._row = 0  # next row to write
        self._num_rows = 0  # rows holding data, at most self.rows
        grid = (self.rows, self.num_envs)
        self._obs = large_zeros(grid + self.obs_shape, self.obs_dtype)
        self._next_obs = large_zeros(grid + self.obs_shape, self.obs_dtype)
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

    def __len__(self) -> int:
        """Number of transitions stored, all envs together (at most `capacity`)."""
        return self._num_rows * self.num_envs

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays."""
        return sum(getattr(self, "_" + key).nbytes for key in _ARRAY_KEYS)

    def add(self, obs, actions, rewards, next_obs, terminated, truncated) -> tuple[np.ndarray, np.ndarray]:
        """Store one vector-env step (N = num_envs), overwriting the oldest row once full.

        obs: (N, *obs_shape); actions: (N,) int; rewards: (N,) float; next_obs: (N, *obs_shape), the TRUE successor
        (the final obs when the episode ended, not the reset obs); terminated: (N,) bool; truncated: (N,) bool.
        Returns (added (N,) int64, the flat slots now holding these transitions; removed (0,) int64, slots no
        longer sampleable: none here, an overwritten slot holds its new transition).
        """
        n = self.num_envs
        obs = self._checked("obs", obs, (n,) + self.obs_shape, obs=True)
        next_obs = self._checked("next_obs", next_obs, (n,) + self.obs_shape, obs=True)
        columns = [self._checked(name, value, (n,)) for name, value in
                   (("actions", actions), ("rewards", rewards), ("terminated", terminated), ("truncated", truncated))]
        row = self._row
        self._obs[row] = obs
        self._next_obs[row] = next_obs
        self._actions[row], self._rewards[row], self._terminated[row], self._truncated[row] = columns
        self._row = (row + 1) % self.rows
        self._num_rows = min(self._num_rows + 1, self.rows)
        return row * n + np.arange(n, dtype=np.int64), np.zeros(0, np.int64)

    def add_steps(self, obs, actions, rewards, next_obs, terminated, truncated) -> tuple[np.ndarray, np.ndarray]:
        """`ReplayStorage.add_steps` without a Python loop over the steps (how an actor's chunk is ingested).
        Nothing is removed here, so every source is >= 0: step t of env e goes to slot row_t * N + e."""
        n = self.num_envs
        steps = int(np.shape(actions)[0]) if np.ndim(actions) else -1
        obs = self._checked("obs", obs, (steps, n) + self.obs_shape, obs=True)
        next_obs = self._checked("next_obs", next_obs, (steps, n) + self.obs_shape, obs=True)
        columns = [self._checked(name, value, (steps, n)) for name, value in
                   (("actions", actions), ("rewards", rewards), ("terminated", terminated), ("truncated", truncated))]
        rows = (self._row + np.arange(steps)) % self.rows
        kept = slice(max(steps - self.rows, 0), steps)  # more steps than rows: only the newest stay, as with add
        self._obs[rows[kept]] = obs[kept]
        self._next_obs[rows[kept]] = next_obs[kept]
        for storage, column in zip((self._actions, self._rewards, self._terminated, self._truncated), columns):
            storage[rows[kept]] = column[kept]
        self._row = (self._row + steps) % self.rows
        self._num_rows = min(self._num_rows + steps, self.rows)
        return (rows[:, None] * n + np.arange(n)).reshape(-1), np.arange(steps * n, dtype=np.int64)

    def end_episodes(self) -> None:
        """Mark each env's newest transition truncated, so n-step windows stop there (after a resume the envs
        restart from a reset and the stored streams do not continue); the transition still bootstraps."""
        if self._num_rows:
            self._truncated[(self._row - 1) % self.rows] = True

    def valid_slots(self) -> np.ndarray:
        """(len(self),) int64 flat slots holding transitions, ascending."""
        return np.arange(len(self), dtype=np.int64)

    def clear(self) -> None:
        """Forget every transition (the arrays keep their memory)."""
        self._row = self._num_rows = 0

    def _draw(self, count: int) -> np.ndarray:
        return self._rng.integers(0, len(self), size=count, dtype=np.int64)

    def gather(self, indices: np.ndarray, weights: np.ndarray | None = None) -> Batch:
        """Build the n-step Batch for flat slots `indices` (B,) int64, which must hold stored transitions;
        `weights` (B,) float32 importance weights, ones when None."""
        n = self.num_envs
        rows, envs = np.divmod(indices, n)
        # Steps the window may read without passing the newest row; counted from the oldest row, so a window
        # never wraps from the write head into overwritten (older) data.
        oldest = (self._row - self._num_rows) % self.rows
        available = self._num_rows - (rows - oldest) % self.rows
        window = ((rows[:, None] + self._steps) % self.rows) * n + envs[:, None]  # (B, n_step) flat slots
        returns, discounts, steps = n_step_returns(
            self._flat_rewards.take(window), self._flat_terminated.take(window), self._flat_truncated.take(window),
            available, self._gamma_powers)
        last = window[np.arange(len(indices)), steps - 1]
        return Batch(
            obs=self._flat_obs.take(indices, axis=0),
            actions=self._flat_actions.take(indices),
            rewards=returns,
            discounts=discounts,
            next_obs=self._flat_next_obs.take(last, axis=0),
            indices=indices,
            weights=np.ones(len(indices), np.float32) if weights is None else weights,
        )

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
            self._check_header(state, _FORMAT)
            row, num_rows = int(state["row"]), int(state["num_rows"])
            if not (0 <= num_rows <= self.rows and 0 <= row < self.rows and (num_rows == self.rows or row == num_rows)):
                raise CheckpointError(f"replay state has inconsistent row={row}, num_rows={num_rows} "
                                      f"for {self.rows} rows")
            self._check_arrays(state, {key: getattr(self, "_" + key) for key in _ARRAY_KEYS}, num_rows)
            rng = self._rng_from(state)
        except KeyError as err:
            raise CheckpointError(f"replay state is missing key {err.args[0]!r}") from None
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"replay state has an invalid value: {err}") from None
        self.clear()  # if a streamed array turns out corrupt part-way, the buffer is left empty, not mixed
        for key in _ARRAY_KEYS:
            stream_into(getattr(self, "_" + key)[:num_rows], state[key])
        self._row, self._num_rows, self._rng = row, num_rows, rng


# -- replay files ------------------------------------------------------------------------------------------------
_STEP_KEY = "step"  # the env step a saved buffer belongs to
_STREAM_CHUNK = 16 << 20  # bytes per read when streaming a large array from a file into a buffer
_EAGER_BYTES = 1 << 20  # arrays smaller than this are read whole; larger ones stay lazy until copied into place


def write_replay_file(path, state: dict, step: int | None = None) -> None:
    """Write `state` (arrays and python scalars) to `path` as an uncompressed .npz, atomically (temporary file,
    fsync, rename). np.savez writes each contiguous array into the zip in 16 MiB chunks, so saving a full buffer
    adds no copy of it to memory. `step` (the env step of the checkpoint the file goes with) is stored as the
    member `step`, so a loader can tell a replay from a checkpoint it does not belong to."""
    from rlkit.checkpoint import atomic_write  # imported here: rlkit.checkpoint imports torch, replay does not need it

    stamp = {} if step is None else {_STEP_KEY: np.int64(step)}
    atomic_write(Path(path), lambda handle: np.savez(handle, **state, **stamp))


def read_replay_step(path) -> int | None:
    """The step stamped into a replay file by `save(path, step)`, or None when it carries none (an older file, or
    one saved without a step). Reads only that member. Raises CheckpointError naming the file if it is unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return int(npz[_STEP_KEY]) if _STEP_KEY in npz.files else None
    except FileNotFoundError:
        raise CheckpointError(f"replay file {path} not found; check the path") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"replay file {path} is unreadable or unsafe ({_reason(err)}); "
                              f"it was not written by a replay buffer's save") from None


def read_replay_file(path, buffer) -> None:
    """`buffer.load_state_dict` from a file written by `write_replay_file`, never unpickling anything.

    Arrays of 1 MiB or more reach `load_state_dict` as lazy members (`shape`, `dtype`) that `stream_into` copies
    into place, so a 7 GB frame array is never held twice.
    """
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CheckpointError(f"replay file {path} not found; check the path") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"replay file {path} is unreadable or unsafe ({_reason(err)}); "
                              f"it was not written by a replay buffer's save") from None
    with npz:
        try:
            state = {}
            for key in npz.files:
                member = _NpyMember(npz.zip, key)
                state[key] = member if member.nbytes >= _EAGER_BYTES else npz[key]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
            raise CheckpointError(f"replay file {path} is unreadable or unsafe ({_reason(err)}); "
                                  f"it was not written by a replay buffer's save") from None
        try:
            buffer.load_state_dict(state)
        except CheckpointError as err:
            raise CheckpointError(f"replay file {path}: {err}") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            buffer.clear()
            raise CheckpointError(f"replay file {path} is corrupt ({_reason(err)}); "
                                  f"the buffer was left empty") from None


def stream_into(destination: np.ndarray, value) -> None:
    """Copy `value` (an array, or a lazy member from `read_replay_file`) into `destination` of the same shape."""
    if isinstance(value, _NpyMember):
        value.copy_into(destination)
    else:
        np.copyto(destination, value)


class _NpyMember:
    """One array of an open .npz, read only when asked: `shape`, `dtype` and `nbytes` come from its header."""

    def __init__(self, archive: zipfile.ZipFile, key: str):
        self._archive, self._name = archive, key + ".npy"
        with archive.open(self._name) as handle:
            version = np.lib.format.read_magic(handle)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"array {key!r} has unsupported .npy version {version}")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, fortran_order, self.dtype = read_header(handle)
            self._offset = handle.tell()
        if self.dtype.hasobject or fortran_order:  # never written by save: refused before reading any of it
            raise ValueError(f"array {key!r} holds Python objects or is in Fortran order")
        self.shape = tuple(shape)
        self.nbytes = int(np.prod(shape, dtype=np.int64)) * self.dtype.itemsize

    def copy_into(self, destination: np.ndarray) -> None:
        """Stream the data into `destination`, C-contiguous, of this shape and dtype (validated by the caller)."""
        if destination.shape != self.shape or destination.dtype != self.dtype or not destination.flags.c_contiguous:
            raise ValueError(f"array {self._name[:-4]!r} does not fit its destination")
        view = memoryview(destination.reshape(-1).view(np.uint8))
        with self._archive.open(self._name) as handle:
            handle.seek(self._offset)
            done = 0
            while done < len(view):
                chunk = handle.read(min(_STREAM_CHUNK, len(view) - done))
                if not chunk:
                    raise EOFError(f"array {self._name[:-4]!r} ends before its {self.nbytes} bytes")
                view[done:done + len(chunk)] = chunk
                done += len(chunk)
            if handle.read(1):  # reading to the end also makes zipfile check the member's CRC
                raise ValueError(f"array {self._name[:-4]!r} is longer than its header says")


def _reason(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def __getattr__(name: str):
    # The other buffers import this module, so they are re-exported lazily (PEP 562) rather than imported above.
    if name == "FrameReplayBuffer":
        from rlkit.frame_replay import FrameReplayBuffer
        return FrameReplayBuffer
    if name in ("PrioritizedReplay", "SumTree"):
        from rlkit import prioritized
        return getattr(prioritized, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
