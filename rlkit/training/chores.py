"""The chores every training loop shares, by composition: a loop holds a ``Chores`` and calls it around its steps.

    chores = Chores(config, run_dir, progress, resumed=checkpoint is not None, restart=restart)
    ...build the loop's envs, replay and agent; chores.restore(loop, checkpoint) on a resume...
    chores.claim()                                    # lock the run directory, write config.yaml
    writer = chores.writer(loop.step)
    while loop.step < total:
        ...the loop's own work...
        if chores.tick(loop, previous, writer):       # interrupt -> checkpoint; evaluation, early stop; checkpoint
            break
    final = chores.finish(loop, writer)               # last evaluation, latest.pt then final.pt

A loop is any object with ``config``, ``agent``, ``device``, ``threads``, ``step``, ``updates``, ``episodes`` and five
methods: ``evaluate_policy(writer) -> (mean, std)`` (its greedy evaluation, logging its own scalars),
``progress_line()`` (the line printed after an evaluation when there is no progress bar), ``spaces() -> dict``,
``loop_state() -> dict`` (what it adds to a checkpoint, written before it: the replay, stamped with the step) and
``close_resources()`` (envs, actors).
"""

from __future__ import annotations

import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.training.checkpoint import (atomic_write, capture_rng_states, clean_temporary_files, restore_rng_states,
                              save_checkpoint)
from rlkit.allocator import retain_freed_memory
from rlkit.config import Config, config_to_dict, save_config
from rlkit.device import resolve_device
from rlkit.errors import CheckpointError, Interrupted, RunDirError, TrainingError
from rlkit.run_dir import CHECKPOINTED, RunDirLock, run_state


def start_run(config: Config) -> torch.device:
    """Seed torch, numpy and Python from ``config.seed``, set the C allocator's handling of freed memory
    (``config.allocator``: rlkit/allocator.py); return the device the run computes on."""
    device = resolve_device(config.device)
    retain_freed_memory(config.allocator)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed)
    return device


class Chores:
    """Run directory, TensorBoard, evaluation cadence and early stop, checkpoints, interrupts, progress, wrap-up."""

    def __init__(self, config: Config, run_dir: Path, progress: bool | None = None, resumed: bool = False,
                 restart: bool = False, unit: str = "step"):
        self.config, self.run_dir = config, Path(run_dir)
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.resumed, self.restart, self.unit = resumed, restart, unit
        self.lock = RunDirLock(self.run_dir)
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.bar: Any = None
        self.postfix = ""  # what the loop last showed on the bar (steps/s, recent return)
        self.last_eval = (float("nan"), float("nan"))
        self.last_eval_step = -1
        self.evaluations = 0
        self.eval_seconds = 0.0
        self.stop_signal: int | None = None
        self.closed = False
        self.observer: Any = None  # observer(step, mean) after each evaluation (rlkit.run.train's argument)

    # -- the run directory ----------------------------------------------------------------------------------------
    def claim(self) -> None:
        """Create the run directory, lock it for this process, and write the config this run trains with."""
        try:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            probe = self.run_dir / ".write_test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise RunDirError(f"run directory '{self.run_dir}' is not writable ({error.strerror}); "
                              "set run_dir to a writable place") from None
        self.lock.acquire()  # one writer per run directory, from here until release()
        if not self.resumed and run_state(self.run_dir) == CHECKPOINTED:  # another run got here first
            self.lock.release()
            raise RunDirError(f"run directory '{self.run_dir}' already holds a run; continue it with "
                              f"`rlkit train --resume {self.run_dir}` or pick a new one with run_dir=...")
        clean_temporary_files(self.checkpoint_dir)
        # Always the config this process trains with: a resume's overrides (a new total_steps) are recorded.
        save_config(self.config, self.run_dir / "config.yaml")

    def writer(self, step: int) -> Any:
        """The run's TensorBoard writer. A resume drops events after the checkpoint's step (a killed run may have
        logged past it) but keeps the evaluation logged at that step; a restarted run drops the stopped one's."""
        from torch.utils.tensorboard import SummaryWriter  # imported here: tensorboard is slow to import

        purge = step + 1 if self.resumed else (0 if self.restart else None)
        return SummaryWriter(str(self.run_dir / "tb"), purge_step=purge)

    def release(self, loop: Any) -> None:
        """Close the loop's envs and actors (once) and give the run directory up."""
        try:
            self._close_resources(loop)
        finally:
            self.lock.release()

    def _close_resources(self, loop: Any) -> None:
        if not self.closed:
            self.closed = True
            loop.close_resources()

    # -- cadence --------------------------------------------------------------------------------------------------
    @staticmethod
    def crossed(previous: int, step: int, period: int) -> bool:
        """True when ``step`` passed a multiple of ``period`` since ``previous`` (never for period 0)."""
        return period > 0 and step // period != previous // period

    def request_stop(self, signum: int = signal.SIGINT) -> None:
        """Ask for a checkpoint at the current step and a stop (SIGINT, SIGTERM); a second request stops at once."""
        if self.stop_signal is not None:
            raise KeyboardInterrupt
        self.stop_signal = signum

    def tick(self, loop: Any, previous: int, writer: Any) -> bool:
        """The periodic chores, after a loop iteration moved ``loop.step`` on from ``previous``: a requested stop
        (checkpoint, then Interrupted), a greedy evaluation (True when it reached ``train.target_return``: stop),
        and a checkpoint."""
        train_cfg = self.config.train
        if self.stop_signal is not None:
            self.save(loop, self.checkpoint_dir / "latest.pt")
            raise Interrupted(f"stopped by {signal.Signals(self.stop_signal).name} at {self.unit} {loop.step:,}; "
                              f"the checkpoint of that {self.unit} is written; continue with `rlkit train --resume "
                              f"{self.run_dir}`", 128 + self.stop_signal)
        if self.crossed(previous, loop.step, train_cfg.eval_every):
            mean, _ = self.evaluate(loop, writer)
            if train_cfg.target_return is not None and mean >= train_cfg.target_return:
                return True
        if self.crossed(previous, loop.step, train_cfg.checkpoint_every):
            self.save(loop, self.checkpoint_dir / "latest.pt")
        return False

    def evaluate(self, loop: Any, writer: Any) -> tuple[float, float]:
        """Run the loop's evaluation, time it, show it (bar or one line) and return (mean, std)."""
        started = time.perf_counter()
        self.last_eval = loop.evaluate_policy(writer)
        self.eval_seconds += time.perf_counter() - started
        self.evaluations += 1
        self.last_eval_step = loop.step
        if self.bar is not None:
            self.show(loop.step)
        else:
            print(f"{self.unit} {loop.step:>9,}/{self.config.train.total_steps:,}  {loop.progress_line()}", flush=True)
        if self.observer is not None:
            self.observer(loop.step, self.last_eval[0])
        return self.last_eval

    # -- progress -------------------------------------------------------------------------------------------------
    def open_bar(self, step: int) -> None:
        """A progress bar on stderr when the run is interactive (``progress``)."""
        if self.progress:
            from tqdm import tqdm

            self.bar = tqdm(total=self.config.train.total_steps, initial=step, unit=self.unit, dynamic_ncols=True,
                            file=sys.stderr)

    def show(self, step: int, postfix: str | None = None) -> None:
        """Move the bar to ``step``; ``postfix`` (the loop's recent figures) is kept for later refreshes."""
        if self.bar is None:
            return
        if postfix is not None:
            self.postfix = postfix
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix_str(f"{self.postfix}  eval {self.last_eval[0]:.2f}")

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    # -- checkpoints ----------------------------------------------------------------------------------------------
    def save(self, loop: Any, path: Path) -> None:
        """Write the loop's checkpoint; ``loop.loop_state()`` runs first, so a replay it saves precedes the
        checkpoint that names its step."""
        extra = loop.loop_state()
        save_checkpoint(path, {
            "config": config_to_dict(self.config),
            "spaces": loop.spaces(),
            "agent": loop.agent.state_dict(),
            "trainer": {"step": loop.step, "updates": loop.updates, "episodes": loop.episodes,
                        "evaluations": self.evaluations, "rng": capture_rng_states(), **extra},
        })

    def restore(self, loop: Any, payload: dict[str, Any]) -> dict[str, Any]:
        """Check the checkpoint's spaces against the loop's, then restore counters and RNG states; returns the
        checkpoint's trainer state (for the loop's own ``loop_state`` keys)."""
        saved, now = payload.get("spaces", {}), loop.spaces()
        if "obs_space" in saved and saved["obs_space"] != now.get("obs_space", saved["obs_space"]):
            self.release(loop)
            raise CheckpointError(f"cannot resume '{self.run_dir}': its checkpoint has observations "
                                  f"{ObsSpace.from_dict(saved['obs_space']).describe()}, but this config's env gives "
                                  f"{ObsSpace.from_dict(now['obs_space']).describe()}; resume with the env it was "
                                  "trained on")
        for key in ("obs_shape", "obs_dtype", "num_actions"):
            if key in saved and key in now and list(np.atleast_1d(saved[key])) != list(np.atleast_1d(now[key])):
                self.release(loop)
                raise CheckpointError(f"cannot resume '{self.run_dir}': its checkpoint has {key} {saved[key]}, but "
                                      f"this config's env gives {now[key]}; resume with the env it was trained on")
        state = payload.get("trainer", {})
        loop.step, loop.updates = int(state.get("step", 0)), int(state.get("updates", 0))
        loop.episodes, self.evaluations = int(state.get("episodes", 0)), int(state.get("evaluations", 0))
        if "rng" in state:
            restore_rng_states(state["rng"])
        return state

    def finish(self, loop: Any, writer: Any) -> Path:
        """Evaluate the final policy (unless that just happened), close the log, the envs and actors, write the last
        checkpoint and its copy ``final.pt``; returns the latter's path."""
        if self.last_eval_step != loop.step:
            self.evaluate(loop, writer)
        writer.close()
        self._close_resources(loop)
        latest, final = self.checkpoint_dir / "latest.pt", self.checkpoint_dir / "final.pt"
        self.save(loop, latest)
        atomic_write(final, lambda handle: handle.write(latest.read_bytes()))
        return final

    def diverged(self, loop: Any, loss: float) -> None:
        """Stop with a TrainingError naming the step and the last good checkpoint (a NaN or infinite loss)."""
        latest = self.checkpoint_dir / "latest.pt"
        kept = f"the last good checkpoint is '{latest}'" if latest.exists() else "no checkpoint was written yet"
        raise TrainingError(
            f"loss became {loss} at {self.unit} {loop.step} (update {loop.updates}); training stopped and {kept}; "
            "lower agent.lr, set agent.max_grad_norm, or check the env's rewards for NaN/inf"
        )

    def describe(self, loop: Any) -> str:
        """The run's first line: what trains where, and from which step."""
        cfg = self.config
        task = f"puzzle {cfg.puzzle.name}" if cfg.puzzle.name else cfg.env.id
        start = f"resumed from {self.unit} {loop.step:,}" if self.resumed else f"from {self.unit} 0"
        return (f"rlkit: {cfg.agent.name} on {task} in {self.run_dir} ({start}; device {loop.device}, "
                f"{loop.threads} thread{'s' if loop.threads != 1 else ''})")
