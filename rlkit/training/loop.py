"""The training loop: act, step, store, sample, update, log, evaluate, checkpoint.

Every period in the config is counted in env steps, summed over the vector envs. One iteration steps all envs
once; a training phase runs ``gradient_steps`` updates each time the step counter crosses a multiple of
``train_freq``; the target network is updated each time it crosses a multiple of ``target_period``.

Runs start through ``rlkit.run.train`` / ``resume``, which pick this loop (or the puzzle or Ape-X one) for a config.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.agents.registry import build_agent
from rlkit.config import Config, config_to_dict
from rlkit.errors import ActionMaskError
from rlkit.spaces import ObsSpace
from rlkit.training.evaluate import agent_from_checkpoint, make_eval_envs, run_episodes, warm_start
from rlkit.replay import build_replay, read_replay_step, saved_storage
from rlkit.seeding import eval_seed, train_env_seed
from rlkit.threads import apply_threads
from rlkit.training.chores import Chores, start_run
from rlkit.training.schedules import epsilon_at
from rlkit.vec import make_vec_env


@dataclass
class TrainResult:
    """What a finished run reports."""

    run_dir: Path
    steps: int
    episodes: int
    updates: int
    seconds: float  # the whole run: the loop, the final evaluation, the last checkpoint and shutting down (not
    # building the envs, the agent or, for Ape-X, starting Ray and its actors: that happens before the clock starts)
    loop_seconds: float  # the training loop alone (periodic evaluations and checkpoints included)
    eval_seconds: float
    warmup_steps: int  # env steps before the first update (collection only)
    warmup_seconds: float  # the loop's seconds until the first update (all of them if none ran)
    eval_mean: float
    eval_std: float
    checkpoint: Path
    stopped_early: bool
    start_step: int = 0  # the step the run started from (a resume's checkpoint step); steps - start_step were trained


class EnvLoop:
    """The env loop: owns the envs, replay and agent of one run; the run's chores are a ``Chores`` it holds.
    Build it through ``rlkit.run.train`` or ``resume``."""

    def __init__(self, config: Config, run_dir: Path, progress: bool | None = None,
                 checkpoint: dict[str, Any] | None = None, restart: bool = False):
        self.config = config
        self.device = start_run(config)
        self.step = self.updates = self.episodes = 0
        self.chores = Chores(config, run_dir, progress, resumed=checkpoint is not None, restart=restart)
        self.run_dir = self.chores.run_dir
        self._build(checkpoint)
        self.threads = apply_threads(config.threads, self.agent.online, 2 * config.replay.batch_size)
        if checkpoint is not None:
            self._restore_replay(self.chores.restore(self, checkpoint))
        self.start_step = self.step
        self.chores.claim()
        self.recent_returns: deque[float] = deque(maxlen=20)

    def _build(self, checkpoint: dict[str, Any] | None) -> None:
        """Envs, replay and agent (the agent's weights come from ``checkpoint`` when resuming)."""
        config, seed, env_cfg = self.config, self.config.seed, self.config.env
        self.env = make_vec_env(env_cfg.id, env_cfg.num_envs, seed, env_cfg.vectorization, env_cfg.kwargs,
                                env_cfg.atari, env_cfg.action_mask)
        self.eval_envs = make_eval_envs(config)
        replay, storage = config.replay, config.replay.storage
        if checkpoint is not None and storage == "auto":  # keep the storage the saved replay was written with
            storage = saved_storage(self.chores.checkpoint_dir / "replay.npz") or storage
        self.replay = build_replay(replay.capacity, self.env.obs_shape, self.env.obs_dtype, self.env.num_envs,
                                   config.agent.n_step, config.agent.gamma, seed=seed + 1, storage=storage,
                                   prioritized=replay.prioritized, alpha=replay.alpha, beta=replay.beta,
                                   eps=replay.priority_eps, num_actions=self.env.num_actions,
                                   frame_stack=self.env.frame_stack)
        self.agent = build_or_restore_agent(config, checkpoint, self.env.obs_shape, self.env.obs_dtype,
                                            self.env.num_actions, self.device, self.env.obs_space)

    def close(self) -> None:
        """Close the envs (if still open) and give the run directory up; ``run`` ends with this."""
        self.chores.release(self)

    # -- the loop -----------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train until ``train.total_steps`` env steps (or ``train.target_return``); returns a TrainResult."""
        cfg, train_cfg, chores = self.config, self.config.train, self.chores
        agent, env, replay = self.agent, self.env, self.replay
        decay_steps = cfg.exploration.fraction * train_cfg.total_steps
        warmup = max(cfg.replay.batch_size, min(train_cfg.learning_starts, len(replay) + train_cfg.learning_starts))
        if len(replay) == 0 and self.step > 0:
            warmup = max(cfg.replay.batch_size, min(train_cfg.learning_starts, cfg.replay.capacity))
        writer = chores.writer(self.step)
        chores.open_bar(self.step)
        agent.exploring = True  # noisy nets sample exploration noise while collecting (evaluation turns it off)
        obs = env.reset(seed=train_env_seed(cfg.seed, self.step))  # a resume gets fresh, non-overlapping seeds
        loss_sum = torch.zeros((), device=self.device)
        window_updates, window_start, window_step = 0, time.perf_counter(), self.step
        started, stopped_early = time.perf_counter(), False
        warmup_end: tuple[int, float] | None = None
        try:
            while self.step < train_cfg.total_steps:
                # Before learning starts the data comes from the uniform random policy (as in Mnih et al., 2015,
                # and SB3): no network forward, whatever the epsilon schedule says at that step.
                epsilon = (1.0 if self.step < train_cfg.learning_starts else
                           epsilon_at(self.step, cfg.exploration.start, cfg.exploration.end, decay_steps))
                actions = act_or_explain(agent, obs, epsilon, self.step)
                # The step runs while this iteration's updates do (in ale-py's threads or AsyncVectorEnv's
                # processes), so the updates sample a replay that lacks only the step in flight.
                env.step_async(actions)
                previous, self.step = self.step, self.step + env.num_envs
                phases = self.step // train_cfg.train_freq - previous // train_cfg.train_freq
                if phases and len(replay) >= warmup:
                    if warmup_end is None:
                        warmup_end = (self.step, time.perf_counter() - started)
                    phase_loss = torch.zeros((), device=self.device)
                    count = phases * train_cfg.gradient_steps
                    if replay.prioritized:
                        replay.anneal(self.step / train_cfg.total_steps)  # beta -> 1 by the end of training
                        for _ in range(count):
                            batch = replay.sample(cfg.replay.batch_size)
                            metrics = agent.update(batch)
                            if not torch.isfinite(metrics["loss"]):  # before a NaN priority reaches the tree
                                chores.diverged(self, metrics["loss"].item())
                            replay.update_priorities(batch.indices, metrics["td_errors"])
                            phase_loss += metrics["loss"]
                    else:
                        for batch in replay.sample_batches(cfg.replay.batch_size, count):
                            phase_loss += agent.update(batch)["loss"]
                    self.updates += count
                    window_updates += count
                    if not torch.isfinite(phase_loss):
                        chores.diverged(self, phase_loss.item())
                    loss_sum += phase_loss
                out = env.step_wait()
                replay.add(obs, actions, out.rewards, out.next_obs, out.terminated, out.truncated)
                obs = out.obs
                for episode_return, episode_length in out.episodes:
                    self.episodes += 1
                    self.recent_returns.append(episode_return)
                    writer.add_scalar("charts/episodic_return", episode_return, self.step)
                    writer.add_scalar("charts/episodic_length", episode_length, self.step)
                if self.step // cfg.agent.target_period != previous // cfg.agent.target_period:
                    agent.update_target()

                if chores.crossed(previous, self.step, train_cfg.log_every):
                    now = time.perf_counter()
                    steps_per_second = (self.step - window_step) / max(now - window_start, 1e-9)
                    writer.add_scalar("charts/epsilon", epsilon, self.step)
                    writer.add_scalar("charts/steps_per_second", steps_per_second, self.step)
                    if window_updates:
                        writer.add_scalar("train/loss", (loss_sum / window_updates).item(), self.step)
                        writer.add_scalar("train/mean_q", _mean_q_taken(agent, batch), self.step)
                    loss_sum.zero_()
                    window_updates, window_start, window_step = 0, now, self.step
                    chores.show(self.step, f"return {self._recent():.1f}  {steps_per_second:,.0f} steps/s")
                if chores.tick(self, previous, writer):
                    stopped_early = True
                    break
        finally:
            chores.close_bar()
        loop_seconds = time.perf_counter() - started
        final = chores.finish(self, writer)
        return TrainResult(self.run_dir, self.step, self.episodes, self.updates, time.perf_counter() - started,
                           loop_seconds, chores.eval_seconds, *(warmup_end or (self.step, loop_seconds)),
                           chores.last_eval[0], chores.last_eval[1], final, stopped_early)

    # -- what the chores ask of a loop --------------------------------------------------------------------------
    def evaluate_policy(self, writer: Any) -> tuple[float, float]:
        """Greedy episodes on the evaluation env (see ``evaluate_greedily``)."""
        return evaluate_greedily(self.config, self.agent, self.eval_envs, writer, self.step)

    def progress_line(self) -> str:
        return episode_progress(self.episodes, self.recent_returns, self.chores.last_eval)

    def spaces(self) -> dict[str, Any]:
        return env_spaces(self.env, self.config.env.id)

    def loop_state(self) -> dict[str, Any]:
        """What this loop adds to a checkpoint: the replay's RNG, and the buffer itself when so configured."""
        replay_step = None
        if self.config.replay.save_with_checkpoint:
            # Written before the checkpoint and stamped with its step: a kill between the two writes leaves a
            # replay newer than latest.pt, which _restore_replay then recognises and leaves out.
            self.replay.save(self.chores.checkpoint_dir / "replay.npz", step=self.step)
            replay_step = self.step
        return {"replay_step": replay_step, "replay_rng": self.replay.rng_state()}

    def close_resources(self) -> None:
        self.env.close()
        for env in self.eval_envs:
            env.close()

    # -- pieces ---------------------------------------------------------------------------------------------------
    def _recent(self) -> float:
        return mean_or_nan(self.recent_returns)

    def _restore_replay(self, state: dict[str, Any]) -> None:
        replay_file = self.chores.checkpoint_dir / "replay.npz"
        if state.get("replay_step") is not None and replay_file.is_file():
            file_step = read_replay_step(replay_file)
            if file_step == self.step:
                self.replay.load(replay_file)
                self.replay.end_episodes()  # the envs restart from a reset: stored streams do not continue
            else:
                print(f"rlkit: warning: {replay_file} holds the replay of step {file_step}, not the checkpoint's "
                      f"step {self.step} (a run stopped between the two writes); resuming with an empty replay "
                      f"that refills before learning continues", file=sys.stderr)
        if "replay_rng" in state:
            self.replay.set_rng_state(state["replay_rng"])


def build_or_restore_agent(config: Config, checkpoint: dict[str, Any] | None, obs_shape: tuple, obs_dtype: Any,
                           num_actions: int, device: torch.device, obs_space: ObsSpace | None = None) -> Any:
    """A new agent (warm-started from ``agent.init_from`` when set), or the checkpoint's agent on ``device``."""
    if checkpoint is None:
        agent = build_agent(config, obs_shape, obs_dtype, num_actions, device, obs_space)
        if config.agent.init_from:
            warm_start(agent, config.agent.init_from, obs_shape, num_actions)
        return agent
    agent, _ = agent_from_checkpoint({**checkpoint, "config": config_to_dict(config)}, str(device))
    return agent


def evaluate_greedily(config: Config, agent: Any, eval_envs: Any, writer: Any,
                      step: int) -> tuple[float, float]:
    """``train.eval_episodes`` episodes on ``eval_envs`` (played side by side) with ``exploration.eval_epsilon``,
    seeded away from the training envs (rlkit/seeding.py); logs eval/* at ``step``; returns (mean, std) return."""
    exploring, agent.exploring = agent.exploring, False  # greedy: the mean weights
    try:
        with torch.inference_mode():
            returns, lengths = run_episodes(agent, eval_envs, config.train.eval_episodes,
                                            config.exploration.eval_epsilon, eval_seed(config.seed))
    finally:
        agent.exploring = exploring
    writer.add_scalar("eval/mean_return", float(returns.mean()), step)
    writer.add_scalar("eval/std_return", float(returns.std()), step)
    writer.add_scalar("eval/mean_length", float(lengths.mean()), step)
    return float(returns.mean()), float(returns.std())


def env_spaces(env: Any, env_id: str) -> dict[str, Any]:
    """The spaces entry of an env loop's checkpoint: what ``agent_from_checkpoint`` rebuilds the agent for."""
    return {"obs_shape": list(env.obs_shape), "obs_dtype": str(env.obs_dtype), "num_actions": env.num_actions,
            "env_id": env_id, "obs_space": env.obs_space.to_dict()}


def act_or_explain(agent: Any, obs: Any, epsilon: float, step: int) -> Any:
    """``agent.act``, with an observation that has no legal action reported at the loop's env step."""
    try:
        return agent.act(obs, epsilon)
    except ActionMaskError as error:
        raise ActionMaskError(f"at env step {step:,}: {error}") from None


def mean_or_nan(values: Any) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def episode_progress(episodes: int, recent_returns: Any, last_eval: tuple[float, float]) -> str:
    """The line an env loop prints after an evaluation when there is no progress bar."""
    mean, std = last_eval
    return (f"episodes {episodes:>6,}  recent return {mean_or_nan(recent_returns):8.2f}  "
            f"eval {mean:8.2f} ± {std:.2f}")


def _mean_q_taken(agent: Any, batch: Any) -> float:
    """Mean Q of the taken actions on the latest replay batch (logged, so computed once per log, not per update)."""
    q = agent.q_values(batch.obs)
    actions = torch.as_tensor(batch.actions, device=q.device)
    return q.gather(1, actions[:, None]).mean().item()
