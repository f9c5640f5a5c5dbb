"""threads: auto picks one thread for small networks and the free cores for large ones; explicit values win."""

import pytest
import torch

import rlkit.threads as threads
from rlkit.config import load_config
from rlkit.errors import ConfigError
from rlkit.threads import PARALLEL_WORK, apply_threads, choose_threads, free_cores


def test_choose_threads(monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 3)
    assert choose_threads("auto", PARALLEL_WORK - 1) == 1
    assert choose_threads("auto", PARALLEL_WORK) == 3
    assert choose_threads(2, 1) == 2 and choose_threads(2, 10 * PARALLEL_WORK) == 2
    assert choose_threads(0, 1) == torch.get_num_threads()  # torch's own default


def test_free_cores_subtracts_the_load(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.6, 0.0, 0.0))
    assert free_cores() == 1
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert free_cores() == 1  # never below one
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert free_cores() == 4


def test_small_mlp_trains_on_one_thread():
    previous = torch.get_num_threads()
    try:
        network = torch.nn.Sequential(torch.nn.Linear(4, 256), torch.nn.Linear(256, 256), torch.nn.Linear(256, 2))
        assert apply_threads("auto", network, 32) == 1 and torch.get_num_threads() == 1  # 67k params x 32 rows
    finally:
        torch.set_num_threads(previous)


def test_threads_config_values():
    assert load_config(None).threads == "auto"
    assert load_config(None, ["threads=2"]).threads == 2
    with pytest.raises(ConfigError, match="threads must be 'auto' or an integer >= 0"):
        load_config(None, ["threads=-1"])
