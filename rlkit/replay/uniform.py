"""``ReplayBuffer``: uniform replay storing every observation and its successor in full (any observation space)."""

from __future__ import annotations

import json

import numpy as np

from rlkit.errors import CheckpointError

from .arrays import large_zeros
from .batch import Batch, n_step_returns
from .files import stream_into
from .storage import ReplayStorage

_FORMAT = "rlkit.replay/1"
_ARRAY_KEYS = ("obs", "next_obs", "actions", "rewards", "terminated", "truncated")


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
            returns=returns,
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
