"""Frame-deduplicated replay for frame-stacked observations (Atari): frames stored once, stacks rebuilt when sampled.

An observation is a stack `(K, *frame_shape)` (Atari: `(4, 84, 84)` uint8) and each one is the previous one shifted
by a frame. Every env owns a column of `rows = capacity // num_envs` rows with its own write head; a row holds ONE
frame plus small metadata, so a 1M-transition Atari buffer takes 7,065 bytes per slot (6.6 GiB in all):

    frame     the newest frame of an observation           (rows, N, *frame_shape) obs dtype
    action, reward, terminated, truncated                  (rows, N) uint8|int16|int32, float32, bool, bool
    depth     how many of the K-1 frames before this row belong to the stack ending here; older ones read as zeros
    valid     the row holds a transition whose whole stack is still in the ring (sampleable)

Each `add` writes, per env, the newest frame of `obs` into the head row (a transition row) and pre-writes the newest
frame of `next_obs` into the following row, which becomes the new head: when the episode goes on, the next add
writes the same frame there as its obs. When the episode ended, that row is kept as a filler holding the true
final frame (never sampled) and the next episode starts one row later. Example, K = 4, one env:

    row     0    1    2    3(filler)  4    5(head)
    frame   f0   f1   f2   f3         g0   g1        transition 2: obs = [0, f0, f1, f2], next_obs = [f0, f1, f2, f3]
    depth   0    1    2    3          0    1         transition 4: obs = [0, 0, 0, g0],   next_obs = [0, 0, g0, g1]

An episode whose first stack is not zero-padded (e.g. padded by repeating the reset frame) gets its older frames
written as "prefix" rows first, so stacks are exact whatever the padding. A stack never reaches past its episode's
first frame, and a transition is dropped from sampling once the ring overwrites a frame of its stack. n-step
windows follow `ReplayBuffer`'s rules (see `rlkit.replay.n_step_returns`).
"""

from __future__ import annotations

import json

import numpy as np
import torch

from rlkit.errors import CheckpointError
from .arrays import large_zeros
from .batch import Batch, n_step_returns
from .files import stream_into
from .storage import ReplayStorage

_FORMAT = "rlkit.frame_replay/1"
_ROW_KEYS = ("actions", "rewards", "terminated", "truncated", "depth", "valid")  # (rows, N) metadata arrays
_ENV_KEYS = ("written", "run", "ended")  # (N,) per-env write state


class FrameReplayBuffer(ReplayStorage):
    """Uniform replay storing each frame of `(K, *frame_shape)` frame stacks once; same API as `ReplayBuffer`.

    `capacity` is rounded down to a multiple of `num_envs` and must give each env at least 2K + 1 rows. Filler
    rows (one per finished episode) hold no transition, so a full buffer holds slightly fewer than `capacity`
    transitions. `num_actions` picks the action dtype (uint8 up to 256 actions, int16 when None or up to 32768).
    `add` requires `next_obs[i][:-1] == obs[i][1:]`; an `obs[i]` that does not continue the previous `next_obs[i]`
    of an unfinished episode (envs reset after a resumed run) starts a new episode and marks the previous
    transition truncated, so its n-step window bootstraps from its own successor.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype, num_envs: int = 1, n_step: int = 1,
                 gamma: float = 0.99, seed: int | None = None, num_actions: int | None = None):
        super().__init__(capacity, obs_shape, obs_dtype, num_envs, n_step, gamma, seed)
        k, frame_shape, frame_dtype = self._frame_layout()
        self.stack_size = k
        if self.rows < 2 * k + 1:
            raise ValueError(f"capacity {capacity} gives {self.rows} rows per env; FrameReplayBuffer needs at least "
                             f"{2 * k + 1} (2K + 1) per env, so capacity >= {(2 * k + 1) * self.num_envs}")
        if num_actions is not None and num_actions < 1:
            raise ValueError(f"num_actions must be >= 1, got {num_actions}")
        self.num_actions = num_actions
        self._action_limit = num_actions if num_actions is not None else 1 << 15
        self._action_dtype = np.dtype(np.uint8 if self._action_limit <= 256 else
                                      np.int16 if self._action_limit <= 1 << 15 else np.int32)
        n = self.num_envs
        # One extra all-zero frame at the end: masked stack positions index it, so a stack is one np.take.
        self._flat_frames = large_zeros((self.capacity + 1,) + frame_shape, frame_dtype)
        self._frames = self._flat_frames[:self.capacity].reshape((self.rows, n) + frame_shape)
        # The same memory as a tensor, for the threaded gather in `_window` (plain dtypes only; torch has no records).
        self._frames_tensor = torch.from_numpy(self._flat_frames) if self._flat_frames.dtype.fields is None else None
        grid = (self.rows, n)
        self._actions = np.zeros(grid, self._action_dtype)
        self._rewards = np.zeros(grid, np.float32)
        self._terminated = np.zeros(grid, bool)
        self._truncated = np.zeros(grid, bool)
        self._depth = np.zeros(grid, np.uint8 if k <= 256 else np.int32)
        self._valid = np.zeros(grid, bool)
        self._flat = {key: getattr(self, "_" + key).reshape(-1) for key in _ROW_KEYS}
        self._envs = np.arange(n)
        self._ahead = np.arange(1, k)  # the K-1 oldest rows, just ahead of a head
        self._offsets: dict[int, np.ndarray] = {}  # _window's row offsets per extra length
        self._last_next_obs = np.zeros((n,) + self.obs_shape, self.obs_dtype)
        self._written = np.zeros(n, np.int64)  # unwrapped head position per env; the head row is written % rows
        self._run = np.zeros(n, np.int64)  # frames of the current episode written before the head
        self._ended = np.ones(n, bool)  # the env's next obs starts a new episode
        self._rows_used = 0  # rows [0, rows_used) of some column have been written
        self._num_valid = 0

    def __len__(self) -> int:
        """Number of sampleable transitions, all envs together (at most `capacity` minus filler rows)."""
        return self._num_valid

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays (frames and per-row metadata; per-env state is negligible)."""
        return self._flat_frames.nbytes + sum(getattr(self, "_" + key).nbytes for key in _ROW_KEYS)

    def add(self, obs, actions, rewards, next_obs, terminated, truncated) -> tuple[np.ndarray, np.ndarray]:
        """Store one vector-env step (N = num_envs); arguments as in `ReplayBuffer.add`.

        obs, next_obs: (N, K, *frame_shape) with next_obs[i][:-1] == obs[i][1:]; next_obs is the TRUE successor.
        Returns (added (N,) int64, the flat slots of these transitions; removed (M,) int64, slots that were
        sampleable before this add and are not now, overwritten or with their stack partly overwritten).
        """
        n, k, rows = self.num_envs, self.stack_size, self.rows
        shape = (n,) + self.obs_shape
        obs, next_obs = self._checked("obs", obs, shape, obs=True), self._checked("next_obs", next_obs, shape, obs=True)
        actions = self._checked("actions", actions, (n,))
        if actions.min() < 0 or actions.max() >= self._action_limit:
            raise ValueError(f"actions must lie in [0, {self._action_limit}), got {actions.min()}..{actions.max()}; "
                             f"pass num_actions to size the action storage")
        rewards, terminated = self._checked("rewards", rewards, (n,)), self._checked("terminated", terminated, (n,))
        truncated = self._checked("truncated", truncated, (n,))
        self._check_shifted(obs, next_obs)

        # Which envs start an episode: first add, the last one ended, or obs does not continue the last next_obs.
        broken = ~self._ended & ~_rows_equal(obs, self._last_next_obs)
        if broken.any():
            cut = np.flatnonzero(broken)
            self._truncated[(self._written[cut] - 1) % rows, cut] = True  # bootstrap from its own successor
        fresh = self._ended | broken
        self._written += fresh & (self._written > 0)  # leave the head row (the final frame) as a filler
        self._run[fresh] = 0
        removed = []
        if k > 1 and fresh.any():
            self._write_prefixes(np.flatnonzero(fresh), obs, removed)

        flat = self._flat  # 1-D views: writing through one flat index is cheaper than through (row, env)
        added = (self._written % rows) * n + self._envs
        self._forget(added)  # overwritten transitions: replaced by the new ones, so not reported as removed
        self._flat_frames[added] = self._newest(obs)
        flat["depth"][added] = np.minimum(self._run, k - 1)
        flat["actions"][added] = actions
        flat["rewards"][added] = rewards
        flat["terminated"][added] = terminated
        flat["truncated"][added] = truncated
        flat["valid"][added] = True
        self._num_valid += n
        self._run += 1
        self._written += 1
        head = self._written % rows
        following = head * n + self._envs
        removed.append(self._forget(following))
        self._flat_frames[following] = self._newest(next_obs)  # the next add writes this same frame as its obs
        flat["depth"][following] = np.minimum(self._run, k - 1)
        flat["terminated"][following] = flat["truncated"][following] = False
        if k > 1:
            # The K-1 oldest rows lie just ahead of the head: a transition there whose stack reached into the rows
            # just overwritten is no longer whole (row head+j keeps its stack only while depth < j).
            ahead = ((head[:, None] + self._ahead) % rows) * n + self._envs[:, None]
            lost = flat["valid"].take(ahead) & (flat["depth"].take(ahead) >= self._ahead)
            removed.append(self._forget(ahead[lost]))
        self._ended = np.asarray(terminated, bool) | np.asarray(truncated, bool)
        self._last_next_obs[...] = next_obs
        self._rows_used = min(rows, max(self._rows_used, int(self._written.max()) + 1))
        return added, np.concatenate(removed) if removed else np.zeros(0, np.int64)

    def end_episodes(self) -> None:
        """Nothing to do: an add whose obs does not continue the stored stream already starts a new episode."""

    def valid_slots(self) -> np.ndarray:
        """(len(self),) int64 flat slots of the sampleable transitions, ascending."""
        return np.flatnonzero(self._flat["valid"])

    def clear(self) -> None:
        """Forget every transition (the arrays keep their memory)."""
        self._valid[...] = False
        self._written[...] = 0
        self._run[...] = 0
        self._ended[...] = True
        self._rows_used = self._num_valid = 0

    def gather(self, indices: np.ndarray, weights: np.ndarray | None = None) -> Batch:
        """Build the n-step Batch for flat slots `indices` (B,) int64, which must be sampleable;
        `weights` (B,) float32 importance weights, ones when None. obs, next_obs: (B, K, *frame_shape)."""
        n, rows = self.num_envs, self.rows
        if n == 1:  # one env: a flat slot is its row (a few array operations fewer per batch)
            row, env = indices, None
            available = (self._written[0] - row) % rows
            window = (row[:, None] + self._steps) % rows
        else:
            row, env = np.divmod(indices, n)
            available = (self._written[env] - row) % rows  # steps before the head: the newest data of that env
            window = ((row[:, None] + self._steps) % rows) * n + env[:, None]  # (B, n_step) flat slots
        flat = self._flat
        returns, discounts, steps = n_step_returns(
            flat["rewards"].take(window), flat["terminated"].take(window), flat["truncated"].take(window),
            available, self._gamma_powers)
        # The successor after m steps is the stack ending m rows later (the next obs, or a filler), so obs and
        # next_obs overlap in K - m frames: read each frame once into a (B, K + m) window and return both as views
        # of it. Reading is what costs (memory bandwidth), so this beats two separate gathers by up to 1.6x.
        longest = int(steps.max())
        frames = self._window(row, env, longest)
        size = len(indices)
        # Where some windows stopped early (episode end, newest data), those stacks are copied out of the window.
        next_obs = self._stacks(frames, longest if steps.min() == longest else steps)
        return Batch(
            obs=self._stacks(frames, 0),
            actions=flat["actions"].take(indices).astype(np.int64),
            returns=returns,
            discounts=discounts,
            next_obs=next_obs,
            indices=indices,
            weights=np.ones(size, np.float32) if weights is None else weights,
        )

    def state_dict(self) -> dict:
        """Contents (views of the rows in use, no copy), per-env write state and sampling RNG state."""
        used = self._rows_used
        state = {
            "format": _FORMAT, "capacity": self.capacity, "num_envs": self.num_envs,
            "obs_shape": np.asarray(self.obs_shape, np.int64), "obs_dtype": self.obs_dtype.name,
            "n_step": self.n_step, "gamma": self.gamma, "rows_used": used,
            "rng_state": json.dumps(self._rng.bit_generator.state),  # 128-bit ints: JSON keeps them exact
            "frames": self._flat_frames[:used * self.num_envs],
        }
        state.update({key: getattr(self, "_" + key)[:used] for key in _ROW_KEYS})
        state.update({key: getattr(self, "_" + key) for key in _ENV_KEYS})
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore from `state_dict()` output; everything is validated before anything changes (CheckpointError)."""
        n = self.num_envs
        try:
            self._check_header(state, _FORMAT)
            used = int(state["rows_used"])
            if not 0 <= used <= self.rows:
                raise CheckpointError(f"replay state has rows_used={used}, outside [0, {self.rows}]")
            self._check_arrays(state, {"frames": self._flat_frames}, used * n)  # flat: (used * N, *frame_shape)
            self._check_arrays(state, {key: getattr(self, "_" + key) for key in _ROW_KEYS}, used)
            env_state = {key: np.asarray(state[key]) for key in _ENV_KEYS}
            for key, value in env_state.items():
                if value.shape != (n,) or value.dtype != getattr(self, "_" + key).dtype:
                    raise CheckpointError(f"replay state array {key!r} is {value.dtype}{list(value.shape)}, "
                                          f"expected {getattr(self, '_' + key).dtype}[{n}]")
            if (env_state["written"] < 0).any() or (env_state["run"] < 0).any() or (
                    used < self.rows and (env_state["written"] >= used).any()):
                raise CheckpointError(f"replay state has write heads {env_state['written'].tolist()} outside the "
                                      f"{used} rows in use")
            rng = self._rng_from(state)
        except KeyError as err:
            raise CheckpointError(f"replay state is missing key {err.args[0]!r}") from None
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"replay state has an invalid value: {err}") from None
        self.clear()  # if a streamed array turns out corrupt part-way, the buffer is left empty, not mixed
        stream_into(self._flat_frames[:used * n], state["frames"])
        for key in _ROW_KEYS:
            stream_into(getattr(self, "_" + key)[:used], state[key])
        for key, value in env_state.items():
            getattr(self, "_" + key)[...] = value
        self._rows_used, self._rng = used, rng
        self._num_valid = int(np.count_nonzero(self._flat["valid"]))
        self._last_next_obs[...] = self._stacks(self._window(self._written % self.rows, self._envs), 0)  # at heads

    # -- what a frame is (a subclass stores frames of several keys: rlkit/replay/keyed_frames.py) ----------------
    def _frame_layout(self) -> tuple[int, tuple[int, ...], np.dtype]:
        """(K, one frame's shape, its dtype) of this buffer's observations; ValueError for non-stacks."""
        if len(self.obs_shape) < 2 or self.obs_shape[0] < 1:
            raise ValueError(f"FrameReplayBuffer needs frame stacks of shape (K, H, W), got obs_shape "
                             f"{self.obs_shape}; use ReplayBuffer (storage='full') for other observations")
        return self.obs_shape[0], self.obs_shape[1:], self.obs_dtype

    def _check_shifted(self, obs: np.ndarray, next_obs: np.ndarray) -> None:
        """ValueError unless each next_obs[i] is obs[i] shifted by one frame (N, K, ...)."""
        shifted = _rows_equal(next_obs[:, :-1], obs[:, 1:])
        if not shifted.all():
            env = int(np.argmin(shifted))
            raise ValueError(f"next_obs[{env}] is not obs[{env}] shifted by one frame; FrameReplayBuffer stores frame "
                             f"stacks only: use ReplayBuffer (storage='full') for other observations")

    def _newest(self, obs: np.ndarray) -> np.ndarray:
        """(N, *frame_shape) the newest frame of each stack."""
        return obs[:, -1]

    def _stacks(self, frames: np.ndarray, start) -> np.ndarray:
        """The stacks of a `_window` (M, K + extra, *frame_shape) that begin at `start`: an int (views of the
        window) or an (M,) int array (copied)."""
        if isinstance(start, np.ndarray):
            return frames[np.arange(len(frames))[:, None], start[:, None] + np.arange(self.stack_size)]
        return frames[:, start:start + self.stack_size]

    def _older_present(self, obs: np.ndarray) -> np.ndarray:
        """(F, K-1) bool: which older frames of stacks `obs` (F, K, ...) are not all zero."""
        return obs[:, :-1].reshape(len(obs), self.stack_size - 1, -1).any(axis=2)

    def _older_frames(self, obs: np.ndarray, env: int, first: int) -> np.ndarray:
        """Frames first .. K-2 of env `env`'s stack in `obs`, oldest first, as stored in a row."""
        return obs[env, first:-1]

    # -- helpers --------------------------------------------------------------------------------------------------
    def _draw(self, count: int) -> np.ndarray:
        """`count` flat slots drawn uniformly over the sampleable ones: uniform draws over the rows in use, with the
        unsampleable (fillers, heads, unwritten) rejected; they are a small fraction once episodes run long."""
        high = self._rows_used * self.num_envs
        draws = self._rng.integers(0, high, size=int(count * high / self._num_valid * 1.1) + 8, dtype=np.int64)
        draws = draws[self._flat["valid"].take(draws)]
        if len(draws) >= count:  # nearly always: the draw is sized for the rejection rate
            return draws[:count]
        return np.concatenate([draws, self._draw(count - len(draws))])

    def _window(self, rows: np.ndarray, envs: np.ndarray | None, extra: int = 0) -> np.ndarray:
        """The frame stacks ending at `rows` (M,) of columns `envs` (M,; None with one env) followed by the `extra`
        frames after them -> (M, K + extra, *frame_shape). Frames before the episode's first (beyond the row's
        depth) read as zeros."""
        n = self.num_envs
        offsets = self._offsets.get(extra)
        if offsets is None:  # rows relative to `rows`, oldest first
            offsets = self._offsets[extra] = np.arange(1 - self.stack_size, extra + 1)
        if envs is None:
            slots = (rows[:, None] + offsets) % self.rows
            depth = self._flat["depth"].take(rows)
        else:
            slots = ((rows[:, None] + offsets) % self.rows) * n + envs[:, None]
            depth = self._flat["depth"].take(rows * n + envs)
        slots[offsets + depth[:, None] < 0] = self.capacity  # index `capacity`: the zero frame
        if self._frames_tensor is not None and torch.get_num_threads() > 1:
            # The copy is memory-bandwidth bound and np.take runs it on one core; index_select splits the frames over
            # torch's intra-op threads (scripts/bench_replay.py). With one thread np.take is the quicker copy.
            picked = self._frames_tensor.index_select(0, torch.from_numpy(slots.reshape(-1)))
            return picked.numpy().reshape(slots.shape + self._flat_frames.shape[1:])
        return self._flat_frames.take(slots, axis=0)

    def _forget(self, slots: np.ndarray) -> np.ndarray:
        """Mark flat `slots` unsampleable; returns those that were sampleable."""
        slots = slots[self._flat["valid"].take(slots)]
        self._flat["valid"][slots] = False
        self._num_valid -= len(slots)
        return slots

    def _write_prefixes(self, fresh: np.ndarray, obs: np.ndarray, removed: list) -> None:
        """Write the older frames of new episodes' first stacks from the first non-zero one on, one row each, so
        the stack is rebuilt exactly; zero-padded stacks (Atari's) need none. Rare, hence the Python loop."""
        k, rows, n = self.stack_size, self.rows, self.num_envs
        older = self._older_present(obs[fresh])  # (F, K-1) non-zero older frames
        firsts = np.where(older.any(axis=1), older.argmax(axis=1), k - 1)
        for env, first in zip(fresh[firsts < k - 1], firsts[firsts < k - 1]):
            for frame in self._older_frames(obs, env, first):
                row = self._written[env] % rows
                removed.append(self._forget(np.array([row * n + env])))
                self._frames[row, env] = frame
                self._depth[row, env] = min(self._run[env], k - 1)
                self._written[env] += 1
                self._run[env] += 1


def _rows_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) bool: a[i] == b[i] everywhere, for (N, ...) arrays whose rows are contiguous.

    Compares 8 bytes at a time where the row length allows: a frame stack's check runs on every add, and one uint64
    compare does the work of eight uint8 ones.
    """
    n = len(a)
    if a.dtype.names:  # records (keyed observations): compare their bytes
        a, b = np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8)
    a2, b2 = a.reshape(n, -1), b.reshape(n, -1)
    row_bytes = a2.shape[1] * a2.dtype.itemsize
    if row_bytes % 8 == 0 and a2.strides[1] == a2.itemsize and b2.strides[1] == b2.itemsize and a2.dtype == b2.dtype:
        a2, b2 = a2.view(np.uint64), b2.view(np.uint64)
    return (a2 == b2).all(axis=1)
