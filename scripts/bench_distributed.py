"""Ape-X throughput on Ray: env steps/s collected and learner updates/s with 1 and 2 actors, in one run.

Rows, all on configs/cartpole_apex.yaml (and MinAtar Breakout with ``--minatar``):
  collection, learner idle   learning_starts beyond the budget: actors only collect (scaling of collection)
  training                   the learner keeps the config's replay ratio while the actors collect
  single process             rlkit train on the same config without actors (the reference for updates/s)
  plain processes            the same ActorRole.collect loop in 1 and 2 plain processes, no Ray and no learner:
                             how far this machine scales the actors' own work (the ceiling for the first row)

    python scripts/bench_distributed.py                 # CartPole: 60k env steps per collection run, 20k learning
    python scripts/bench_distributed.py --minatar       # also MinAtar Breakout

The learner-idle and plain-process rows measure 1 then 2 actors back to back ``--repeats`` times (default 3) and
report the median rates and the median of the pairs' 2-vs-1 ratios (each pair's ratio is listed).

Targets (issue 7): with the learner idle, 2 actors collect >= 1.6x what 1 actor does on 2 cores; with the
learner running, its updates/s stays >= 0.8x single-process training's.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.config import load_config  # noqa: E402
from rlkit.run import train  # noqa: E402

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
    # The loop's own seconds: the final evaluation, checkpoint and Ray's shutdown come after it (eval_every=0, so
    # the loop holds no evaluation either).
    collect_seconds = result.warmup_seconds
    train_seconds = result.loop_seconds - result.warmup_seconds
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


def paired_scaling(measure, repeats: int) -> tuple[dict[int, float], list[float]]:
    """``measure(n)`` (steps/s with n actors) for n = 1 then 2, back to back, ``repeats`` times: the median rate of
    each and every pair's 2-vs-1 ratio. This VM's speed drifts by +-20% between minutes; a pair run back to back
    shares the drift, so the scaling is the median of the pairs' ratios, not a ratio of unpaired rates."""
    pairs = [(measure(1), measure(2)) for _ in range(repeats)]
    medians = {n: statistics.median(pair[n - 1] for pair in pairs) for n in (1, 2)}
    return medians, [two / one for one, two in pairs]


def scaling_cell(medians: dict[int, float], ratios: list[float], n: int) -> str:
    if n == 1:
        return f"{medians[1]:,.0f} (1.00x)"
    pairs = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    return f"{medians[2]:,.0f} ({statistics.median(ratios):.2f}x; pairs {pairs})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per learning run")
    parser.add_argument("--collect-steps", type=int, default=60_000,
                        help="env steps per learner-idle run (collection is fast: a few seconds of it is noise)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="learner-idle and plain-process measurements per actor count (medians are reported)")
    parser.add_argument("--minatar", action="store_true", help="also measure MinAtar Breakout")
    args = parser.parse_args()
    tasks = ["CartPole-v1"] + (["MinAtar/Breakout-v1"] if args.minatar else [])
    print("| task | run | collection steps/s (learner idle) | training env steps/s | learner updates/s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            runs = itertools.count()

            def idle(actors: int) -> float:
                workdir = Path(tmp) / f"{task}-idle-{actors}-{next(runs)}".replace("/", "_")
                return run(task, actors, args.collect_steps, False, workdir)["collect_sps"]

            collect, ratios = paired_scaling(idle, args.repeats)
            busy = {n: run(task, n, args.steps, True, Path(tmp) / f"{task}-busy-{n}".replace("/", "_"))
                    for n in (1, 2)}
            single = run(task, 0, args.steps, True, Path(tmp) / f"{task}-single".replace("/", "_"))
            for n in (1, 2):
                print(f"| {task} | {n} actor{'s' if n > 1 else ''} | {scaling_cell(collect, ratios, n)} | "
                      f"{busy[n]['train_sps']:,.0f} | {busy[n]['ups']:,.0f} ({busy[n]['ups'] / single['ups']:.2f}x "
                      "single) |")
            print(f"| {task} | single process | — | {single['train_sps']:,.0f} | {single['ups']:,.0f} (1.00x) |")
            plain, plain_ratios = paired_scaling(lambda n: plain_collection(task, n), args.repeats)
            for n in (1, 2):
                print(f"| {task} | {n} plain process{'es' if n > 1 else ''} (no Ray) | "
                      f"{scaling_cell(plain, plain_ratios, n)} | — | — |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
