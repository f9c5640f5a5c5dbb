"""DQN-family study on MinAtar: DQN, Rainbow, QR-DQN, IQN, Munchausen DQN and PQN at one env-step budget.

Every variant starts from configs/minatar_breakout_dqn.yaml (Double DQN, 3-step returns, [256, 256] MLP on the
10x10xC frames) with the env swapped and the variant's own pieces on top (VARIANTS below); PQN uses purejaxql's
MinAtar settings (128 envs x 32 steps, 2 epochs x 32 minibatches, lr 5e-4, lambda 0.65, epsilon 1 -> 0.05 over
10%) with a LayerNorm MLP. Writes, under --out (default docs/): family_study.md (final greedy return and AUC, mean
+- std over seeds, and the wall-clock per run) and one learning-curve PNG per game.

    python scripts/family_study.py --seeds 3 --jobs 2                  # the whole study (about 6 CPU-hours)
    python scripts/family_study.py --games Breakout --seeds 1 --steps 20000 \
        --records runs/quick/records --workdir runs/quick --out runs/quick      # a quick look at another budget

The study is resumable across machines and sessions: each finished run leaves a small record under --records
(default docs/family_study_runs/<game>/<variant>-seed<k>.json: its evaluation curve, training seconds, env-step
budget and the commit it ran at), which is committed with the docs; a run with a record at the same budget is not
trained again, a finished run directory without one gets one, an unfinished run is started again. The table and
plots are drawn from the records. Records and runs are named by game, variant and seed, so a study at another
``--steps`` needs its own ``--records`` and ``--workdir`` (and ``--out``): the script refuses (exit 2) rather than
overwrite a record or reuse a run of another budget. Runs execute in ``--jobs`` worker processes with one torch
thread each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.config import load_config  # noqa: E402
from rlkit.plot import area_under_curve, plot_curves, read_curve  # noqa: E402
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


def commit() -> str:
    """The commit the study runs at (with '+dirty' for uncommitted changes), for the records."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def record_path(records: str, game: str, variant: str, seed: int) -> Path:
    return Path(records) / game / f"{variant}-seed{seed}.json"


def read_record(path: Path, steps: int) -> dict | None:
    """A finished run's record if it was trained at this env-step budget, else None."""
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return record if record.get("budget") == steps else None


def run_dir_of(workdir: str, game: str, variant: str, seed: int) -> Path:
    return Path(workdir) / game / f"{variant}-seed{seed}"


def budget_clash(game: str, variant: str, seed: int, steps: int, workdir: str, records: str) -> str | None:
    """Why this run's record or run directory belongs to a study at another env-step budget, or None.

    Both are named by game, variant and seed only, so a study at another ``--steps`` pointed at the same folders
    would overwrite the record or pass the other budget's run off as its own."""
    path = record_path(records, game, variant, seed)
    if path.exists():
        budget = json.loads(path.read_text()).get("budget")
        if budget != steps:
            return (f"{path} is a run of {budget:,} env steps, not --steps {steps:,}; pass another --records "
                    "(and --workdir) for a study at another budget")
    config = run_dir_of(workdir, game, variant, seed) / "config.yaml"
    if config.exists():
        budget = (yaml.safe_load(config.read_text()) or {}).get("train", {}).get("total_steps")
        if budget != steps:
            return (f"{config.parent} is a run of {budget:,} env steps, not --steps {steps:,}; pass another "
                    "--workdir for a study at another budget")
    return None


def run_one(game: str, variant: str, seed: int, steps: int, workdir: str, records: str, at: str) -> dict:
    """Train one (game, variant, seed), or reuse its record or its finished run directory; returns the record."""
    path = record_path(records, game, variant, seed)
    record = read_record(path, steps)
    if record is not None:
        return record
    run_dir = run_dir_of(workdir, game, variant, seed)
    done = run_dir / "study.json"
    if (run_dir / "checkpoints" / "final.pt").exists() and done.exists():
        finished = json.loads(done.read_text())
    else:
        if run_dir.exists():  # an unfinished run is started again
            shutil.rmtree(run_dir)
        overrides = [f"env.id=MinAtar/{game}-v1", *VARIANTS[variant], f"train.total_steps={steps}",
                     f"seed={seed}", f"run_dir={run_dir}", "threads=1", "train.checkpoint_every=0"]
        result = train(load_config(ROOT / BASE, overrides), progress=False)
        finished = {"step": result.steps, "seconds": result.seconds, "commit": at}
        # beside final.pt, and stamped with the step it belongs to
        done.write_text(json.dumps(finished))
    curve_steps, values = read_curve(run_dir)
    record = {"game": game, "variant": variant, "seed": seed, "budget": steps, "step": finished["step"],
              "seconds": finished["seconds"], "commit": finished.get("commit", at),
              "eval_steps": curve_steps.tolist(), "eval_returns": [round(float(v), 4) for v in values]}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record) + "\n")
    partial.replace(path)  # atomic: a killed study never leaves half a record
    return record


def curve(record: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.array(record["eval_steps"]), np.array(record["eval_returns"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", default="Breakout,Asterix,SpaceInvaders", help=f"comma-separated, of {GAMES}")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variant names")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per run (every variant the same)")
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once")
    parser.add_argument("--workdir", default="runs/family_study", help="where the runs go (reused if present)")
    parser.add_argument("--records", default="docs/family_study_runs",
                        help="where each finished run's record goes (reused if present)")
    parser.add_argument("--out", default="docs", help="where the table and plots go")
    args = parser.parse_args()
    games, variants = args.games.split(","), args.variants.split(",")
    for name in games:
        if name not in GAMES:
            parser.error(f"unknown game '{name}'; choose from {', '.join(GAMES)}")
    for name in variants:
        if name not in VARIANTS:
            parser.error(f"unknown variant '{name}'; choose from {', '.join(VARIANTS)}")
    at = commit()
    jobs = [(game, variant, seed, args.steps, args.workdir, args.records, at)
            for seed in range(args.seeds) for game in games for variant in variants]
    for game, variant, seed, *_ in jobs:
        clash = budget_clash(game, variant, seed, args.steps, args.workdir, args.records)
        if clash:
            parser.error(clash)
    started = time.perf_counter()
    runs: dict[tuple[str, str], list[dict]] = {}
    # one job runs in this process (no worker to start, and a record's reuse can be tested)
    pool = ProcessPoolExecutor(max_workers=args.jobs) if args.jobs > 1 else None
    with pool or contextlib.nullcontext():
        for done, record in enumerate((pool.map if pool else map)(run_one, *zip(*jobs)), start=1):
            runs.setdefault((record["game"], record["variant"]), []).append(record)
            print(f"[{done}/{len(jobs)}] {record['game']} {record['variant']} seed {record['seed']}: "
                  f"{record['seconds']:.0f} s ({time.perf_counter() - started:.0f} s in all)",
                  file=sys.stderr, flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"DQN-family study on MinAtar: {args.steps:,} env steps per run, {args.seeds} seed(s); final = last "
             "greedy evaluation (10 episodes), AUC = mean evaluation return over training. Mean ± std over seeds; "
             "seconds = training wall-clock per run (two runs at once on the 2-core machine unless stated); commits = "
             "where the runs were trained (the records under " f"{args.records}).", "",
             "| game | variant | seeds | final greedy return | AUC | seconds per run | commits |",
             "|---|---|---|---|---|---|---|"]
    for game in games:
        for variant in variants:
            cell = runs[(game, variant)]
            curves = [curve(record) for record in cell]
            finals = np.array([values[-1] for _, values in curves])
            aucs = np.array([area_under_curve(steps, values) for steps, values in curves])
            seconds = np.array([record["seconds"] for record in cell])
            commits = ", ".join(sorted({record["commit"] for record in cell}))
            lines.append(f"| {game} | {variant} | {len(cell)} | {finals.mean():.1f} ± {finals.std():.1f} | "
                         f"{aucs.mean():.1f} ± {aucs.std():.1f} | {seconds.mean():.0f} | {commits} |")
        plot_curves({variant: [curve(record) for record in runs[(game, variant)]] for variant in variants},
                    out / f"family_study_{game.lower()}.png", title=f"DQN family on MinAtar {game}")
    table = "\n".join(lines)
    (out / "family_study.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
