"""DQN-family study on MinAtar: DQN, Rainbow, QR-DQN, IQN, Munchausen DQN and PQN at one env-step budget.

Every variant starts from configs/minatar_breakout_dqn.yaml (Double DQN, 3-step returns, [256, 256] MLP on the
10x10xC frames) with the env swapped and the variant's own pieces on top (VARIANTS below); PQN uses purejaxql's
MinAtar settings (128 envs x 32 steps, 2 epochs x 32 minibatches, lr 5e-4, lambda 0.65, epsilon 1 -> 0.05 over
10%) with a LayerNorm MLP. Writes, under --out (default docs/): family_study.md (final greedy return and AUC, mean
+- std over seeds, and the wall-clock per run) and one learning-curve PNG per game.

    python scripts/family_study.py --seeds 3 --jobs 2                  # the whole study (about 6 CPU-hours)
    python scripts/family_study.py --games Breakout --seeds 1 --steps 20000   # a quick look

The study is resumable: a finished run (checkpoints/final.pt) is reused, an unfinished one started again. Runs
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
from rlkit.plot import area_under_curve, plot_runs, read_curve  # noqa: E402
from rlkit.run import train  # noqa: E402

BASE = "configs/minatar_breakout_dqn.yaml"
VARIANTS = {
    "dqn": [],
    # Rainbow's components with Hessel et al.'s 51 atoms, PER alpha 0.5 and epsilon 0 (the noise explores)
    "rainbow": ["agent.name=rainbow", "agent.critic.type=c51", "agent.critic.v_min=-10", "agent.critic.v_max=100",
                "replay.alpha=0.5", "exploration.start=0", "exploration.end=0"],
    "qr": ["agent.name=dqn", "agent.critic.type=qr", "agent.critic.quantiles=50"],
    "iqn": ["agent.name=dqn", "agent.critic.type=iqn", "agent.critic.tau_samples=8",
            "agent.critic.tau_prime_samples=8", "agent.critic.act_samples=32"],
    "munchausen": ["agent.name=dqn", "agent.munchausen={}"],
    "pqn": ["agent.name=pqn", "agent.n_step=1", "env.num_envs=128", "pqn.rollout_steps=32", "pqn.epochs=2",
            "pqn.minibatches=32", "pqn.lam=0.65", "agent.lr=0.0005", "agent.critic.loss=mse",
            "exploration.end=0.05", "exploration.fraction=0.1", "train.eval_every=8192"],
}
GAMES = ("Breakout", "Asterix", "SpaceInvaders", "Freeway", "Seaquest")


def run_one(game: str, variant: str, seed: int, steps: int, workdir: str) -> tuple[str, str, int, str, float]:
    """Train one (game, variant, seed), or reuse it; returns its run directory and its training seconds."""
    run_dir = Path(workdir) / game / f"{variant}-seed{seed}"
    record = run_dir / "study.json"
    if (run_dir / "checkpoints" / "final.pt").exists() and record.exists():
        return game, variant, seed, str(run_dir), float(json.loads(record.read_text())["seconds"])
    if run_dir.exists():  # an unfinished run is started again
        shutil.rmtree(run_dir)
    overrides = [f"env.id=MinAtar/{game}-v1", *VARIANTS[variant], f"train.total_steps={steps}", f"seed={seed}",
                 f"run_dir={run_dir}", "threads=1", "train.checkpoint_every=0"]
    result = train(load_config(ROOT / BASE, overrides), progress=False)
    # beside final.pt, and stamped with the step it belongs to
    record.write_text(json.dumps({"step": result.steps, "seconds": result.seconds}))
    return game, variant, seed, str(run_dir), result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", default="Breakout,Asterix,SpaceInvaders", help=f"comma-separated, of {GAMES}")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variant names")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per run (every variant the same)")
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once")
    parser.add_argument("--workdir", default="runs/family_study", help="where the runs go (reused if present)")
    parser.add_argument("--out", default="docs", help="where the table and plots go")
    args = parser.parse_args()
    games, variants = args.games.split(","), args.variants.split(",")
    for name in games:
        if name not in GAMES:
            parser.error(f"unknown game '{name}'; choose from {', '.join(GAMES)}")
    for name in variants:
        if name not in VARIANTS:
            parser.error(f"unknown variant '{name}'; choose from {', '.join(VARIANTS)}")
    jobs = [(game, variant, seed, args.steps, args.workdir)
            for seed in range(args.seeds) for game in games for variant in variants]
    started = time.perf_counter()
    runs: dict[tuple[str, str], list[tuple[str, float]]] = {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for done, (game, variant, seed, run_dir, seconds) in enumerate(pool.map(run_one, *zip(*jobs)), start=1):
            runs.setdefault((game, variant), []).append((run_dir, seconds))
            print(f"[{done}/{len(jobs)}] {game} {variant} seed {seed}: {seconds:.0f} s "
                  f"({time.perf_counter() - started:.0f} s in all)", file=sys.stderr, flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"DQN-family study on MinAtar: {args.steps:,} env steps per run, {args.seeds} seed(s); final = last "
             "greedy evaluation (10 episodes), AUC = mean evaluation return over training. Mean ± std over seeds; "
             f"seconds = training wall-clock per run ({args.jobs} runs at once on this machine).", "",
             "| game | variant | final greedy return | AUC | seconds per run |", "|---|---|---|---|---|"]
    for game in games:
        for variant in variants:
            cell = runs[(game, variant)]
            curves = [read_curve(run_dir) for run_dir, _ in cell]
            finals = np.array([values[-1] for _, values in curves])
            aucs = np.array([area_under_curve(steps, values) for steps, values in curves])
            seconds = np.array([s for _, s in cell])
            lines.append(f"| {game} | {variant} | {finals.mean():.1f} ± {finals.std():.1f} | "
                         f"{aucs.mean():.1f} ± {aucs.std():.1f} | {seconds.mean():.0f} |")
        plot_runs([run_dir for variant in variants for run_dir, _ in runs[(game, variant)]],
                  out / f"family_study_{game.lower()}.png", title=f"DQN family on MinAtar {game}")
    table = "\n".join(lines)
    (out / "family_study.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
