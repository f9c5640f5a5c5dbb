"""PQN's data flow (``agent.name: pqn``): collect -> lambda-returns -> epochs of minibatches, with no replay buffer.

One phase steps all ``env.num_envs`` envs ``pqn.rollout_steps`` times epsilon-greedily with the current network
(epsilon per env, on the schedule of ``exploration``, counted in env steps like every period here), scores every
transition's true successor with that same network, turns the rollout into Q(lambda) returns
(``rlkit.agents.pqn.lambda_returns``), and makes ``pqn.epochs`` passes over it in ``pqn.minibatches`` shuffled
minibatches. Envs, evaluation, TensorBoard, checkpoints, resume, interrupts and the NaN guard are the family's
(``EnvLoop``'s helpers and the shared ``Chores``); the loop ticks its chores once per phase.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.agents.pqn import lambda_returns
from rlkit.config import Config
from rlkit.seeding import train_env_seed
from rlkit.threads import apply_threads
from rlkit.training.chores import Chores, start_run
from rlkit.training.loop import (TrainResult, act_or_explain, build_or_restore_agent, env_spaces, episode_progress,
                                 evaluate_greedily, mean_or_nan)
from rlkit.training.evaluate import make_eval_envs
from rlkit.training.schedules import epsilon_at
from rlkit.vec import make_vec_env


class PQNLoop:
    """Trains a ``PQNAgent``; ``step`` counts env steps (all envs together). Build it through ``rlkit.run``."""

    def __init__(self, config: Config, run_dir: Path, progress: bool | None = None,
                 checkpoint: dict[str, Any] | None = None, restart: bool = False):
        self.config = config
        self.device = start_run(config)
        self.step = self.updates = self.episodes = 0
        self.chores = Chores(config, run_dir, progress, resumed=checkpoint is not None, restart=restart)
        self.run_dir = self.chores.run_dir
        env_cfg = config.env
        self.env = make_vec_env(env_cfg.id, env_cfg.num_envs, config.seed, env_cfg.vectorization, env_cfg.kwargs,
                                env_cfg.atari, env_cfg.action_mask)
        self.eval_envs = make_eval_envs(config)
        self.agent = build_or_restore_agent(config, checkpoint, self.env.obs_shape, self.env.obs_dtype,
                                            self.env.num_actions, self.device, self.env.obs_space)
        rollout = config.pqn.rollout_steps * self.env.num_envs
        self.minibatch = rollout // config.pqn.minibatches
        self.threads = apply_threads(config.threads, self.agent.online, max(self.minibatch, self.env.num_envs))
        self.rng = np.random.default_rng(config.seed + 5)  # minibatch shuffles
        if checkpoint is not None:
            state = self.chores.restore(self, checkpoint)
            if "pqn_rng" in state:
                self.rng.bit_generator.state = state["pqn_rng"]
        self.start_step = self.step
        self.chores.claim()
        self.recent_returns: deque[float] = deque(maxlen=20)

    def close(self) -> None:
        self.chores.release(self)

    def run(self) -> TrainResult:
        """Train until ``train.total_steps`` env steps (or ``train.target_return``); returns a TrainResult."""
        cfg, chores, agent, env = self.config, self.chores, self.agent, self.env
        total, pqn = cfg.train.total_steps, cfg.pqn
        decay_steps = cfg.exploration.fraction * total
        writer = chores.writer(self.step)
        chores.open_bar(self.step)
        agent.exploring = True
        obs = env.reset(seed=train_env_seed(cfg.seed, self.step))
        steps, envs = pqn.rollout_steps, env.num_envs
        buffers = _RolloutArrays(steps, envs, env.obs_shape, env.obs_dtype)
        started = window_start = time.perf_counter()
        window_step, stopped_early = self.step, False
        try:
            while self.step < total:
                previous = self.step
                epsilon = epsilon_at(self.step, cfg.exploration.start, cfg.exploration.end, decay_steps)
                for t in range(steps):
                    actions = act_or_explain(agent, obs, epsilon, self.step + t * envs)
                    out = env.step(actions)
                    buffers.store(t, obs, actions, out)
                    obs = out.obs
                    for episode_return, episode_length in out.episodes:
                        self.episodes += 1
                        self.recent_returns.append(episode_return)
                        writer.add_scalar("charts/episodic_return", episode_return, self.step + (t + 1) * envs)
                        writer.add_scalar("charts/episodic_length", episode_length, self.step + (t + 1) * envs)
                self.step += steps * envs
                loss = self._learn(buffers)
                if chores.crossed(previous, self.step, cfg.train.log_every):
                    now = time.perf_counter()
                    rate = (self.step - window_step) / max(now - window_start, 1e-9)
                    writer.add_scalar("train/loss", loss, self.step)
                    writer.add_scalar("charts/epsilon", epsilon, self.step)
                    writer.add_scalar("charts/steps_per_second", rate, self.step)
                    window_start, window_step = now, self.step
                    chores.show(self.step, f"return {mean_or_nan(self.recent_returns):.1f}  {rate:,.0f} steps/s")
                if chores.tick(self, previous, writer):
                    stopped_early = True
                    break
        finally:
            chores.close_bar()
        loop_seconds = time.perf_counter() - started
        final = chores.finish(self, writer)
        return TrainResult(self.run_dir, self.step, self.episodes, self.updates, time.perf_counter() - started,
                           loop_seconds, chores.eval_seconds, 0, 0.0, chores.last_eval[0], chores.last_eval[1], final,
                           stopped_early)

    def _learn(self, rollout: "_RolloutArrays") -> float:
        """Lambda-returns of the rollout, then the epochs of minibatches; returns the phase's mean loss."""
        cfg, agent, pqn = self.config, self.agent, self.config.pqn
        flat_next = rollout.next_obs.reshape(-1, *rollout.next_obs.shape[2:])
        values = agent.bootstrap_values(flat_next).reshape(rollout.rewards.shape)
        returns = lambda_returns(rollout.rewards * pqn.reward_scale, rollout.terminated, rollout.truncated, values,
                                 cfg.agent.gamma, pqn.lam).reshape(-1)
        obs = rollout.obs.reshape(-1, *rollout.obs.shape[2:])
        actions = rollout.actions.reshape(-1)
        if pqn.lr_decay:  # linear to 0 at train.total_steps, as purejaxql's LR_LINEAR_DECAY
            agent.set_lr(cfg.agent.lr * max(1.0 - self.step / cfg.train.total_steps, 0.0))
        loss_sum = torch.zeros((), device=self.device)
        for _ in range(pqn.epochs):
            order = self.rng.permutation(len(obs))
            for start in range(0, pqn.minibatches * self.minibatch, self.minibatch):
                chosen = order[start:start + self.minibatch]
                loss_sum += agent.learn(obs[chosen], actions[chosen], returns[chosen])
        count = pqn.epochs * pqn.minibatches
        self.updates += count
        loss = (loss_sum / count).item()
        if not np.isfinite(loss):
            self.chores.diverged(self, loss)
        return loss

    # -- what the chores ask of a loop ------------------------------------------------------------------------------
    def evaluate_policy(self, writer: Any) -> tuple[float, float]:
        return evaluate_greedily(self.config, self.agent, self.eval_envs, writer, self.step)

    def progress_line(self) -> str:
        return episode_progress(self.episodes, self.recent_returns, self.chores.last_eval)

    def spaces(self) -> dict[str, Any]:
        return env_spaces(self.env, self.config.env.id)

    def loop_state(self) -> dict[str, Any]:
        """A phase ends before its checkpoint, so there is no rollout to keep: only the shuffle RNG."""
        return {"pqn_rng": self.rng.bit_generator.state}

    def close_resources(self) -> None:
        self.env.close()
        for env in self.eval_envs:
            env.close()


class _RolloutArrays:
    """One phase's transitions, (T, N, ...) arrays allocated once and overwritten every phase."""

    def __init__(self, steps: int, envs: int, obs_shape: tuple, obs_dtype: np.dtype):
        self.obs = np.empty((steps, envs, *obs_shape), obs_dtype)
        self.next_obs = np.empty_like(self.obs)
        self.actions = np.empty((steps, envs), np.int64)
        self.rewards = np.empty((steps, envs), np.float32)
        self.terminated = np.empty((steps, envs), bool)
        self.truncated = np.empty((steps, envs), bool)

    def store(self, t: int, obs: np.ndarray, actions: np.ndarray, out: Any) -> None:
        self.obs[t], self.next_obs[t], self.actions[t] = obs, out.next_obs, actions
        self.rewards[t], self.terminated[t], self.truncated[t] = out.rewards, out.terminated, out.truncated
