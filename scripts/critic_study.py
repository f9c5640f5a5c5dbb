"""Critic study: regression (Huber, MSE) vs classification (HL-Gauss, two-hot, C51) value losses under one DQN.

Trains every critic with otherwise identical DQN settings on three tasks, several seeds each, at fixed budgets:
  cartpole        CartPole-v1                       (configs/cartpole_hlgauss.yaml with the critic swapped)
  noisy_cartpole  rlkit/NoisyCartPole-v1, reward + normal(0, 1) on every step
  minatar         MinAtar/Breakout-v1               (configs/minatar_breakout_dqn.yaml with the critic swapped)
and writes, under --out (default docs/): critic_study.md (final greedy return mean ± std over seeds and the area
under the learning curve, i.e. the mean evaluation return over training) and one learning-curve PNG per task.

    python scripts/critic_study.py --seeds 3 --jobs 2            # the README's table (about 40 minutes)
    python scripts/critic_study.py --tasks cartpole --seeds 1     # a quick look

Runs execute in ``--jobs`` worker processes, each with one torch thread, so two jobs fill two cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.config import load_config  # noqa: E402
from rlkit.plot import area_under_curve, plot_runs, read_curve  # noqa: E402
from rlkit.run import train  # noqa: E402

CRITICS = {
    "huber": ["agent.critic.type=scalar", "agent.critic.loss=huber"],
    "mse": ["agent.critic.type=scalar", "agent.critic.loss=mse"],
    "hl_gauss": ["agent.critic.type=hl_gauss"],
    "two_hot": ["agent.critic.type=two_hot"],
    "c51": ["agent.critic.type=c51"],
}
TASKS = {
    "cartpole": ("configs/cartpole_hlgauss.yaml", ["env.id=CartPole-v1"]),
    "noisy_cartpole": ("configs/cartpole_hlgauss.yaml", ["env.id=rlkit/NoisyCartPole-v1"]),
    "minatar": ("configs/minatar_breakout_hlgauss.yaml", []),
}


def run_one(task: str, critic: str, seed: int, steps: int | None, workdir: str) -> tuple[str, str, int, str]:
    """Train one (task, critic, seed); returns its run directory."""
    preset, task_overrides = TASKS[task]
    run_dir = Path(workdir) / task / f"{critic}-seed{seed}"
    overrides = [*task_overrides, *CRITICS[critic], f"seed={seed}", f"run_dir={run_dir}", "threads=1",
                 "train.checkpoint_every=0"]
    if steps:
        overrides.append(f"train.total_steps={steps}")
    if (run_dir / "checkpoints" / "final.pt").exists():  # a finished run from an interrupted study is reused
        return task, critic, seed, str(run_dir)
    if run_dir.exists():  # an unfinished one is started again
        import shutil

        shutil.rmtree(run_dir)
    train(load_config(ROOT / preset, overrides), progress=False)
    return task, critic, seed, str(run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="cartpole,noisy_cartpole,minatar", help="comma-separated task names")
    parser.add_argument("--critics", default=",".join(CRITICS), help="comma-separated critic names")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once")
    parser.add_argument("--cartpole-steps", type=int, default=None, help="override the CartPole budget (50k)")
    parser.add_argument("--minatar-steps", type=int, default=None, help="override the MinAtar budget (150k)")
    parser.add_argument("--workdir", default="runs/critic_study", help="where the runs go (reused if present)")
    parser.add_argument("--out", default="docs", help="where the table and plots go")
    args = parser.parse_args()
    tasks, critics = args.tasks.split(","), args.critics.split(",")
    for name in tasks:
        if name not in TASKS:
            parser.error(f"unknown task '{name}'; choose from {', '.join(TASKS)}")
    for name in critics:
        if name not in CRITICS:
            parser.error(f"unknown critic '{name}'; choose from {', '.join(CRITICS)}")

    jobs = [(task, critic, seed, args.minatar_steps if task == "minatar" else args.cartpole_steps, args.workdir)
            for task in tasks for seed in range(args.seeds) for critic in critics]
    started = time.perf_counter()
    runs: dict[tuple[str, str], list[str]] = {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for done, (task, critic, seed, run_dir) in enumerate(pool.map(run_one, *zip(*jobs)), start=1):
            runs.setdefault((task, critic), []).append(run_dir)
            print(f"[{done}/{len(jobs)}] {task} {critic} seed {seed} ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr, flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"Critic study: {args.seeds} seeds per cell; final = last greedy evaluation (10 episodes), AUC = mean "
             "evaluation return over training (area under the learning curve / steps). Mean ± std over seeds.", "",
             "| task | critic | final greedy return | AUC |", "|---|---|---|---|"]
    for task in tasks:
        for critic in critics:
            curves = [read_curve(run_dir) for run_dir in runs[(task, critic)]]
            finals = np.array([values[-1] for _, values in curves])
            aucs = np.array([area_under_curve(steps, values) for steps, values in curves])
            lines.append(f"| {task} | {critic} | {finals.mean():.1f} ± {finals.std():.1f} | "
                         f"{aucs.mean():.1f} ± {aucs.std():.1f} |")
        task_runs = [run_dir for critic in critics for run_dir in runs[(task, critic)]]
        plot_runs(task_runs, out / f"critic_study_{task}.png", title=f"critic study: {task}")
    table = "\n".join(lines)
    (out / "critic_study.md").write_text(table + "\n")
    print(table)
    print(f"\nplots: {', '.join(str(out / f'critic_study_{task}.png') for task in tasks)}")


if __name__ == "__main__":
    main()
