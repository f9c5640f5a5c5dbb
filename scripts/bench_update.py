"""Time of one DQN gradient step on each update path (agent.compile, agent.precision), against the bare arithmetic.

Each row builds an rlkit agent and times ``agent.update`` on replay-shaped batches; rows alternate for ``--rounds``
rounds and the table shows the median per round. The "arithmetic" row is the update's floating-point work
(counted by ``torch.utils.flop_counter`` on one eager update: target forward, online forward, backward) divided by
the GEMM rate measured on this machine in the same run (a 1024^3 matrix product, same threads and dtype): the time
the update would take if every multiply-add ran at the machine's measured peak, with no overhead at all.

    python scripts/bench_update.py                    # CartPole MLP (RL-Zoo: 4-256-256-2, batch 64) and Nature CNN
    python scripts/bench_update.py --only mlp --rounds 5
    python scripts/bench_update.py --only cnn --allocator system   # glibc's defaults instead of a run's retain

``--allocator`` is set once for the whole process (it is process-wide): ``retain`` (default) is what a training run
applies at its start (rlkit/allocator.py), ``system`` leaves glibc's defaults; compare the two in separate runs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arithmetic import flops_of, gemm_rate  # noqa: E402

from rlkit.agents.registry import build_agent  # noqa: E402
from rlkit.allocator import retain_freed_memory  # noqa: E402
from rlkit.config import load_config  # noqa: E402
from rlkit.replay import Batch  # noqa: E402

CASES = {
    # name: (obs shape, obs dtype, actions, batch, config overrides)
    "mlp": ((4,), "float32", 2, 64, ["agent.net.torso=mlp", "agent.net.hidden=[256, 256]", "agent.lr=2.3e-3"]),
    "cnn": ((4, 84, 84), "uint8", 6, 32, ["agent.net.torso=nature_cnn", "agent.lr=1e-4"]),
}
PATHS = {
    "mlp": [("eager (autograd)", ["agent.compile=off"]), ("fused", ["agent.compile=fused"]),
            ("inductor (torch.compile)", ["agent.compile=inductor"])],
    "cnn": [("eager fp32", ["agent.compile=off", "agent.precision=fp32"]),
            ("eager bf16", ["agent.compile=off", "agent.precision=bf16"]),
            ("inductor fp32", ["agent.compile=inductor", "agent.precision=fp32"])],
}


def batches(shape, dtype, actions, size, count=16, seed=0) -> list[Batch]:
    rng = np.random.default_rng(seed)

    def obs():
        if dtype == "uint8":
            return rng.integers(0, 256, size=(size, *shape), dtype=np.uint8)
        return rng.normal(size=(size, *shape)).astype(np.float32)

    return [Batch(obs(), rng.integers(actions, size=size), rng.normal(size=size).astype(np.float32),
                  np.full(size, 0.99, np.float32), obs(), np.arange(size), np.ones(size, np.float32))
            for _ in range(count)]


def make_agent(case: str, overrides: list[str]):
    shape, dtype, actions, size, base = CASES[case]
    config = load_config(None, [*base, *overrides, f"replay.batch_size={size}", "device=cpu"])
    return build_agent(config, shape, dtype, actions, torch.device("cpu"))


def seconds_per_update(agent, data, updates: int) -> tuple[float, float]:
    """(seconds, minor page faults) per update: a fault is a fresh 4 KB page the process writes for the first time,
    which is what ``--allocator retain`` is for (rlkit/allocator.py)."""
    for batch in data[:3]:  # warm-up (and compilation for the inductor path)
        agent.update(batch)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started = time.perf_counter()
    for index in range(updates):
        agent.update(data[index % len(data)])
    seconds = (time.perf_counter() - started) / updates
    return seconds, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / updates


def update_flops(case: str) -> int:
    agent = make_agent(case, ["agent.compile=off", "agent.precision=fp32"])
    batch = batches(*CASES[case][:4], count=1)[0]
    return flops_of(lambda: agent.update(batch))


def bench(case: str, rounds: int, updates: int, allocator: str) -> None:
    data = batches(*CASES[case][:4])
    rows: dict[str, list[float]] = {}
    faults: dict[str, list[float]] = {}
    agents = {}
    for label, overrides in PATHS[case]:
        try:
            agents[label] = make_agent(case, overrides)
        except Exception as error:  # a path this machine or network cannot run: say so in the table
            print(f"{case}: {label} skipped: {error}", file=sys.stderr)
    for _ in range(rounds):
        for label, agent in agents.items():
            seconds, faulted = seconds_per_update(agent, data, updates)
            rows.setdefault(label, []).append(seconds)
            faults.setdefault(label, []).append(faulted)
        print(f"{case}: round done", file=sys.stderr, flush=True)
    flops = update_flops(case)
    peak = {"fp32": gemm_rate(torch.float32), "bf16": gemm_rate(torch.bfloat16)}
    shape, _, actions, size, base = CASES[case]
    print(f"\n{case}: obs {shape}, {actions} actions, batch {size}, {' '.join(base)}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, allocator {allocator}; median of {rounds} alternating rounds of "
          f"{updates} updates\n")
    print(f"update work: {flops / 1e6:.1f} MFLOP; measured GEMM peak: fp32 {peak['fp32'] / 1e9:.0f} GFLOP/s, "
          f"bf16 {peak['bf16'] / 1e9:.0f} GFLOP/s\n")
    eager = statistics.median(next(iter(rows.values())))
    print("| path | ms per update | speed vs first row | time vs fp32 arithmetic | page faults per update |")
    print("|---|---|---|---|---|")
    floor = flops / peak["fp32"]
    for label, times in rows.items():
        median = statistics.median(times)
        print(f"| {label} | {median * 1e3:.3f} | {eager / median:.2f}x | {median / floor:.2f}x | "
              f"{statistics.median(faults[label]):,.0f} |")
    print(f"| arithmetic at the fp32 GEMM peak | {floor * 1e3:.3f} | {eager / floor:.2f}x | 1.00x | — |")
    print(f"| arithmetic at the bf16 GEMM peak | {flops / peak['bf16'] * 1e3:.3f} | "
          f"{eager / (flops / peak['bf16']):.2f}x | {peak['fp32'] / peak['bf16']:.2f}x | — |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(CASES), help="one network instead of all")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=300, help="updates per row per round (CNN: a tenth)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--allocator", choices=["retain", "system"], default="retain",
                        help="the C allocator's handling of freed memory, as config.allocator (default: retain)")
    args = parser.parse_args()
    retain_freed_memory(args.allocator)
    if args.threads:
        torch.set_num_threads(args.threads)
    for case in [args.only] if args.only else list(CASES):
        bench(case, args.rounds, args.updates if case == "mlp" else max(args.updates // 10, 5), args.allocator)


if __name__ == "__main__":
    main()
