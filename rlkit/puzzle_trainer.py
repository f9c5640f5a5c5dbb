"""The training loop of cost-to-go agents on search puzzles (``agent.name: qstar``, ``puzzle.name`` set).

There is no env and no replay: every update draws ``puzzle.batch_size`` states by backward random walks of
0..``puzzle.max_scramble`` moves from the goal and regresses Q(s, a) onto c(s, a) + min_a' Q_target(s', a').
Every period in ``train`` counts updates. Evaluations log the greedy policy's solve rate at each depth of
``puzzle.eval_depths``. Run directory, TensorBoard, checkpoints, resume and the NaN guard are the env trainer's.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from rlkit.agents.registry import build_puzzle_agent
from rlkit.evaluate import agent_from_checkpoint, warm_start
from rlkit.seeding import PUZZLE_EVALUATION, derive_seed
from rlkit.trainer import Trainer, TrainResult


class PuzzleTrainer(Trainer):
    """Trains a ``QStarAgent``; ``step`` counts gradient updates."""

    def _build(self, checkpoint: dict[str, Any] | None) -> None:
        self.rng = np.random.default_rng(self.config.seed + 3)
        if checkpoint is None:
            self.agent = build_puzzle_agent(self.config, self.device)
            if self.config.agent.init_from:
                puzzle = self.agent.puzzle
                warm_start(self.agent, self.config.agent.init_from, (int(puzzle.encoded_size),),
                           int(puzzle.num_actions))
        else:
            self.agent, _ = agent_from_checkpoint(checkpoint, str(self.device))
        self.puzzle = self.agent.puzzle
        if self.config.puzzle.target_from:
            self.agent.bootstrap_network()  # a missing or foreign teacher fails here, before the run dir exists

    def _update_rows(self) -> int:
        """A puzzle update scores each state and all its children: batch x (actions + 1) rows."""
        return self.config.puzzle.batch_size * (int(self.agent.puzzle.num_actions) + 1)

    def run(self) -> TrainResult:
        """Update until ``train.total_steps`` updates (or a mean solve rate of ``train.target_return``)."""

        cfg, train_cfg, agent = self.config, self.config.train, self.agent
        writer = self._writer()
        bar = self._progress_bar()
        started = window_start = time.perf_counter()
        window_step, loss_sum, stopped_early = self.step, 0.0, False
        try:
            while self.step < train_cfg.total_steps:
                loss = agent.update(agent.training_states(self.rng))["loss"].item()
                if not np.isfinite(loss):
                    self._diverged(loss)
                previous, self.step = self.step, self.step + 1
                self.updates += 1
                loss_sum += loss
                if self.step // cfg.agent.target_period != previous // cfg.agent.target_period:
                    agent.update_target()
                if self._crossed(previous, train_cfg.log_every):
                    now = time.perf_counter()
                    rate = (self.step - window_step) / max(now - window_start, 1e-9)
                    writer.add_scalar("train/loss", loss_sum / (self.step - window_step), self.step)
                    writer.add_scalar("charts/updates_per_second", rate, self.step)
                    window_start, window_step, loss_sum = now, self.step, 0.0
                    if bar is not None:
                        bar.update(self.step - bar.n)
                        bar.set_postfix_str(f"solve rate {self.last_eval[0]:.2f}  {rate:,.1f} updates/s")
                if self._evaluate_and_checkpoint(previous, writer):
                    stopped_early = True
                    break
        finally:
            if bar is not None:
                bar.close()
        loop_seconds = time.perf_counter() - started
        final = self._finish(writer)
        seconds = time.perf_counter() - started
        return TrainResult(self.run_dir, self.step, self.episodes, self.updates, seconds, loop_seconds,
                           self.eval_seconds, 0, 0.0, self.last_eval[0], self.last_eval[1], final, stopped_early)

    def _evaluate(self, writer: Any) -> tuple[float, float]:
        """Greedy solve rate per scramble depth; the mean over depths is the run's evaluation score."""
        cfg = self.config
        started = time.perf_counter()
        rng = np.random.default_rng(derive_seed(cfg.seed, PUZZLE_EVALUATION))  # the same states at every evaluation
        with torch.inference_mode():
            rates = self.agent.solve_rate(cfg.puzzle.eval_depths, cfg.puzzle.eval_states, rng)
        self.eval_seconds += time.perf_counter() - started
        for depth, rate in rates.items():
            writer.add_scalar(f"eval/solve_rate_depth_{depth}", rate, self.step)
        values = np.array(list(rates.values()))
        self.last_eval, self.last_eval_step = (float(values.mean()), float(values.std())), self.step
        self.evaluations += 1
        writer.add_scalar("eval/mean_return", self.last_eval[0], self.step)  # the mean solve rate, for rlkit plot
        if not self.progress:
            shown = "  ".join(f"d{depth} {rate:.2f}" for depth, rate in rates.items())
            print(f"update {self.step:>8,}/{cfg.train.total_steps:,}  solve rate {shown}", flush=True)
        return self.last_eval

    def _close(self) -> None:
        pass  # no envs to close

    def _spaces(self) -> dict[str, Any]:
        return {"obs_shape": [int(self.puzzle.encoded_size)], "obs_dtype": "float32",
                "num_actions": int(self.puzzle.num_actions), "puzzle": self.config.puzzle.name}

    def _loop_state(self) -> dict[str, Any]:
        return {"puzzle_rng": self.rng.bit_generator.state}

    def _restore_loop_state(self, state: dict[str, Any]) -> None:
        if "puzzle_rng" in state:
            self.rng.bit_generator.state = state["puzzle_rng"]
