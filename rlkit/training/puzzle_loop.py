"""The training loop of cost-to-go agents on search puzzles (``agent.name: qstar``, ``puzzle.name`` set).

There is no env and no replay: every update draws ``puzzle.batch_size`` states by backward random walks of
0..``puzzle.max_scramble`` moves from the goal and regresses Q(s, a) onto c(s, a) + min_a' Q_target(s', a')
(``puzzle.targets: bellman``), onto the walk's bound (``walk``), or onto the bound with a periodic Bellman update
(``mixed``); ``QStarAgent.update`` says how.
Every period in ``train`` counts updates. Evaluations log the greedy policy's solve rate at each depth of
``puzzle.eval_depths``. Run directory, TensorBoard, checkpoints, resume and the NaN guard are the shared ``Chores``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.agents.registry import build_puzzle_agent
from rlkit.config import Config, config_to_dict
from rlkit.training.evaluate import agent_from_checkpoint, warm_start
from rlkit.seeding import PUZZLE_EVALUATION, derive_seed
from rlkit.threads import apply_threads
from rlkit.training.loop import TrainResult
from rlkit.training.chores import Chores, start_run


class PuzzleLoop:
    """Trains a ``QStarAgent``; ``step`` counts gradient updates. The run's chores are a ``Chores`` it holds."""

    def __init__(self, config: Config, run_dir: Path, progress: bool | None = None,
                 checkpoint: dict[str, Any] | None = None, restart: bool = False):
        self.config = config
        self.device = start_run(config)
        self.step = self.updates = self.episodes = 0
        self.chores = Chores(config, run_dir, progress, resumed=checkpoint is not None, restart=restart,
                             unit="update")
        self.run_dir = self.chores.run_dir
        self.rng = np.random.default_rng(config.seed + 3)
        if checkpoint is None:
            self.agent = build_puzzle_agent(config, self.device)
            if config.agent.init_from:
                puzzle = self.agent.puzzle
                warm_start(self.agent, config.agent.init_from, (int(puzzle.encoded_size),), int(puzzle.num_actions))
        else:
            # The run's config, not the checkpoint's: a resume's overrides (targets, lr, ...) reach the agent.
            self.agent, _ = agent_from_checkpoint({**checkpoint, "config": config_to_dict(config)}, str(self.device))
        self.puzzle = self.agent.puzzle
        if config.puzzle.target_from:
            self.agent.bootstrap_network()  # a missing or foreign teacher fails here, before the run dir exists
        # A Bellman update scores each state and all its children: batch x (actions + 1) rows; a walk update one.
        per_state = 1 if config.puzzle.targets == "walk" else int(self.puzzle.num_actions) + 1
        rows = config.puzzle.batch_size * per_state
        self.threads = apply_threads(config.threads, self.agent.online, rows)
        if checkpoint is not None:
            state = self.chores.restore(self, checkpoint)
            if "puzzle_rng" in state:
                self.rng.bit_generator.state = state["puzzle_rng"]
        self.start_step = self.step
        self.chores.claim()
        self._rates: dict[int, float] = {}

    def close(self) -> None:
        self.chores.release(self)

    def run(self) -> TrainResult:
        """Update until ``train.total_steps`` updates (or a mean solve rate of ``train.target_return``)."""
        cfg, train_cfg, agent, chores = self.config, self.config.train, self.agent, self.chores
        writer = chores.writer(self.step)
        chores.open_bar(self.step)
        started = window_start = time.perf_counter()
        window_step, loss_sum, stopped_early = self.step, 0.0, False
        try:
            while self.step < train_cfg.total_steps:
                loss = agent.update(agent.training_batch(self.rng))["loss"].item()
                if not np.isfinite(loss):
                    chores.diverged(self, loss)
                previous, self.step = self.step, self.step + 1
                self.updates += 1
                loss_sum += loss
                if self.step // cfg.agent.target_period != previous // cfg.agent.target_period:
                    agent.update_target()
                if chores.crossed(previous, self.step, train_cfg.log_every):
                    now = time.perf_counter()
                    rate = (self.step - window_step) / max(now - window_start, 1e-9)
                    writer.add_scalar("train/loss", loss_sum / (self.step - window_step), self.step)
                    writer.add_scalar("charts/updates_per_second", rate, self.step)
                    window_start, window_step, loss_sum = now, self.step, 0.0
                    chores.show(self.step, f"{rate:,.1f} updates/s")
                if chores.tick(self, previous, writer):
                    stopped_early = True
                    break
        finally:
            chores.close_bar()
        loop_seconds = time.perf_counter() - started
        final = chores.finish(self, writer)
        seconds = time.perf_counter() - started
        return TrainResult(self.run_dir, self.step, self.episodes, self.updates, seconds, loop_seconds,
                           chores.eval_seconds, 0, 0.0, chores.last_eval[0], chores.last_eval[1], final, stopped_early)

    # -- what the chores ask of a loop ------------------------------------------------------------------------------
    def evaluate_policy(self, writer: Any) -> tuple[float, float]:
        """Greedy solve rate per scramble depth; the mean over depths is the run's evaluation score."""
        cfg = self.config
        rng = np.random.default_rng(derive_seed(cfg.seed, PUZZLE_EVALUATION))  # the same states at every evaluation
        with torch.inference_mode():
            self._rates = self.agent.solve_rate(cfg.puzzle.eval_depths, cfg.puzzle.eval_states, rng)
        for depth, rate in self._rates.items():
            writer.add_scalar(f"eval/solve_rate_depth_{depth}", rate, self.step)
        values = np.array(list(self._rates.values()))
        writer.add_scalar("eval/mean_return", float(values.mean()), self.step)  # the mean solve rate, for rlkit plot
        return float(values.mean()), float(values.std())

    def progress_line(self) -> str:
        return "solve rate " + "  ".join(f"d{depth} {rate:.2f}" for depth, rate in self._rates.items())

    def spaces(self) -> dict[str, Any]:
        return {"obs_shape": [int(self.puzzle.encoded_size)], "obs_dtype": "float32",
                "num_actions": int(self.puzzle.num_actions), "puzzle": self.config.puzzle.name}

    def loop_state(self) -> dict[str, Any]:
        return {"puzzle_rng": self.rng.bit_generator.state}

    def close_resources(self) -> None:
        pass  # no envs to close
