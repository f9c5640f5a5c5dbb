"""How many CPU threads torch gets: ``threads: auto`` decides from the work per update and the free cores.

Small networks lose time to intra-op threads: a CartPole MLP update is a few hundred microsecond-sized kernels, and
handing each to a second thread costs more than it saves; on a busy machine extra threads also queue behind other
processes (puzzle training ran 5-10x slower with torch's default than with one thread on a loaded 2-core VM).
Large batches of large layers (cube cost-to-go networks, Atari CNNs) do gain from the cores that are free.
``scripts/bench_threads.py`` measures the crossover that ``PARALLEL_WORK`` encodes.
"""

from __future__ import annotations

import os

import torch

# Multiply-adds per update batch (parameters x rows) from which a second thread paid off on an idle 2-core VM
# (docs/bench_threads.md: none at 3.5e5, 1.13x at 9.1e6, 1.4-1.8x from 3.6e7 up).
PARALLEL_WORK = 5_000_000


def free_cores() -> int:
    """Cores this process may run on minus the 1-minute load average (rounded), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, int(round(cores - busy))))


def choose_threads(setting: int | str, work: float) -> int:
    """Threads for a config's ``threads`` value: a positive int as given; 0 torch's own default (one per core);
    'auto' one thread below ``PARALLEL_WORK`` multiply-adds per update batch (``work``, about parameters x rows),
    else the free cores."""
    if setting == "auto":
        return 1 if work < PARALLEL_WORK else free_cores()
    if int(setting) > 0:
        return int(setting)
    return torch.get_num_threads()


def apply_threads(setting: int | str, network: torch.nn.Module, rows: int) -> int:
    """Set torch's intra-op threads for training ``network`` on batches of ``rows`` rows; returns the count."""
    work = sum(parameter.numel() for parameter in network.parameters()) * rows
    threads = choose_threads(setting, work)
    if setting != 0:
        torch.set_num_threads(threads)
    return threads
