"""Typed config: presets, dotted overrides, and one clear error per kind of mistake."""

import pytest
import yaml

from rlkit.agents.registry import resolve_preset
from rlkit.config import apply_overrides, load_config, save_config
from rlkit.errors import ConfigError

from helpers import CARTPOLE


def test_preset_file_loads_and_overrides_apply():
    config = load_config(CARTPOLE, ["agent.lr=1e-3", "agent.net.hidden=[64, 64]", "seed=7"])
    assert config.env.id == "CartPole-v1"
    assert config.agent.lr == pytest.approx(1e-3)
    assert config.agent.net.hidden == [64, 64]
    assert config.seed == 7


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("agent.lr_rate=1", "unknown config key 'agent.lr_rate'; did you mean 'agent.lr'?"),
        ("replay.batchsize=3", "did you mean 'replay.batch_size'?"),
        ("replay.batch_size=abc", "config field 'replay.batch_size'"),
        ("agent.gamma=1.5", "config field 'agent.gamma'"),
        ("train.total_steps=-1", "config field 'train.total_steps'"),
        ("agent.critic.loss=l1", "config field 'agent.critic.loss'"),
        ("nonsense", "is not of the form key=value"),
        ("device=tpu", "device"),
    ],
)
def test_bad_values_name_the_field(override, fragment):
    with pytest.raises(ConfigError) as error:
        load_config(CARTPOLE, [override])
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_incompatible_options_are_rejected():
    with pytest.raises(ConfigError, match="replay.capacity"):
        load_config(None, ["replay.capacity=8", "replay.batch_size=32"])
    with pytest.raises(ConfigError, match="must not exceed start"):
        load_config(None, ["exploration.start=0.1", "exploration.end=0.5"])
    with pytest.raises(ConfigError, match="implies agent.double=true"):
        resolve_preset(load_config(None, ["agent.name=double_dqn", "agent.double=false"]))


def test_presets_imply_their_flags():
    config = resolve_preset(load_config(None, ["agent.name=double_dueling_dqn"]))
    assert config.agent.double and config.agent.dueling
    assert not resolve_preset(load_config(None, ["agent.name=dqn"])).agent.double
    with pytest.raises(ConfigError, match="did you mean 'double_dqn'"):
        resolve_preset(load_config(None, ["agent.name=doubel_dqn"]))


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("agent: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(scalar)


def test_saved_config_round_trips(tmp_path):
    config = load_config(CARTPOLE, ["train.total_steps=1234"])
    save_config(config, tmp_path / "config.yaml")
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["train"]["total_steps"] == 1234
    assert load_config(tmp_path / "config.yaml") == config
    assert apply_overrides(config, ["train.total_steps=99"]).train.total_steps == 99


@pytest.mark.parametrize("name", ["dqn", "double_dqn", "dueling_dqn", "double_dueling_dqn"])
def test_config_survives_a_dict_round_trip_before_and_after_resolving_its_preset(name):
    from rlkit.config import config_from_dict, config_to_dict

    config = load_config(CARTPOLE, [f"agent.name={name}"])
    resolved = resolve_preset(config)
    for stored in (config, resolved):  # what a tuner, a config.yaml or a checkpoint writes
        again = resolve_preset(config_from_dict(config_to_dict(stored)))
        assert (again.agent.double, again.agent.dueling) == (resolved.agent.double, resolved.agent.dueling)
    assert resolved.agent.double == ("double" in name) and resolved.agent.dueling == ("dueling" in name)
    with pytest.raises(ConfigError, match="implies"):  # an explicit contradiction is still one
        resolve_preset(load_config(CARTPOLE, ["agent.name=double_dqn", "agent.double=false"]))
