"""The physical limit a benchmark row is compared with: an update's floating-point work over this machine's
measured matrix-product rate (shared by bench_update.py and bench_throughput.py)."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def flops_of(fn: Callable[[], object]) -> int:
    """Floating-point operations torch's FLOP counter sees in one call of ``fn`` (matrix products and
    convolutions, forward and backward; elementwise work is not counted, so this is a lower bound)."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def gemm_rate(dtype: torch.dtype = torch.float32, size: int = 1024, repeats: int = 10, samples: int = 3) -> float:
    """Measured FLOP/s of a size^3 matrix product in ``dtype`` with torch's current threads (median of
    ``samples`` timings): the machine's practical peak for dense arithmetic."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    for _ in range(2):
        a @ b
    rates = []
    for _ in range(samples):
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        rates.append(2 * size ** 3 * repeats / (time.perf_counter() - started))
    return statistics.median(rates)
