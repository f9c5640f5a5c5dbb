"""Learning check for agent.precision: the same CNN agent trained in fp32 and in bf16, curves at equal env steps.

Every run is configs/minigrid_dqn.yaml (Double DQN, 3-step returns, a small CNN on MiniGrid's 7x7x3 view plus the
one-hot direction, 4 envs) on MiniGrid-DoorKey-5x5-v0, without the early stop, with a greedy evaluation (10
episodes) every ``--eval-every`` steps; only ``agent.precision`` differs. bf16 needs a CPU with AVX512-BF16/AMX
(or a CUDA device); elsewhere the bf16 runs are refused by the config check. Writes ``--out``/precision_study.md
(greedy return at each evaluation, mean ± std over seeds, per precision, and the largest gap between the two
means against the seeds' spread) and precision_study.png.

    python scripts/precision_study.py --seeds 3 --jobs 2

Resumable: a finished run (checkpoints/final.pt and study.json) is reused, an unfinished one started again. Runs
execute in ``--jobs`` worker processes with one torch thread each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.config import load_config  # noqa: E402
from rlkit.plot import plot_runs, read_curve  # noqa: E402
from rlkit.run import train  # noqa: E402

BASE = "configs/minigrid_dqn.yaml"
ENV = "minigrid:MiniGrid-DoorKey-5x5-v0"
PRECISIONS = ("fp32", "bf16")


def run_one(precision: str, seed: int, steps: int, eval_every: int, workdir: str) -> tuple[str, int, str, float]:
    """Train one (precision, seed), or reuse it; returns its run directory and training seconds."""
    run_dir = Path(workdir) / f"{precision}-seed{seed}"
    record = run_dir / "study.json"
    if (run_dir / "checkpoints" / "final.pt").exists() and record.exists():
        return precision, seed, str(run_dir), float(json.loads(record.read_text())["seconds"])
    if run_dir.exists():  # an unfinished run is started again
        shutil.rmtree(run_dir)
    overrides = [f"env.id={ENV}", f"agent.precision={precision}", f"train.total_steps={steps}",
                 f"train.eval_every={eval_every}", "train.target_return=null", "train.checkpoint_every=0",
                 f"seed={seed}", f"run_dir={run_dir}", "threads=1"]
    result = train(load_config(ROOT / BASE, overrides), progress=False)
    record.write_text(json.dumps({"step": result.steps, "seconds": result.seconds}))  # stamped with its step
    return precision, seed, str(run_dir), result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--workdir", default="runs/precision_study")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    jobs = [(precision, seed, args.steps, args.eval_every, args.workdir)
            for seed in range(args.seeds) for precision in PRECISIONS]
    runs: dict[str, list[tuple[str, float]]] = {}
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for done, (precision, seed, run_dir, seconds) in enumerate(pool.map(run_one, *zip(*jobs)), start=1):
            runs.setdefault(precision, []).append((run_dir, seconds))
            print(f"[{done}/{len(jobs)}] {precision} seed {seed}: {seconds:.0f} s "
                  f"({time.perf_counter() - started:.0f} s in all)", file=sys.stderr, flush=True)

    curves = {p: [read_curve(run_dir) for run_dir, _ in runs[p]] for p in PRECISIONS}
    steps = curves["fp32"][0][0]
    values = {p: np.stack([v for _, v in curves[p]]) for p in PRECISIONS}  # (seeds, evaluations)
    lines = [f"{ENV}, {args.steps:,} env steps, greedy evaluation (10 episodes) every {args.eval_every:,}; "
             f"{args.seeds} seeds per precision; mean ± std over seeds.", "",
             "| env steps | fp32 | bf16 | bf16 − fp32 |", "|---|---|---|---|"]
    for index, step in enumerate(steps):
        f, b = values["fp32"][:, index], values["bf16"][:, index]
        lines.append(f"| {int(step):,} | {f.mean():.2f} ± {f.std():.2f} | {b.mean():.2f} ± {b.std():.2f} | "
                     f"{b.mean() - f.mean():+.2f} |")
    gaps = np.abs(values["bf16"].mean(0) - values["fp32"].mean(0))
    spread = np.maximum(values["bf16"].std(0), values["fp32"].std(0))
    seconds = {p: np.mean([s for _, s in runs[p]]) for p in PRECISIONS}
    lines += ["", f"Largest gap between the means: {gaps.max():.2f} at {int(steps[gaps.argmax()]):,} steps "
              f"(the larger seed std there: {spread[gaps.argmax()]:.2f}); evaluations where the gap exceeds the "
              f"larger std: {int((gaps > spread).sum())} of {len(steps)}. Seconds per run: fp32 "
              f"{seconds['fp32']:.0f}, bf16 {seconds['bf16']:.0f} ({args.jobs} runs at once, 1 thread each)."]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = "\n".join(lines)
    (out / "precision_study.md").write_text(table + "\n")
    plot_runs([run_dir for p in PRECISIONS for run_dir, _ in runs[p]], out / "precision_study.png",
              title=f"fp32 vs bf16 on {ENV.split(':')[-1]}")
    print(table)


if __name__ == "__main__":
    main()
