"""Threads benchmark: DQN update time at 1 thread vs all cores, across network sizes and batch sizes.

Prints a table of multiply-adds per update batch (parameters x rows, what ``threads: auto`` looks at), the update
time with 1 and with N threads (medians of alternating rounds) and their ratio; rlkit/threads.py's
PARALLEL_WORK is the work above which N threads won here.

    python scripts/bench_threads.py                 # about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.agents.registry import build_agent  # noqa: E402
from rlkit.config import load_config  # noqa: E402
from rlkit.replay import Batch  # noqa: E402

CASES = [  # (hidden widths, batch size)
    ([64, 64], 32), ([256, 256], 64), ([256, 256], 256), ([512, 512], 512), ([1024, 1024], 512),
    ([2048, 2048], 1024), ([4096, 4096], 1024),
]


def update_ms(hidden: list[int], batch_size: int, threads: int, updates: int) -> float:
    torch.set_num_threads(threads)
    config = load_config(None, [f"agent.net.hidden={hidden}", "agent.name=double_dqn"])
    agent = build_agent(config, (16,), "float32", 4, torch.device("cpu"))
    rng = np.random.default_rng(0)
    batch = Batch(obs=rng.normal(size=(batch_size, 16)).astype(np.float32), actions=rng.integers(4, size=batch_size),
                  returns=rng.normal(size=batch_size).astype(np.float32),
                  discounts=np.full(batch_size, 0.99, np.float32),
                  next_obs=rng.normal(size=(batch_size, 16)).astype(np.float32), indices=np.arange(batch_size),
                  weights=np.ones(batch_size, np.float32))
    for _ in range(5):
        agent.update(batch)
    started = time.perf_counter()
    for _ in range(updates):
        agent.update(batch)
    return (time.perf_counter() - started) / updates * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"| hidden | batch | work (params x 2 batch) | 1 thread (ms) | {cores} threads (ms) | speed-up |")
    print("|---|---|---|---|---|---|")
    for hidden, batch_size in CASES:
        params = sum(p.numel() for p in build_agent(load_config(None, [f"agent.net.hidden={hidden}"]), (16,),
                                                      "float32", 4, torch.device("cpu")).online.parameters())
        updates = max(5, int(2e9 / (params * batch_size)))
        one, many = [], []
        for _ in range(args.rounds):  # alternate, so drift hits both columns alike
            one.append(update_ms(hidden, batch_size, 1, updates))
            many.append(update_ms(hidden, batch_size, cores, updates))
        one_ms, many_ms = float(np.median(one)), float(np.median(many))
        print(f"| {hidden} | {batch_size} | {params * 2 * batch_size:,.0f} | {one_ms:.3f} | {many_ms:.3f} | "
              f"{one_ms / many_ms:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
