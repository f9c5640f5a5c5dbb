"""The rainbow preset: the six components it implies, conflicts named, idempotent through a checkpoint's dict."""

import pytest
import torch

from rlkit.agents.registry import build_agent, resolve_preset
from rlkit.config import ConfigError, config_from_dict, config_to_dict, load_config
from rlkit.critics import C51
from rlkit.nets import noisy_layers

from helpers import ROOT


def test_rainbow_implies_its_components():
    config = resolve_preset(load_config(None, ["agent.name=rainbow"]))
    agent, replay = config.agent, config.replay
    assert (agent.double, agent.dueling, agent.critic.type, agent.n_step, agent.net.noisy, replay.prioritized) == (
        True, True, "c51", 3, True, True)
    assert resolve_preset(config_from_dict(config_to_dict(config))) == config  # a checkpoint's copy resolves the same
    built = build_agent(config, (4,), "float32", 2, torch.device("cpu"))
    assert isinstance(built.critic, C51) and noisy_layers(built.online)
    # what the preset leaves alone stays the config's
    tuned = resolve_preset(load_config(None, ["agent.name=rainbow", "agent.critic.bins=21", "replay.alpha=0.5"]))
    assert tuned.agent.critic.bins == 21 and tuned.replay.alpha == 0.5 and tuned.agent.critic.type == "c51"
    # setting an implied field to the value it implies is fine; n_step is a default a config may change (DER: 20)
    assert resolve_preset(load_config(None, ["agent.name=rainbow", "agent.double=true"])).agent.double
    assert resolve_preset(load_config(None, ["agent.name=rainbow", "agent.n_step=20"])).agent.n_step == 20


@pytest.mark.parametrize("override, field", [
    ("agent.critic.type=qr", "agent.critic.type"),
    ("agent.net.noisy=false", "agent.net.noisy"), ("replay.prioritized=false", "replay.prioritized"),
    ("agent.double=false", "agent.double"),
])
def test_rainbow_names_a_contradicting_field(override, field):
    with pytest.raises(ConfigError, match=f"config field '{field}': agent 'rainbow' implies"):
        resolve_preset(load_config(None, ["agent.name=rainbow", override]))


def test_rainbow_with_munchausen_is_refused():
    with pytest.raises(ConfigError, match="munchausen"):
        resolve_preset(load_config(None, ["agent.name=rainbow", "agent.munchausen={}"]))


def test_rainbow_presets_resolve():
    config = resolve_preset(load_config(ROOT / "configs" / "cartpole_rainbow.yaml"))
    assert config.agent.critic.type == "c51" and config.exploration.start == 0.0 and config.agent.n_step == 3
    for game in ("pong", "breakout"):
        der = resolve_preset(load_config(ROOT / "configs" / f"atari100k_der_{game}.yaml"))
        assert (der.agent.n_step, der.agent.net.torso, der.agent.net.sigma0, der.env.atari.sticky_actions) == (
            20, "der_cnn", 0.1, 0.0)


@pytest.mark.slow
def test_cartpole_rainbow_preset_learns(tmp_path):
    """configs/cartpole_rainbow.yaml (epsilon 0: noisy nets explore) reaches 475 (seed 0: 488.6 at 17.5k steps)."""
    from rlkit.run import train

    config = load_config(ROOT / "configs" / "cartpole_rainbow.yaml", [f"run_dir={tmp_path / 'run'}",
                                                                      "train.target_return=475", "threads=1"])
    result = train(config, progress=False)
    assert result.stopped_early and result.eval_mean >= 475, result
