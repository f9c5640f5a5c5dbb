"""Starting and continuing runs: the one module that knows every training loop.

    result = train(load_config("configs/cartpole_dqn.yaml"))          # a new run
    result = resume("runs/cartpole_dqn")                               # continue from checkpoints/latest.pt

``train`` and ``resume`` check the run directory and the config, pick the loop a config needs from ``LOOPS`` (the
env loop, the puzzle loop, PQN's loop, the Ape-X driver), run it with SIGINT/SIGTERM turned into a checkpoint, and
give the run directory up.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

from rlkit.agents.registry import resolve_preset
from rlkit.training.checkpoint import load_checkpoint
from rlkit.config import Config, apply_overrides, config_from_dict, config_to_dict, load_config
from rlkit.errors import CheckpointError, ConfigError, RunDirError
from rlkit.run_dir import CHECKPOINTED, EMPTY, STARTED, run_state
from rlkit.distributed.apex import ApexDriver
from rlkit.envs.puzzles.shipped import PREFIX, resolve_checkpoint
from rlkit.training.pqn_loop import PQNLoop
from rlkit.training.puzzle_loop import PuzzleLoop
from rlkit.training.loop import EnvLoop, TrainResult


def train(config: Config, run_dir: str | Path | None = None, progress: bool | None = None,
          observer: Any = None) -> TrainResult:
    """Start a new run. The run directory (``run_dir``, else ``config.run_dir``) must not hold a checkpoint; one that
    holds only the config of a run stopped before its first checkpoint is started again (with a note).
    ``observer(step, mean_return)`` is called after each greedy evaluation (rlkit/tune.py's pruning); what it
    raises ends the run there.

    Everything a user can get wrong (config, env id, spaces, run directory) is checked before the directory is
    created, so a failed start leaves nothing behind.
    """
    config = resolve_preset(config)
    run_dir = Path(run_dir or config.run_dir or "runs/default")
    state = run_state(run_dir)
    if state == CHECKPOINTED:
        raise RunDirError(
            f"run directory '{run_dir}' already holds a run; continue it with `rlkit train --resume {run_dir}` "
            "or pick a new one with run_dir=..."
        )
    if state == STARTED:
        sys.stderr.write(f"rlkit: note: '{run_dir}' holds no checkpoint (its run stopped before the first one); "
                         "starting it again\n")
    trainer = loop_for(config)(config, run_dir, progress=progress, restart=state == STARTED)
    trainer.chores.observer = observer
    return _run(trainer)


def resume(run_dir: str | Path, overrides: list[str] | tuple[str, ...] = (), progress: bool | None = None) -> TrainResult:
    """Continue a run from its latest checkpoint: step counters, optimiser, schedules and RNG states restored.

    ``run_dir`` may also be a checkpoint FILE or ``shipped:PUZZLE`` (a network that ships with rlkit): training
    then continues from that file in a new run directory (``run_dir=...`` among the overrides, default
    ``runs/<file name>_continued``), which must not hold a run; the file itself is only read.

    ``overrides`` may change the budget (``train.total_steps=...``) or logging; they are applied to the config
    stored in the checkpoint, and the run's ``config.yaml`` records them. A directory whose run stopped before its
    first checkpoint starts from step 0 with its ``config.yaml`` (and the overrides).
    """
    if str(run_dir).startswith(PREFIX) or Path(run_dir).is_file():
        return _continue_checkpoint(resolve_checkpoint(run_dir), overrides, progress)
    run_dir = Path(run_dir)
    state = run_state(run_dir)
    if state == EMPTY:
        raise CheckpointError(f"cannot resume '{run_dir}': it holds no rlkit run (no config.yaml, no "
                              f"checkpoints/latest.pt); start one with `rlkit train CONFIG run_dir={run_dir}`")
    if state == STARTED:
        config = resolve_preset(apply_overrides(load_config(run_dir / "config.yaml"), overrides))
        sys.stderr.write(f"rlkit: note: '{run_dir}' holds no checkpoint yet (its run stopped before the first one); "
                         "starting it from step 0 with its config.yaml\n")
        return _run(loop_for(config)(config, run_dir, progress=progress, restart=True))
    payload = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    stored = resolve_preset(config_from_dict(payload["config"]))
    config = resolve_preset(apply_overrides(stored, overrides))
    _check_kept_on_resume(stored, config, run_dir)
    step = int(payload.get("trainer", {}).get("step", 0))
    if config.train.total_steps <= step:
        raise ConfigError(f"'{run_dir}' is at step {step:,} already, and train.total_steps is "
                          f"{config.train.total_steps:,}: nothing to train; pass a larger train.total_steps=... "
                          "to continue it")
    return _run(loop_for(config)(config, run_dir, progress=progress, checkpoint=payload))


def _continue_checkpoint(path: Path, overrides: list[str] | tuple[str, ...], progress: bool | None) -> TrainResult:
    """``resume`` from a checkpoint file into a new run directory (see ``resume``)."""
    payload = load_checkpoint(path)
    stored = resolve_preset(config_from_dict(payload["config"]))
    config = resolve_preset(apply_overrides(stored, overrides))
    overridden = config.run_dir != stored.run_dir  # the file's own run_dir is where it was trained, not a new home
    run_dir = Path(config.run_dir if overridden and config.run_dir else f"runs/{path.stem}_continued")
    _check_kept_on_resume(stored, config, run_dir)
    if run_state(run_dir) != EMPTY:
        raise RunDirError(f"run directory '{run_dir}' already holds a run; continue '{path}' in a new one with "
                          f"run_dir=... (or that run with `rlkit train --resume {run_dir}`)")
    step = int(payload.get("trainer", {}).get("step", 0))
    if config.train.total_steps <= step:
        raise ConfigError(f"'{path}' is at step {step:,} already, and train.total_steps is "
                          f"{config.train.total_steps:,}: nothing to train; pass a larger train.total_steps=...")
    return _run(loop_for(config)(config, run_dir, progress=progress, checkpoint=payload))


# What a resume cannot change: the task and everything that shapes the network, its replay and its checkpoint.
KEPT_ON_RESUME = ("env.id", "env.atari", "env.num_envs", "agent.name", "agent.dueling", "agent.net", "agent.critic",
                  "agent.n_step", "puzzle.name", "puzzle.size", "distributed.num_actors", "replay.capacity",
                  "replay.storage", "replay.prioritized")


def _check_kept_on_resume(stored: Config, config: Config, run_dir: Path) -> None:
    """ConfigError naming the first field, among KEPT_ON_RESUME, that the overrides change (before any write)."""
    before, after = config_to_dict(stored), config_to_dict(config)
    for dotted in KEPT_ON_RESUME:
        old, new = before, after
        for part in dotted.split("."):
            old, new = old.get(part), new.get(part)
        changed = _first_difference(old, new, dotted)
        if changed is not None:
            field, was, asked = changed
            raise ConfigError(f"--resume cannot change {field} ('{run_dir}' was trained with {was!r}, the "
                              f"overrides ask for {asked!r}); start a new run instead (agent.init_from=... reuses "
                              "its weights)")


def _first_difference(old: Any, new: Any, path: str) -> tuple[str, Any, Any] | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            found = _first_difference(old.get(key), new.get(key), f"{path}.{key}")
            if found is not None:
                return found
        return None
    return None if old == new else (path, old, new)


def _run(trainer: Any) -> TrainResult:
    """Run a built loop with SIGINT and SIGTERM turned into a checkpoint at the current step (see
    ``Chores.request_stop``), then give its run directory up."""
    print(trainer.chores.describe(trainer), flush=True)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, lambda signum, frame: trainer.chores.request_stop(signum))
    try:
        result = trainer.run()
        result.start_step = trainer.start_step
        return result
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        trainer.close()


def loop_for(config: Config) -> type[EnvLoop]:
    """The training loop a config needs (the first row of ``LOOPS`` whose test it passes)."""
    return next(loop for wants, loop in LOOPS if wants(config))


# Which loop trains which config, in order: Ape-X actors on Ray (or in turn, in local mode), cost-to-go training on
# a search puzzle, PQN's collect-then-learn phases, else the single-process env loop.
LOOPS: list[tuple[Any, type[EnvLoop]]] = [
    (lambda config: config.distributed.num_actors > 0, ApexDriver),
    (lambda config: config.puzzle.name is not None, PuzzleLoop),
    (lambda config: config.agent.name == "pqn", PQNLoop),
    (lambda config: True, EnvLoop),
]
