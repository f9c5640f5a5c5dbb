"""Proportional prioritised experience replay (Schaul et al., 2016) over either replay storage.

    replay = PrioritizedReplay(FrameReplayBuffer(...), alpha=0.6, beta=0.4)
    replay.add(obs, actions, rewards, next_obs, terminated, truncated)   # new transitions get the max priority
    batch = replay.sample(32)                                            # P(i) = p_i^alpha / sum_k p_k^alpha
    replay.update_priorities(batch.indices, td_errors)                   # p_i = |td_i| + eps
    replay.anneal(step / total_steps)                                    # beta -> 1

Priorities live in a `SumTree` over the storage's flat slots. A slot the storage cannot sample (a filler row, a row
not yet written, a transition whose frames the ring overwrote) has priority 0 and is never drawn: the storage's
`add` returns the slots it made sampleable and those it took away, and the tree follows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rlkit.errors import CheckpointError
from .batch import Batch
from .files import read_replay_file, stream_into, write_replay_file
from .sum_tree import SumTree

_FORMAT = "rlkit.prioritized/1"


class PrioritizedReplay:
    """Proportional prioritised sampling over a `ReplayBuffer` or `FrameReplayBuffer` (held, not subclassed).

    Sampling: P(i) = p_i^alpha / sum_k p_k^alpha over sampleable slots, with replacement. Importance weights:
    w_i = (N * P(i))^-beta with N = len(self), divided by the largest weight IN THE BATCH (so weights <= 1; no
    min-priority tree needed). `anneal(progress)` moves beta from its initial value to 1.
    Settings (`capacity`, `num_envs`, `obs_shape`, `obs_dtype`, `n_step`, `gamma`), `rng_state` and `set_rng_state`
    are the storage's; sampling draws from the storage's RNG.
    """

    prioritized = True

    def __init__(self, storage, alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6):
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        if eps <= 0:
            raise ValueError(f"eps must be > 0 (a sampleable slot needs a positive priority), got {eps}")
        self.storage = storage
        self.alpha, self.beta0, self.beta, self.eps = float(alpha), float(beta), float(beta), float(eps)
        self.max_priority = 1.0  # the largest |td| + eps seen, given to new transitions
        self.tree = SumTree(storage.capacity)
        self.tree.update(storage.valid_slots(), self.max_priority ** self.alpha)

    def __len__(self) -> int:
        """Number of sampleable transitions."""
        return len(self.storage)

    @property
    def nbytes(self) -> int:
        """Bytes of the storage's arrays plus the sum tree."""
        return self.storage.nbytes + self.tree.nbytes

    def add(self, obs, actions, rewards, next_obs, terminated, truncated) -> tuple[np.ndarray, np.ndarray]:
        """`storage.add`; the new transitions get the max priority, the slots it took away priority 0.
        Returns the storage's (added, removed) flat slots."""
        added, removed = self.storage.add(obs, actions, rewards, next_obs, terminated, truncated)
        self.tree.update(np.concatenate([removed, added]),
                         np.concatenate([np.zeros(len(removed)), np.full(len(added), self.max_priority ** self.alpha)]))
        return added, removed

    def add_steps(self, obs, actions, rewards, next_obs, terminated, truncated, td_errors) -> None:
        """T consecutive vector-env steps with known initial priorities, in one sum-tree update.

        obs, next_obs: (T, N, *obs_shape); actions, rewards, terminated, truncated: (T, N); td_errors: (T, N), the
        transitions' initial |TD| (an Ape-X actor's own estimate). The result is that of T `add` calls each
        followed by `update_priorities(added, td_errors[t])`; the tree is written once, which is most of the
        cost of ingesting an actor's chunk.
        """
        td_errors = np.abs(np.asarray(td_errors, np.float64)) + self.eps
        if td_errors.shape != np.shape(actions) or not np.isfinite(td_errors).all():
            raise ValueError(f"td_errors must be finite with shape {np.shape(actions)}, got {td_errors.shape}")
        slots, sources = self.storage.add_steps(obs, actions, rewards, next_obs, terminated, truncated)
        values = np.where(sources >= 0, td_errors.reshape(-1)[np.maximum(sources, 0)] ** self.alpha, 0.0)
        self.tree.update(slots, values)  # a slot written twice keeps its last write, as the tree's update does
        if td_errors.size:
            self.max_priority = max(self.max_priority, float(td_errors.max()))

    def sample(self, batch_size: int) -> Batch:
        """`batch_size` transitions drawn in proportion to p^alpha, with importance `weights` (B,) float32."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        total = self.tree.total
        if len(self.storage) == 0 or total <= 0:
            raise ValueError("cannot sample from an empty replay buffer; add transitions first")
        indices = self.tree.find_prefix_sum(self.storage.rng.random(batch_size) * total)
        probabilities = self.tree.get(indices) / total
        weights = (len(self.storage) * probabilities) ** -self.beta
        return self.storage.gather(indices, (weights / weights.max()).astype(np.float32))

    def sample_batches(self, batch_size: int, count: int) -> Iterator[Batch]:
        """``count`` batches, each drawn only when the caller asks for the next one, so priorities updated after
        one update already shape the next batch."""
        for _ in range(count):
            yield self.sample(batch_size)

    def update_priorities(self, indices, td_errors) -> None:
        """Set p_i = |td_i| + eps for sampled `indices` (B,) from `td_errors` (B,) (numpy, or a torch tensor on any
        device). Slots that stopped being sampleable since they were drawn keep priority 0."""
        if hasattr(td_errors, "detach"):
            td_errors = td_errors.detach().float().cpu().numpy()
        indices = np.asarray(indices, np.int64).reshape(-1)
        priorities = np.abs(np.asarray(td_errors, np.float64)).reshape(-1) + self.eps
        if priorities.shape != indices.shape:
            raise ValueError(f"td_errors has {priorities.size} values for {indices.size} indices")
        if not np.isfinite(priorities).all():
            raise ValueError("td_errors must be finite; a NaN or inf priority would stop sampling altogether")
        live = self.tree.get(indices) > 0
        self.tree.update(indices[live], priorities[live] ** self.alpha)
        if priorities.size:
            self.max_priority = max(self.max_priority, float(priorities.max()))

    def end_episodes(self) -> None:
        """See ReplayBuffer.end_episodes (the storage's episodes are cut; priorities are unchanged)."""
        self.storage.end_episodes()

    def anneal(self, progress: float) -> None:
        """beta = beta0 + (1 - beta0) * progress, with progress clipped to [0, 1] (the fraction of training done)."""
        self.beta = self.beta0 + (1.0 - self.beta0) * min(max(float(progress), 0.0), 1.0)

    def clear(self) -> None:
        """Forget every transition and priority."""
        self.storage.clear()
        self.tree.set_all(np.zeros(self.tree.capacity))
        self.max_priority = 1.0

    def valid_slots(self) -> np.ndarray:
        return self.storage.valid_slots()

    def gather(self, indices: np.ndarray, weights: np.ndarray | None = None) -> Batch:
        return self.storage.gather(indices, weights)

    def rng_state(self) -> dict:
        return self.storage.rng_state()

    def set_rng_state(self, state: dict) -> None:
        self.storage.set_rng_state(state)

    def state_dict(self) -> dict:
        """The storage's state plus the priorities of every slot (a view), max priority, alpha and beta."""
        return {**self.storage.state_dict(), "prioritized_format": _FORMAT, "priorities": self.tree.values(),
                "max_priority": self.max_priority, "alpha": self.alpha, "beta": self.beta}

    def load_state_dict(self, state: dict) -> None:
        """Restore from `state_dict()`. A state saved without priorities (a uniform buffer's) loads too: every
        transition then starts at priority 1, as in a new prioritised buffer."""
        if "priorities" in state:
            try:
                if str(np.asarray(state["prioritized_format"])) != _FORMAT:
                    raise CheckpointError(f"replay state has prioritized_format "
                                          f"{str(np.asarray(state['prioritized_format']))!r}, expected {_FORMAT!r}")
                alpha, beta = float(state["alpha"]), float(state["beta"])
                max_priority = float(state["max_priority"])
                saved = state["priorities"]  # an array, or a lazily read file member
            except KeyError as err:
                raise CheckpointError(f"replay state is missing key {err.args[0]!r}") from None
            if alpha != self.alpha:
                raise CheckpointError(f"replay state has alpha={alpha}, but this replay has alpha={self.alpha}; "
                                      f"build it with the saved alpha")
            if tuple(saved.shape) != (self.tree.capacity,) or saved.dtype != np.float64:
                raise CheckpointError(f"replay state array 'priorities' is {saved.dtype}{list(saved.shape)}, "
                                      f"expected float64[{self.tree.capacity}]")
            priorities = np.empty(self.tree.capacity)
            stream_into(priorities, saved)
            if not (np.isfinite(priorities).all() and (priorities >= 0).all()):
                raise CheckpointError("replay state array 'priorities' holds negative or non-finite values")
        else:
            beta, max_priority, priorities = self.beta, 1.0, None
        self.storage.load_state_dict(state)
        valid = np.zeros(self.tree.capacity, bool)
        valid[self.storage.valid_slots()] = True
        if priorities is None:
            priorities = np.ones(self.tree.capacity)
        # Zero where not sampleable; a sampleable slot always has a positive priority.
        self.tree.set_all(np.where(valid, np.where(priorities > 0, priorities, max_priority ** self.alpha), 0.0))
        self.beta, self.max_priority = beta, max_priority

    def save(self, path, step: int | None = None) -> None:
        """Write `state_dict()` as an uncompressed .npz, atomically, stamped with `step` (see `ReplayStorage.save`)."""
        write_replay_file(path, self.state_dict(), step)

    def load(self, path) -> None:
        """Restore from a file written by `save` (CheckpointError naming the file on any problem)."""
        read_replay_file(path, self)


def _storage_setting(name: str) -> property:
    return property(lambda self: getattr(self.storage, name), doc=f"The storage's `{name}`.")


for _name in ("capacity", "num_envs", "obs_shape", "obs_dtype", "n_step", "gamma", "rows"):
    setattr(PrioritizedReplay, _name, _storage_setting(_name))
