"""rlkit/Jamming-v0: Gymnasium's checker, each jammer's motion, the reward rules, the sensed spectrum, seeding."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlkit.envs  # noqa: F401  (registers rlkit/Jamming-v0)
from rlkit.envs.jamming import JammingEnv


def _jammer_channels(env, steps, action=0):
    """Jammer channel in slot 0 (reset) and after each of `steps` steps on a fixed channel."""
    _, info = env.reset(seed=3)
    channels = [info["jammer_channel"]]
    for _ in range(steps):
        _, _, _, _, info = env.step(action)
        channels.append(info["jammer_channel"])
    return np.array(channels)


@pytest.mark.parametrize("kwargs", [{}, {"jammer": "sweeping"}, {"observe_channel": True}])
def test_env_checker(kwargs):
    check_env(JammingEnv(**kwargs), skip_render_check=True)
    check_env(gym.make("rlkit/Jamming-v0", **kwargs).unwrapped, skip_render_check=True)


def test_spaces_and_band():
    env = JammingEnv()
    assert env.observation_space.shape == (8,) and env.observation_space.dtype == np.float32
    assert env.action_space.n == 8
    np.testing.assert_allclose(env.channels_mhz, [5180, 5200, 5220, 5240, 5260, 5280, 5300, 5320])
    assert JammingEnv(observe_channel=True).observation_space.shape == (16,)


def test_constant_jammer_stays():
    channels = _jammer_channels(JammingEnv(jammer="constant"), 50)
    assert len(set(channels)) == 1


def test_sweeping_jammer_moves_up_one_channel_per_slot_and_is_predictable():
    env = JammingEnv(jammer="sweeping")
    channels = _jammer_channels(env, 20)
    assert np.all(np.diff(channels) % 8 == 1)
    obs, info = env.reset(seed=5)
    for _ in range(20):  # the next slot's jammed channel is argmin(obs) + 1: avoid it and never get jammed
        predicted = (int(np.argmin(obs)) + 1) % 8
        obs, reward, _, _, info = env.step((predicted + 4) % 8)
        assert info["jammer_channel"] == predicted and not info["jammed"]


def test_random_jammer_changes_channel_every_slot():
    channels = _jammer_channels(JammingEnv(jammer="random"), 400)
    assert np.all(np.diff(channels) != 0)
    counts = np.bincount(channels, minlength=8)
    assert counts.min() > 20  # uniform over the other seven: every channel is hit often


def test_dynamic_jammer_draws_each_type():
    env = JammingEnv(jammer="dynamic")
    kinds = {env.reset(seed=seed)[1]["jammer_type"] for seed in range(30)}
    assert kinds == {"constant", "sweeping", "random"}


def test_reward_rules_and_switch_cost():
    env = JammingEnv(jammer="constant", switch_cost=0.3)
    _, info = env.reset(seed=0)
    jammed = info["jammer_channel"]
    clear, other = (jammed + 2) % 8, (jammed + 4) % 8
    _, reward, _, _, info = env.step(clear)  # first slot: no previous channel, no switch
    assert reward == 1.0 and not info["switched"]
    _, reward, _, _, _ = env.step(clear)  # stay on a clear channel
    assert reward == 1.0
    _, reward, _, _, info = env.step(other)  # switch to another clear channel
    assert reward == pytest.approx(0.7) and info["switched"]
    _, reward, _, _, info = env.step(jammed)  # the jammed channel: nothing gets through, switch or not
    assert reward == 0.0 and info["jammed"]
    _, reward, _, _, info = env.step((jammed + 1) % 8)  # a neighbour (20 MHz away) is outside +-10 MHz: not jammed
    assert not info["jammed"] and reward == pytest.approx(0.7)


def test_default_switch_cost_is_0_2():
    env = JammingEnv(jammer="constant")
    _, info = env.reset(seed=1)
    clear = (info["jammer_channel"] + 3) % 8
    env.step(clear)
    _, reward, _, _, _ = env.step((clear + 1) % 8 if (clear + 1) % 8 != info["jammer_channel"] else (clear + 2) % 8)
    assert reward == pytest.approx(0.8)


def test_spectrum_shows_the_jammer_and_its_leakage():
    env = JammingEnv(jammer="constant", measurement_noise_db=0.0)
    obs, info = env.reset(seed=2)
    jammed = info["jammer_channel"]
    assert int(np.argmin(obs)) == jammed and obs[jammed] < 0  # jammed: about -20 dB
    neighbours = [c for c in (jammed - 1, jammed + 1) if 0 <= c < 8]
    far = [c for c in range(8) if abs(c - jammed) >= 2]
    assert all(obs[jammed] < obs[n] < obs[f] for n in neighbours for f in far)
    assert np.all(obs[far] > 15)  # clear channels: about 20 dB


def test_observe_channel_reports_the_last_channel_used():
    env = JammingEnv(observe_channel=True)
    obs, _ = env.reset(seed=0)
    assert np.all(obs[8:] == 0)
    obs, _, _, _, _ = env.step(5)
    assert obs[8:].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]


def test_same_seed_same_episode():
    def episode(seed):
        env = gym.make("rlkit/Jamming-v0", jammer="dynamic")
        obs, info = env.reset(seed=seed)
        trace = [obs]
        rng = np.random.default_rng(0)
        for _ in range(30):
            obs, reward, _, _, info = env.step(int(rng.integers(8)))
            trace += [obs, [reward, info["jammer_channel"]]]
        return np.concatenate([np.ravel(x) for x in trace])

    np.testing.assert_array_equal(episode(7), episode(7))
    assert not np.array_equal(episode(7), episode(8))


def test_episode_is_truncated_after_100_slots():
    env = gym.make("rlkit/Jamming-v0")
    env.reset(seed=0)
    for slot in range(1, 101):
        _, _, terminated, truncated, _ = env.step(0)
        assert not terminated and truncated == (slot == 100)
    short = JammingEnv(episode_length=5)
    short.reset(seed=0)
    assert [short.step(0)[3] for _ in range(5)] == [False] * 4 + [True]


@pytest.mark.parametrize("kwargs", [{"jammer": "smart"}, {"switch_cost": 1.5}, {"episode_length": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        JammingEnv(**kwargs)
