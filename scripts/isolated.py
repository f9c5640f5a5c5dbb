"""Benchmark runs in fresh processes, so process-wide settings of one run never reach the next.

rlkit sets torch's thread count and the C allocator's handling of freed memory (``allocator: retain``) at a run's
start, for the whole process; a peer library benchmarked after it in the same process would inherit both.

    row = in_own_process(run_sb3, env_id, seed, steps)   # a module-level function and picklable arguments
"""

from __future__ import annotations

import multiprocessing


def in_own_process(function, *args):
    """``function(*args)`` in a freshly spawned interpreter, its return value pickled back: the run starts from
    torch's defaults and the C allocator's, whatever an earlier run in this benchmark set process-wide."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)
