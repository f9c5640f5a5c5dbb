"""The third-party env presets learn (slow: minutes each, the Connect Four one about 20; run with `pytest -m slow`)."""

import pytest

from helpers import ROOT
from rlkit.config import load_config
from rlkit.run import train


@pytest.mark.slow
def test_minigrid_empty_preset_solves_its_grid(tmp_path):
    pytest.importorskip("minigrid")
    config = load_config(ROOT / "configs" / "minigrid_dqn.yaml", [f"run_dir={tmp_path / 'run'}"])
    result = train(config, progress=False)
    assert result.eval_mean >= 0.9  # the shortest path returns 0.96; docs/your_env.md


@pytest.mark.slow
def test_connect_four_preset_beats_the_random_opponent(tmp_path):
    pytest.importorskip("pettingzoo")
    config = load_config(ROOT / "configs" / "connect_four_dqn.yaml", [f"run_dir={tmp_path / 'run'}",
                                                                      "train.eval_episodes=100"])
    assert train(config, progress=False).eval_mean >= 0.8  # win - loss over 100 games (95% wins: docs/your_env.md)
