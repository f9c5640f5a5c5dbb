"""Checkpoints: atomic writes, no code execution on load, clear errors for damaged or foreign files."""

import errno
import os
import random

import numpy as np
import pytest
import torch

from rlkit.training.checkpoint import (capture_rng_states, load_checkpoint, restore_rng_states, save_checkpoint)
from rlkit.errors import CheckpointError, RunDirError
from rlkit.training.evaluate import agent_from_checkpoint
from rlkit.run import train

from helpers import fast_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "cartpole"
    result = train(fast_config(run_dir), progress=False)
    return result.checkpoint


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    planted = tmp_path / "planted.pt"
    torch.save({"format": "rlkit-checkpoint", "version": 1, "config": _Payload(marker)}, planted)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(planted)
    assert not marker.exists()


def test_corrupt_truncated_and_foreign_files(tmp_path, trained):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(2048))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(garbage)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(trained.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an rlkit checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_other_architecture_is_a_clear_error(trained):
    payload = load_checkpoint(trained)
    payload["config"]["agent"]["net"]["hidden"] = [64, 64]
    with pytest.raises(CheckpointError, match="does not match the architecture"):
        agent_from_checkpoint(payload)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    save_checkpoint(path, {"config": {}, "spaces": {}, "agent": {"w": torch.ones(2)}})

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(RunDirError, match="disk full"):
        save_checkpoint(path, {"config": {}, "spaces": {}, "agent": {"w": torch.zeros(2)}})
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["agent"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]


def test_rng_states_round_trip():
    states = capture_rng_states()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_states(states)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_rng_states_include_cuda_when_present(monkeypatch):
    import torch

    from rlkit.training.checkpoint import capture_rng_states, restore_rng_states

    saved = [torch.arange(4, dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: saved)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.append(states))
    states = capture_rng_states()
    assert torch.equal(states["cuda"][0], saved[0])
    restore_rng_states(states)
    assert len(restored) == 1 and torch.equal(restored[0][0], saved[0])
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # another machine: CPU streams only
    restore_rng_states(states)
    assert len(restored) == 1
