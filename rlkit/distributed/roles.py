"""Ape-X roles as plain classes: ``ActorRole`` collects experience, ``ShardedReplay`` stores it with priorities.

Neither knows about Ray: the coordinator (rlkit/distributed/apex.py) wraps ``ActorRole`` with ``ray.remote`` in
``mode: ray`` and calls it in this process in ``mode: local``. The learner is rlkit's own DQN agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rlkit.agents.registry import build_agent
from rlkit.config import Config, config_from_dict
from rlkit.device import resolve_device
from rlkit.replay import Batch, ReplayBuffer, build_replay
from rlkit.seeding import actor_seed
from rlkit.threads import apply_threads
from rlkit.vec import make_vec_env


def actor_epsilon(index: int, num_actors: int, base: float = 0.4, alpha: float = 7.0) -> float:
    """Ape-X's per-actor exploration: eps_i = base^(1 + alpha * i / (N - 1)); a single actor gets ``base``."""
    if num_actors <= 1:
        return base
    return base ** (1.0 + alpha * index / (num_actors - 1))


@dataclass
class Chunk:
    """Consecutive vector-env steps of one actor; T steps of N envs.

    obs, next_obs: (T, N, *obs_shape); actions: (T, N) int64; rewards: (T, N) float32; terminated, truncated:
    (T, N) bool; priorities: (T, N) float32 initial priorities (the actor's own n-step TD errors); episodes: the
    (return, length) of episodes that ended in the chunk; weights_version: the policy that acted.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    priorities: np.ndarray
    episodes: list[tuple[float, int]] = field(default_factory=list)
    weights_version: int = -1

    @property
    def env_steps(self) -> int:
        return int(self.actions.size)


class ActorRole:
    """A vector env and a copy of the policy, acting with its own epsilon.

    Args:
        config: the experiment config as a plain dict (what crosses process boundaries).
        index, num_actors: this actor's place among all actors (sets its epsilon and its env seeds).
    """

    def __init__(self, config: dict[str, Any], index: int, num_actors: int):
        self.config: Config = config_from_dict(config)
        cfg, dist = self.config, self.config.distributed
        self.index = index
        self.epsilon = actor_epsilon(index, num_actors, dist.eps_base, dist.eps_alpha)
        seed = actor_seed(cfg.seed, index)  # env i gets seed + i: no overlap between actors however many envs
        self.env = make_vec_env(cfg.env.id, cfg.env.num_envs, seed, cfg.env.vectorization, cfg.env.kwargs,
                                cfg.env.atari, cfg.env.action_mask)
        self.agent = build_agent(cfg, self.env.obs_shape, self.env.obs_dtype, self.env.num_actions,
                                 resolve_device("cpu"), self.env.obs_space)
        self.agent.rng = np.random.default_rng(seed)
        self.agent.exploring = True  # noisy nets: actors act with exploration noise
        apply_threads(cfg.threads, self.agent.online, cfg.env.num_envs)  # an actor's forward: one row per env
        self.obs = self.env.reset(seed=seed)
        self.weights_version = -1

    def ready(self) -> bool:
        """True once constructed (the coordinator waits for every actor before it starts the clock)."""
        return True

    def set_weights(self, online: dict[str, torch.Tensor], target: dict[str, torch.Tensor], version: int) -> int:
        """Install the learner's networks (the target too, for n-step TD priorities); returns the version."""
        self.agent.online.load_state_dict(online)
        self.agent.target.load_state_dict(target)
        self.weights_version = version
        return version

    def collect(self, steps: int) -> Chunk:
        """Step the envs ``steps`` times with epsilon-greedy actions; returns the chunk with initial priorities."""
        env, n = self.env, self.env.num_envs
        obs_buf = np.empty((steps, n, *env.obs_shape), env.obs_dtype)
        next_buf = np.empty_like(obs_buf)
        actions = np.empty((steps, n), np.int64)
        rewards = np.empty((steps, n), np.float32)
        terminated, truncated = np.empty((steps, n), bool), np.empty((steps, n), bool)
        episodes: list[tuple[float, int]] = []
        for t in range(steps):
            acts = self.agent.act(self.obs, self.epsilon)
            out = env.step(acts)
            obs_buf[t], actions[t], rewards[t] = self.obs, acts, out.rewards
            next_buf[t], terminated[t], truncated[t] = out.next_obs, out.terminated, out.truncated
            episodes += out.episodes
            self.obs = out.obs
        priorities = self._priorities(obs_buf, actions, rewards, next_buf, terminated, truncated)
        return Chunk(obs_buf, actions, rewards, next_buf, terminated, truncated, priorities, episodes,
                     self.weights_version)

    def _priorities(self, obs, actions, rewards, next_obs, terminated, truncated) -> np.ndarray:
        """n-step TD errors of the chunk's transitions under this actor's networks (windows are cut at the chunk's
        end, which only shortens the last n - 1 steps' look-ahead)."""
        steps, n = actions.shape
        agent_cfg = self.config.agent
        local = ReplayBuffer(steps * n, obs.shape[2:], obs.dtype, n, agent_cfg.n_step, agent_cfg.gamma)
        local.add_steps(obs, actions, rewards, next_obs, terminated, truncated)
        batch = local.gather(np.arange(steps * n))  # slot t * n + e is step t of env e
        return self.agent.priorities(batch).reshape(steps, n).astype(np.float32)

    def close(self) -> None:
        self.env.close()


class ShardedReplay:
    """One prioritised replay with a shard per actor, so each actor's env columns stay consecutive for n-step.

    Sampling is proportional to p^alpha over ALL shards: the batch is split across shards by their total
    priority, and importance weights use the global probabilities. Indices in batches are global.
    """

    prioritized = True

    def __init__(self, config: Config, num_actors: int, obs_shape: tuple, obs_dtype: Any, num_actions: int,
                 frame_stack: int = 1):
        replay, agent = config.replay, config.agent
        capacity = max(replay.capacity // num_actors, 2 * replay.batch_size)
        self.shards = [
            build_replay(capacity, obs_shape, obs_dtype, config.env.num_envs, agent.n_step, agent.gamma,
                         seed=config.seed + 7 * (i + 1), storage=replay.storage, prioritized=True,
                         alpha=replay.alpha, beta=replay.beta, eps=replay.priority_eps, num_actions=num_actions,
                         frame_stack=frame_stack)
            for i in range(num_actors)
        ]
        self.slots = self.shards[0].tree.capacity
        self.rng = np.random.default_rng(config.seed + 11)

    def __len__(self) -> int:
        return sum(len(shard) for shard in self.shards)

    def add_chunk(self, shard: int, chunk: Chunk) -> None:
        """Store an actor's chunk in its shard with the actor's initial priorities."""
        self.shards[shard].add_steps(chunk.obs, chunk.actions, chunk.rewards, chunk.next_obs, chunk.terminated,
                                     chunk.truncated, chunk.priorities)

    def sample(self, batch_size: int) -> Batch:
        """A batch drawn across shards in proportion to p^alpha, with global importance weights."""
        totals = np.array([shard.tree.total for shard in self.shards])
        counts = self.rng.multinomial(batch_size, totals / totals.sum())
        parts, indices, probabilities = [], [], []
        for k in np.flatnonzero(counts):
            part = self.shards[k].sample(int(counts[k]))
            parts.append(part)
            indices.append(part.indices + k * self.slots)
            probabilities.append(self.shards[k].tree.get(part.indices) / totals.sum())
        weights = (len(self) * np.concatenate(probabilities)) ** -self.shards[0].beta
        fields = ("obs", "actions", "returns", "discounts", "next_obs")
        return Batch(*(np.concatenate([getattr(p, name) for p in parts]) for name in fields),
                     indices=np.concatenate(indices), weights=(weights / weights.max()).astype(np.float32))

    def update_priorities(self, indices: np.ndarray, td_errors: Any) -> None:
        """Route the learner's TD errors back to the shards by global index."""
        if hasattr(td_errors, "detach"):
            td_errors = td_errors.detach().float().cpu().numpy()
        indices = np.asarray(indices)
        for k in np.unique(indices // self.slots):
            mine = indices // self.slots == k
            self.shards[k].update_priorities(indices[mine] % self.slots, np.asarray(td_errors)[mine])

    def end_episodes(self, shard: int) -> None:
        """Cut the open episodes of ``shard`` at its newest transitions (its actor's envs were reset: a restart)."""
        self.shards[shard].end_episodes()

    def anneal(self, progress: float) -> None:
        """beta -> 1 on every shard."""
        for shard in self.shards:
            shard.anneal(progress)
