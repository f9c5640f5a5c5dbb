"""The C allocator's handling of freed memory, so each update's large tensors do not fault in fresh pages.

A CNN update allocates and frees tensors of 1-7 MB every step (a batch of float frames, autocast's bf16 copy of the
3136x512 layer, its gradient). glibc's malloc serves blocks of this size with a fresh ``mmap`` and unmaps them on
free, or trims them off the top of the heap (of the main thread's, and of the arenas it gives torch's worker
threads), so updates keep writing those megabytes into new pages, one page fault per 4 KB. Whether glibc's
defaults do this depends on the heap's history; where they do, the faults are a large share of a bf16 CNN
update's time. ``scripts/bench_throughput.py --atari`` measures the setting in the training loop (its
``allocator=system`` row; docs/bench_throughput_atari.md), ``scripts/bench_update.py`` counts the faults per update.

``retain_freed_memory`` raises glibc's mmap and trim thresholds so freed blocks stay in the heap for the next
update: the process keeps what it has already used (its peak transient memory) instead of giving it back and
faulting it in again. Other C libraries (musl, macOS, Windows) are left as they are.

    retain_freed_memory("retain")   # a run's start (rlkit/training/chores.py), from config.allocator
"""

from __future__ import annotations

import ctypes
import platform
import sys

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc caps the mmap threshold at 32 MiB on 64-bit (HEAP_MAX_SIZE / 2); larger requests (replay storage, search
# tables) keep their own maps, allocated once.
MMAP_THRESHOLD = 32 * 2**20
# Free memory glibc may keep at the heap top before returning it: well above one update's transient tensors.
TRIM_THRESHOLD = 512 * 2**20

_applied = False


def retain_freed_memory(setting: str = "retain") -> bool:
    """Apply ``config.allocator``: 'retain' raises glibc's mmap threshold to 32 MiB and its trim threshold to
    512 MiB (process-wide, once); 'system' leaves the allocator as it is. Returns whether the retaining settings are
    in force: False on a C library other than glibc, or when glibc refuses them."""
    global _applied
    if setting not in ("retain", "system"):
        raise ValueError(f"allocator must be 'retain' or 'system', got {setting!r}")
    if setting == "system" or _applied:
        return _applied
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # mallopt returns 1 on success; setting the thresholds also turns off glibc's own adjustment of them.
    _applied = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD,
                                                                                         TRIM_THRESHOLD))
    return _applied
