"""Ape-X throughput on Ray: env steps/s collected and learner updates/s with 1 and 2 actors, in one run.

Rows, all on configs/cartpole_apex.yaml (and MinAtar Breakout with ``--minatar``):
  collection, learner idle   learning_starts beyond the budget: actors only collect (scaling of collection)
  training                   the learner keeps the config's replay ratio while the actors collect
  single process             rlkit train on the same config without actors (the reference for updates/s)

    python scripts/bench_distributed.py                 # CartPole, 20k env steps per run
    python scripts/bench_distributed.py --minatar       # also MinAtar Breakout

  plain processes            the same ActorRole.collect loop in 1 and 2 plain processes, no Ray and no learner:
                             how far this machine scales the actors' own work (the ceiling for the first row)

Targets (issue 7): with the learner idle, 2 actors collect >= 1.6x what 1 actor does on 2 cores; with the
learner running, its updates/s stays >= 0.8x single-process training's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.config import load_config  # noqa: E402
from rlkit.trainer import train  # noqa: E402

TASKS = {
    "CartPole-v1": ["env.id=CartPole-v1"],
    "MinAtar/Breakout-v1": ["env.id=MinAtar/Breakout-v1", "agent.lr=0.00025", "agent.target_period=1000",
                            "train.train_freq=2", "train.gradient_steps=1", "replay.batch_size=32"],
}


def run(task: str, actors: int, steps: int, learn: bool, workdir: Path) -> dict:
    overrides = [*TASKS[task], f"train.total_steps={steps}", "train.eval_every=0", "train.checkpoint_every=0",
                 "train.eval_episodes=1", "train.log_every=1000", f"run_dir={workdir}", "threads=1",
                 f"distributed.num_actors={actors}", "distributed.num_cpus=2"]
    if not learn:
        overrides.append(f"train.learning_starts={10 * steps}")
    result = train(load_config(ROOT / "configs" / "cartpole_apex.yaml", overrides), progress=False)
    collect_seconds = result.warmup_seconds
    train_seconds = result.seconds - result.eval_seconds - result.warmup_seconds
    return {"collect_sps": result.warmup_steps / max(collect_seconds, 1e-9),
            "train_sps": (result.steps - result.warmup_steps) / max(train_seconds, 1e-9),
            "ups": result.updates / max(train_seconds, 1e-9), "updates": result.updates}


def _plain_actor(task: str, index: int, seconds: float, results) -> None:
    """One ActorRole collecting chunks for ``seconds`` in this (plain) process; puts its steps/s on ``results``."""
    import time

    from rlkit.agents.registry import resolve_preset
    from rlkit.config import config_to_dict
    from rlkit.distributed.roles import ActorRole

    config = resolve_preset(load_config(ROOT / "configs" / "cartpole_apex.yaml",
                                        [*TASKS[task], "threads=1", "distributed.num_actors=2"]))
    actor, chunk_steps = ActorRole(config_to_dict(config), index, 2), config.distributed.chunk_steps
    actor.collect(chunk_steps)  # warm up (first forward, env reset) before the clock
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        steps += actor.collect(chunk_steps).env_steps
    results.put(steps / (time.perf_counter() - started))
    actor.close()


def plain_collection(task: str, processes: int, seconds: float = 8.0) -> float:
    """Total steps/s of ``processes`` ActorRole loops in plain processes started together (no Ray, no driver)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_plain_actor, args=(task, i, seconds, results)) for i in range(processes)]
    for worker in workers:
        worker.start()
    total = sum(results.get() for _ in workers)
    for worker in workers:
        worker.join()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per run")
    parser.add_argument("--minatar", action="store_true", help="also measure MinAtar Breakout")
    args = parser.parse_args()
    tasks = ["CartPole-v1"] + (["MinAtar/Breakout-v1"] if args.minatar else [])
    print("| task | run | collection steps/s (learner idle) | training env steps/s | learner updates/s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            rows = {}
            for actors in (1, 2):
                idle = run(task, actors, args.steps, False, Path(tmp) / f"{task}-idle-{actors}".replace("/", "_"))
                busy = run(task, actors, args.steps, True, Path(tmp) / f"{task}-busy-{actors}".replace("/", "_"))
                rows[actors] = (idle, busy)
            single = run(task, 0, args.steps, True, Path(tmp) / f"{task}-single".replace("/", "_"))
            for actors, (idle, busy) in rows.items():
                scale = idle["collect_sps"] / rows[1][0]["collect_sps"]
                print(f"| {task} | {actors} actor{'s' if actors > 1 else ''} | {idle['collect_sps']:,.0f} "
                      f"({scale:.2f}x) | {busy['train_sps']:,.0f} | {busy['ups']:,.0f} "
                      f"({busy['ups'] / single['ups']:.2f}x single) |")
            print(f"| {task} | single process | — | {single['train_sps']:,.0f} | {single['ups']:,.0f} (1.00x) |")
            plain = {n: plain_collection(task, n) for n in (1, 2)}
            for n, rate in plain.items():
                print(f"| {task} | {n} plain process{'es' if n > 1 else ''} (no Ray) | {rate:,.0f} "
                      f"({rate / plain[1]:.2f}x) | — | — |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
