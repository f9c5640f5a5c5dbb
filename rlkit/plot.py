"""Learning curves from runs' TensorBoard logs: greedy evaluation return vs env steps, mean and spread over seeds.

    rlkit plot runs/hl_gauss-seed0 runs/hl_gauss-seed1 runs/huber-seed0 runs/huber-seed1 --out curves.png

Runs are grouped into one curve by name: a trailing ``seedN`` (``name-seed3``, ``name_seed3`` or ``name/seed3``) is
dropped, so the seeds of one setting share a curve showing their mean and a band of +-1 standard deviation.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from rlkit.errors import RlkitError
from rlkit.outputs import claim_output

TAG = "eval/mean_return"


def read_curve(run_dir: str | Path, tag: str = TAG) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one scalar tag from a run directory's ``tb/`` events; raises RlkitError if absent."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = Path(run_dir)
    log_dir = run_dir / "tb" if (run_dir / "tb").is_dir() else run_dir
    if not log_dir.is_dir():
        raise RlkitError(f"'{run_dir}' is not a run directory (no tb/ with TensorBoard logs)")
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    if tag not in events.Tags().get("scalars", []):
        raise RlkitError(f"run '{run_dir}' has no '{tag}' scalars; was it trained with train.eval_every > 0?")
    scalars = events.Scalars(tag)
    # A resumed run may log a step twice; keep the latest value of each step.
    latest = {event.step: event.value for event in scalars}
    steps = np.array(sorted(latest))
    return steps, np.array([latest[step] for step in steps])


def group_name(run_dir: str | Path) -> str:
    """The curve a run belongs to: its name without a trailing seed marker."""
    path = Path(run_dir)
    if re.fullmatch(r"seed\d+", path.name):
        return path.parent.name
    return re.sub(r"[-_]?seed\d+$", "", path.name) or path.name


def aggregate(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std over seeds at the steps every curve has (evaluations at common steps). -> (steps, mean, std)."""
    common = set(curves[0][0].tolist())
    for steps, _ in curves[1:]:
        common &= set(steps.tolist())
    steps = np.array(sorted(common))
    values = np.stack([np.interp(steps, s, v) for s, v in curves])
    return steps, values.mean(axis=0), values.std(axis=0)


def area_under_curve(steps: np.ndarray, values: np.ndarray) -> float:
    """Mean return over training: the trapezoid area under (steps, values) divided by the step span."""
    if len(steps) < 2:
        return float(values.mean()) if len(values) else float("nan")
    return float(np.trapezoid(values, steps) / (steps[-1] - steps[0]))


def plot_runs(run_dirs: list[str | Path], out: str | Path, title: str | None = None, tag: str = TAG) -> Path:
    """Draw one curve (mean +- std over seeds) per group of runs into ``out`` (PNG); returns the path."""
    if not run_dirs:
        raise RlkitError("rlkit plot needs at least one RUN_DIR")
    groups: dict[str, list] = defaultdict(list)
    for run_dir in run_dirs:
        groups[group_name(run_dir)].append(read_curve(run_dir, tag))
    return plot_curves(groups, out, title)


def plot_curves(groups: dict[str, list[tuple[np.ndarray, np.ndarray]]], out: str | Path,
                title: str | None = None) -> Path:
    """Draw one curve (mean +- std over its (steps, values) curves) per named group into ``out`` (PNG)."""
    if not any(groups.values()):
        raise RlkitError("nothing to plot: no curves given")
    out = claim_output(out, "plot", force=True)  # a plot is redrawn in place; the path must still be writable
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RlkitError("rlkit plot needs matplotlib: pip install 'rlkit[plot]'") from None
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, curves in groups.items():
        if not curves:
            continue
        steps, mean, std = aggregate(curves)
        axes.plot(steps, mean, label=f"{name} (n={len(curves)})")
        axes.fill_between(steps, mean - std, mean + std, alpha=0.2)
    axes.set_xlabel("env steps")
    axes.set_ylabel("greedy evaluation return")
    axes.set_title(title or "learning curves")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out
