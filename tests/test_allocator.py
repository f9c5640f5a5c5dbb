"""The C allocator's handling of freed memory (rlkit/allocator.py): a run's start makes glibc keep freed blocks, so
repeated large tensors stop faulting in fresh pages.

Each check runs in a fresh interpreter: the setting is process-wide, and this test process may already hold it."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

from rlkit.allocator import retain_freed_memory

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                                reason="the retaining settings are glibc's mallopt")

# Nature-CNN DQN updates on replay-shaped batches (fp32: the fault pattern does not need bf16 hardware), printing the
# mean minor page faults per update after a warm-up: each fault is a fresh 4 KB page written for the first time. On
# glibc's defaults, with two torch threads, updates fault in 20-700 pages each on the development VM, varying from run
# to run (bursts of 400-2,500 pages; a bf16 agent alone in its process: 3,200 every update). A retaining heap grows
# now and then: one update in a few dozen faults in a few hundred pages.
FAULTS_PER_UPDATE = textwrap.dedent("""
    import resource, sys
    import numpy as np, torch
    import rlkit.allocator
    from rlkit.agents.registry import build_agent
    from rlkit.config import load_config
    from rlkit.replay import Batch
    from rlkit.training.chores import start_run

    config = load_config(None, ["device=cpu", "threads=2", "agent.net.torso=nature_cnn", "agent.precision=fp32",
                                "agent.compile=off", "replay.batch_size=32", *sys.argv[1:]])
    device = start_run(config)
    torch.set_num_threads(2)  # the faults come with torch's worker threads: glibc gives them arenas it trims
    agent = build_agent(config, (4, 84, 84), "uint8", 6, device)
    rng = np.random.default_rng(0)
    frames = lambda: rng.integers(0, 256, size=(32, 4, 84, 84), dtype=np.uint8)
    batch = Batch(frames(), rng.integers(6, size=32), np.ones(32, np.float32), np.full(32, 0.99, np.float32),
                  frames(), np.arange(32), np.ones(32, np.float32))
    for _ in range(10):  # the heap grows over the first few updates
        agent.update(batch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        agent.update(batch)
    print(rlkit.allocator._applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40)
""")


def faults_per_update(*overrides: str) -> tuple[bool, float]:
    done = subprocess.run([sys.executable, "-c", FAULTS_PER_UPDATE, *overrides], capture_output=True, text=True,
                          timeout=300, check=True)
    applied, faults = done.stdout.split()[-2:]
    return applied == "True", float(faults)


@glibc_only
def test_a_run_start_keeps_freed_blocks_for_reuse():
    # allocator=retain (the default) from start_run: the update's blocks come back from the heap.
    applied, faults = faults_per_update()
    assert applied and faults < 100, faults


@glibc_only
def test_allocator_system_leaves_glibc_defaults():
    applied, _ = faults_per_update("allocator=system")
    assert not applied


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="'retain' or 'system'"):
        retain_freed_memory("keep")


def test_config_rejects_an_unknown_allocator():
    from rlkit.config import load_config
    from rlkit.errors import ConfigError

    with pytest.raises(ConfigError, match="allocator"):
        load_config(None, ["allocator=jemalloc"])
