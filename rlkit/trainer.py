"""The training loop: act, step, store, sample, update, log, evaluate, checkpoint.

Every period in the config is counted in env steps, summed over the vector envs. One iteration steps all envs
once; a training phase runs ``gradient_steps`` updates each time the step counter crosses a multiple of
``train_freq``; the target network is updated each time it crosses a multiple of ``target_period``.

Runs start through ``rlkit.run.train`` / ``resume``, which pick this loop (or the puzzle or Ape-X one) for a config.
"""

from __future__ import annotations

import random
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.agents.registry import build_agent
from rlkit.checkpoint import (atomic_write, capture_rng_states, clean_temporary_files,
                              restore_rng_states, save_checkpoint)
from rlkit.config import Config, config_to_dict, save_config
from rlkit.device import resolve_device
from rlkit.errors import CheckpointError, Interrupted, RunDirError, TrainingError
from rlkit.evaluate import agent_from_checkpoint, run_episodes, warm_start
from rlkit.replay import build_replay, read_replay_step
from rlkit.run_dir import CHECKPOINTED, RunDirLock, run_state
from rlkit.seeding import eval_seed, train_env_seed
from rlkit.threads import apply_threads
from rlkit.vec import make_env, make_vec_env


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


def epsilon_at(step: int, start: float, end: float, decay_steps: float) -> float:
    """Linear epsilon schedule: ``start`` at step 0 to ``end`` at ``decay_steps``, constant afterwards."""
    fraction = min(1.0, step / max(decay_steps, 1.0))
    return start + fraction * (end - start)


class Trainer:
    """Owns the envs, replay, agent, logger and checkpoints of one run. Build it through ``train`` or ``resume``."""

    def __init__(self, config: Config, run_dir: Path, progress: bool | None = None,
                 checkpoint: dict[str, Any] | None = None, restart: bool = False):
        self.config, self.run_dir = config, Path(run_dir)
        self.resumed, self.restart = checkpoint is not None, restart
        self.lock = RunDirLock(self.run_dir)
        self._stop_signal: int | None = None
        self._closed = False
        self._bar: Any = None  # the progress bar while run() is going (env loop only)
        self._steps_per_second = float("nan")
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        np.random.seed(config.seed)
        self.step = self.updates = self.episodes = self.evaluations = 0
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self._build(checkpoint)
        self.threads = apply_threads(config.threads, self.agent.online, self._update_rows())
        if checkpoint is not None:
            self._check_spaces(checkpoint.get("spaces", {}))
            self._restore(checkpoint)
        self.start_step = self.step
        self._prepare_run_dir()
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.recent_returns: deque[float] = deque(maxlen=20)
        self.last_eval = (float("nan"), float("nan"))
        self.last_eval_step = -1
        self.eval_seconds = 0.0

    def _build(self, checkpoint: dict[str, Any] | None) -> None:
        """Envs, replay and agent (the agent's weights come from ``checkpoint`` when resuming)."""
        config, seed, env_cfg = self.config, self.config.seed, self.config.env
        self.env = make_vec_env(env_cfg.id, env_cfg.num_envs, seed, env_cfg.vectorization, env_cfg.kwargs,
                                env_cfg.atari)
        self.eval_env = make_env(env_cfg.id, env_kwargs=env_cfg.kwargs, atari=env_cfg.atari)
        replay = config.replay
        self.replay = build_replay(replay.capacity, self.env.obs_shape, self.env.obs_dtype, self.env.num_envs,
                                   config.agent.n_step, config.agent.gamma, seed=seed + 1, storage=replay.storage,
                                   prioritized=replay.prioritized, alpha=replay.alpha, beta=replay.beta,
                                   eps=replay.priority_eps, num_actions=self.env.num_actions)
        if checkpoint is None:
            self.agent = build_agent(config, self.env.obs_shape, self.env.obs_dtype, self.env.num_actions, self.device)
            if config.agent.init_from:
                warm_start(self.agent, config.agent.init_from, self.env.obs_shape, self.env.num_actions)
        else:
            self.agent, _ = agent_from_checkpoint({**checkpoint, "config": config_to_dict(config)}, str(self.device))

    def _update_rows(self) -> int:
        """Rows one update pushes through the network (sets ``threads: auto``): a replay batch, twice for targets."""
        return 2 * self.config.replay.batch_size

    # -- the loop -----------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train until ``train.total_steps`` env steps (or ``train.target_return``); returns a TrainResult."""
        cfg, train_cfg = self.config, self.config.train
        agent, env, replay = self.agent, self.env, self.replay
        decay_steps = cfg.exploration.fraction * train_cfg.total_steps
        warmup = max(cfg.replay.batch_size, min(train_cfg.learning_starts, len(replay) + train_cfg.learning_starts))
        if len(replay) == 0 and self.step > 0:
            warmup = max(cfg.replay.batch_size, min(train_cfg.learning_starts, cfg.replay.capacity))
        writer = self._writer()
        bar = self._bar = self._progress_bar()
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
                actions = agent.act(obs, epsilon)
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
                                self._diverged(metrics["loss"].item())
                            replay.update_priorities(batch.indices, metrics["td_errors"])
                            phase_loss += metrics["loss"]
                    else:
                        for batch in replay.sample_batches(cfg.replay.batch_size, count):
                            phase_loss += agent.update(batch)["loss"]
                    self.updates += count
                    window_updates += count
                    if not torch.isfinite(phase_loss):
                        self._diverged(phase_loss.item())
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

                if self._crossed(previous, train_cfg.log_every):
                    now = time.perf_counter()
                    steps_per_second = (self.step - window_step) / max(now - window_start, 1e-9)
                    writer.add_scalar("charts/epsilon", epsilon, self.step)
                    writer.add_scalar("charts/steps_per_second", steps_per_second, self.step)
                    if window_updates:
                        writer.add_scalar("train/loss", (loss_sum / window_updates).item(), self.step)
                        writer.add_scalar("train/mean_q", _mean_q_taken(agent, batch), self.step)
                    loss_sum.zero_()
                    window_updates, window_start, window_step = 0, now, self.step
                    self._show(bar, previous, steps_per_second)
                if self._evaluate_and_checkpoint(previous, writer):
                    stopped_early = True
                    break
        finally:
            if bar is not None:
                bar.close()
        loop_seconds = time.perf_counter() - started
        final = self._finish(writer)
        return TrainResult(self.run_dir, self.step, self.episodes, self.updates, time.perf_counter() - started,
                           loop_seconds, self.eval_seconds, *(warmup_end or (self.step, loop_seconds)),
                           self.last_eval[0], self.last_eval[1], final, stopped_early)

    def _evaluate_and_checkpoint(self, previous: int, writer: Any) -> bool:
        """The periodic chores every loop shares, run when ``step`` crossed their period since ``previous``: a greedy
        evaluation (True when it reached ``train.target_return``: stop) and a checkpoint."""
        train_cfg = self.config.train
        if self._stop_signal is not None:
            self._save(self.checkpoint_dir / "latest.pt")
            raise Interrupted(f"stopped by {signal.Signals(self._stop_signal).name} at step {self.step:,}; the "
                              f"checkpoint of that step is written; continue with `rlkit train --resume "
                              f"{self.run_dir}`", 128 + self._stop_signal)
        if self._crossed(previous, train_cfg.eval_every):
            mean, _ = self._evaluate(writer)
            if train_cfg.target_return is not None and mean >= train_cfg.target_return:
                return True
        if self._crossed(previous, train_cfg.checkpoint_every):
            self._save(self.checkpoint_dir / "latest.pt")
        return False

    def _finish(self, writer: Any) -> Path:
        """Evaluate the final policy (unless that just happened), close the log and the envs, write the last
        checkpoint and its copy ``final.pt``; returns the latter's path."""
        if self.last_eval_step != self.step:
            self._evaluate(writer)
        writer.close()
        self._closed = True
        self._close()
        latest, final = self.checkpoint_dir / "latest.pt", self.checkpoint_dir / "final.pt"
        self._save(latest)
        atomic_write(final, lambda handle: handle.write(latest.read_bytes()))
        return final

    def _close(self) -> None:
        self.env.close()
        self.eval_env.close()

    # -- pieces of the loop -------------------------------------------------------------------------------------
    def _crossed(self, previous: int, period: int) -> bool:
        return period > 0 and self.step // period != previous // period

    def _evaluate(self, writer: Any) -> tuple[float, float]:
        cfg = self.config
        seed = eval_seed(cfg.seed)  # never among the training envs' seeds (rlkit/seeding.py)
        started = time.perf_counter()
        with torch.inference_mode():
            returns, lengths = run_episodes(self.agent, self.eval_env, cfg.train.eval_episodes,
                                            cfg.exploration.eval_epsilon, seed)
        self.eval_seconds += time.perf_counter() - started
        self.evaluations += 1
        self.last_eval_step = self.step
        self.last_eval = (float(returns.mean()), float(returns.std()))
        if self._bar is not None:  # the bar shows this evaluation now, not at the next log
            self._show(self._bar, self.step, self._steps_per_second)
        writer.add_scalar("eval/mean_return", self.last_eval[0], self.step)
        writer.add_scalar("eval/std_return", self.last_eval[1], self.step)
        writer.add_scalar("eval/mean_length", float(lengths.mean()), self.step)
        if not self.progress:
            recent = np.mean(self.recent_returns) if self.recent_returns else float("nan")
            print(f"step {self.step:>9,}/{cfg.train.total_steps:,}  episodes {self.episodes:>6,}  "
                  f"recent return {recent:8.2f}  eval {self.last_eval[0]:8.2f} ± {self.last_eval[1]:.2f}", flush=True)
        return self.last_eval

    def _diverged(self, loss: float) -> None:
        latest = self.checkpoint_dir / "latest.pt"
        kept = f"the last good checkpoint is '{latest}'" if latest.exists() else "no checkpoint was written yet"
        raise TrainingError(
            f"loss became {loss} at step {self.step} (update {self.updates}); training stopped and {kept}; "
            "lower agent.lr, set agent.max_grad_norm, or check the env's rewards for NaN/inf"
        )

    def _progress_bar(self) -> Any:
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=self.config.train.total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                    file=sys.stderr)

    def _show(self, bar: Any, previous: int, steps_per_second: float) -> None:
        if bar is None:
            return
        self._steps_per_second = steps_per_second
        recent = np.mean(self.recent_returns) if self.recent_returns else float("nan")
        bar.update(self.step - bar.n)
        bar.set_postfix_str(f"return {recent:.1f}  eval {self.last_eval[0]:.1f}  {steps_per_second:,.0f} steps/s")

    # -- run directory and checkpoints --------------------------------------------------------------------------
    def _prepare_run_dir(self) -> None:
        try:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            probe = self.run_dir / ".write_test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise RunDirError(f"run directory '{self.run_dir}' is not writable ({error.strerror}); "
                              "set run_dir to a writable place") from None
        self.lock.acquire()  # one writer per run directory, from here until close()
        if not self.resumed and run_state(self.run_dir) == CHECKPOINTED:  # another run got here first
            self.lock.release()
            raise RunDirError(f"run directory '{self.run_dir}' already holds a run; continue it with "
                              f"`rlkit train --resume {self.run_dir}` or pick a new one with run_dir=...")
        clean_temporary_files(self.checkpoint_dir)
        # Always the config this process trains with: a resume's overrides (a new total_steps) are recorded.
        save_config(self.config, self.run_dir / "config.yaml")

    def describe(self) -> str:
        """The run's first line: what trains where, and from which step."""
        cfg = self.config
        task = f"puzzle {cfg.puzzle.name}" if cfg.puzzle.name else cfg.env.id
        start = f"resumed from step {self.step:,}" if self.resumed else "from step 0"
        return (f"rlkit: {cfg.agent.name} on {task} in {self.run_dir} ({start}; device {self.device}, "
                f"{self.threads} thread{'s' if self.threads != 1 else ''})")

    def close(self) -> None:
        """Close the envs (if still open) and give the run directory up; ``run`` ends with this."""
        try:
            if not self._closed:
                self._closed = True
                self._close()
        finally:
            self.lock.release()

    def request_stop(self, signum: int = signal.SIGINT) -> None:
        """Ask the loop to write a checkpoint at the current step and stop (what SIGINT and SIGTERM do); a second
        request while the first is pending stops at once."""
        if self._stop_signal is not None:
            raise KeyboardInterrupt
        self._stop_signal = signum

    def _writer(self) -> Any:
        """The run's TensorBoard writer. A resume drops events after the checkpoint's step (a killed run may have
        logged past it) but keeps the evaluation logged at that step; a restarted run drops the stopped one's."""
        from torch.utils.tensorboard import SummaryWriter  # imported here: tensorboard is slow to import

        purge = self.step + 1 if self.resumed else (0 if self.restart else None)
        return SummaryWriter(str(self.run_dir / "tb"), purge_step=purge)

    def _save(self, path: Path) -> None:
        save_checkpoint(path, {
            "config": config_to_dict(self.config),
            "spaces": self._spaces(),
            "agent": self.agent.state_dict(),
            "trainer": {"step": self.step, "updates": self.updates, "episodes": self.episodes,
                        "evaluations": self.evaluations, "rng": capture_rng_states(), **self._loop_state()},
        })

    def _check_spaces(self, saved: dict[str, Any]) -> None:
        """A resumed run's env must have the spaces its checkpoint was trained on (checked before any write)."""
        now = self._spaces()
        for key in ("obs_shape", "obs_dtype", "num_actions"):
            if key in saved and key in now and list(np.atleast_1d(saved[key])) != list(np.atleast_1d(now[key])):
                self.close()
                raise CheckpointError(f"cannot resume '{self.run_dir}': its checkpoint has {key} {saved[key]}, but "
                                      f"this config's env gives {now[key]}; resume with the env it was trained on")

    def _spaces(self) -> dict[str, Any]:
        return {"obs_shape": list(self.env.obs_shape), "obs_dtype": str(self.env.obs_dtype),
                "num_actions": self.env.num_actions, "env_id": self.config.env.id}

    def _loop_state(self) -> dict[str, Any]:
        """What this loop adds to a checkpoint: the replay's RNG, and the buffer itself when so configured."""
        replay_step = None
        if self.config.replay.save_with_checkpoint:
            # Written before the checkpoint and stamped with its step: a kill between the two writes leaves a
            # replay newer than latest.pt, which _restore_loop_state then recognises and leaves out.
            self.replay.save(self.checkpoint_dir / "replay.npz", step=self.step)
            replay_step = self.step
        return {"replay_step": replay_step, "replay_rng": self.replay.rng_state()}

    def _restore(self, payload: dict[str, Any]) -> None:
        state = payload.get("trainer", {})
        self.step, self.updates = int(state.get("step", 0)), int(state.get("updates", 0))
        self.episodes, self.evaluations = int(state.get("episodes", 0)), int(state.get("evaluations", 0))
        if "rng" in state:
            restore_rng_states(state["rng"])
        self._restore_loop_state(state)

    def _restore_loop_state(self, state: dict[str, Any]) -> None:
        replay_file = self.checkpoint_dir / "replay.npz"
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


def _mean_q_taken(agent: Any, batch: Any) -> float:
    """Mean Q of the taken actions on the latest replay batch (logged, so computed once per log, not per update)."""
    q = agent.q_values(batch.obs)
    actions = torch.as_tensor(batch.actions, device=q.device)
    return q.gather(1, actions[:, None]).mean().item()
