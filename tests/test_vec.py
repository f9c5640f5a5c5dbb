"""Tests for rlkit.vec: the same-step autoreset convention, episode statistics, id resolution errors, seeding."""

import gymnasium as gym
import numpy as np
import pytest

from rlkit.errors import EnvError
from rlkit.vec import VecEnv, check_spaces, make_env, make_vec_env

COUNTER = "toy_envs:Counter-v0"
# Episode lengths 2..8 drawn per episode from each env's seeded RNG; the TimeLimit at 6 truncates lengths 7 and 8.
COUNTER_KWARGS = {"length": 2, "length_jitter": 6, "max_episode_steps": 6}
MAX_STEPS = COUNTER_KWARGS["max_episode_steps"]


def run_counter(vectorization, steps=80, num_envs=2, seed=0):
    """Step the Counter env, checking every returned transition; returns all VecSteps for further checks."""
    env = make_vec_env(COUNTER, num_envs=num_envs, seed=seed, vectorization=vectorization, env_kwargs=COUNTER_KWARGS)
    try:
        obs = env.reset(seed=seed)
        assert obs.shape == (num_envs, 2) and obs.dtype == np.float32
        np.testing.assert_array_equal(obs[:, 0], 0.0)
        running_return = np.zeros(num_envs)
        running_length = np.zeros(num_envs, dtype=int)
        steps_seen = []
        for _ in range(steps):
            step = env.step(np.zeros(num_envs, dtype=np.int64))
            # A real transition: one more step of the same episode. A terminal -> reset pair would break this.
            np.testing.assert_array_equal(step.next_obs[:, 0], obs[:, 0] + 1)
            np.testing.assert_array_equal(step.next_obs[:, 1], obs[:, 1])
            assert step.rewards.dtype == np.float32 and step.rewards.shape == (num_envs,)
            np.testing.assert_array_equal(step.rewards, step.next_obs[:, 0])
            t, episode_length = step.next_obs[:, 0], step.next_obs[:, 1]
            np.testing.assert_array_equal(step.terminated, t == episode_length)
            # Gymnasium's TimeLimit flags truncation at the limit even when the episode also terminates there.
            np.testing.assert_array_equal(step.truncated, t == MAX_STEPS)
            done = step.terminated | step.truncated
            # Where an episode ended, obs is the reset obs of the next one; elsewhere it is next_obs.
            np.testing.assert_array_equal(step.obs[done, 0], 0.0)
            np.testing.assert_array_equal(step.obs[~done], step.next_obs[~done])
            running_return += step.rewards
            running_length += 1
            expected = [(running_return[i], running_length[i]) for i in np.flatnonzero(done)]
            assert step.episodes == expected
            running_return[done] = 0.0
            running_length[done] = 0
            steps_seen.append(step)
            obs = step.obs
        return steps_seen
    finally:
        env.close()


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_same_step_autoreset_gives_true_transitions_and_episode_stats(vectorization):
    steps = run_counter(vectorization)
    terminated = np.stack([s.terminated for s in steps])
    truncated = np.stack([s.truncated for s in steps])
    # The run must have exercised both kinds of ending, in both envs, at different times.
    assert terminated[:, 0].any() and terminated[:, 1].any() and (truncated & ~terminated).any()
    done = terminated | truncated
    assert not np.array_equal(done[:, 0], done[:, 1])
    episodes = [e for s in steps for e in s.episodes]
    for episode_return, episode_length in episodes:
        assert episode_return == episode_length * (episode_length + 1) / 2
        assert 2 <= episode_length <= MAX_STEPS


def test_sync_and_async_agree():
    sync_steps, async_steps = run_counter("sync", steps=30), run_counter("async", steps=30)
    for a, b in zip(sync_steps, async_steps):
        np.testing.assert_array_equal(a.obs, b.obs)
        np.testing.assert_array_equal(a.next_obs, b.next_obs)
        assert a.episodes == b.episodes


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_split_step_matches_step_and_guards_its_order(vectorization):
    whole = run_counter(vectorization, steps=20)
    env = make_vec_env(COUNTER, num_envs=2, seed=0, vectorization=vectorization, env_kwargs=COUNTER_KWARGS)
    with pytest.raises(RuntimeError, match="without step_async"):
        env.step_wait()
    env.reset(seed=0)
    for expected in whole:
        env.step_async(np.zeros(2, dtype=np.int64))
        with pytest.raises(RuntimeError, match="twice"):
            env.step_async(np.zeros(2, dtype=np.int64))
        got = env.step_wait()
        np.testing.assert_array_equal(got.next_obs, expected.next_obs)
        assert got.episodes == expected.episodes
    env.step_async(np.zeros(2, dtype=np.int64))
    env.close()  # a step in flight is drained, not left to a worker


def test_vec_env_exposes_single_env_spaces():
    with make_vec_env("CartPole-v1", num_envs=3) as env:
        assert isinstance(env, VecEnv)
        assert (env.num_envs, env.num_actions, env.obs_shape, env.obs_dtype) == (3, 2, (4,), np.float32)
        assert env.observation_space.shape == (4,) and env.action_space.n == 2
        assert env.sample_actions().shape == (3,)


def cartpole_rollout(seed, steps=300):
    rng = np.random.default_rng(123)
    with make_vec_env("CartPole-v1", num_envs=2, seed=seed) as env:
        observations = [env.reset(seed=seed)]
        for _ in range(steps):
            step = env.step(rng.integers(0, 2, size=2))
            observations += [step.next_obs, step.obs]
        sampled = [env.sample_actions() for _ in range(5)]
    return np.stack(observations), np.stack(sampled)


def test_same_seed_reproduces_observations():
    obs_a, actions_a = cartpole_rollout(seed=7)
    obs_b, actions_b = cartpole_rollout(seed=7)
    np.testing.assert_array_equal(obs_a, obs_b)
    obs_c, _ = cartpole_rollout(seed=8)
    assert not np.array_equal(obs_a, obs_c)
    env = make_vec_env("CartPole-v1", num_envs=2)
    env.reset(seed=7)
    np.testing.assert_array_equal(np.stack([env.sample_actions() for _ in range(5)]), actions_a)
    env.close()


def test_make_env_returns_checked_single_env():
    env = make_env(COUNTER, env_kwargs={"length": 4})
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0.0, 4.0])
    env.close()


def test_unknown_id_suggests_close_match():
    with pytest.raises(EnvError, match=r"unknown environment id 'CartPol-v1'; did you mean 'CartPole-v1'\?"):
        make_vec_env("CartPol-v1")
    with pytest.raises(EnvError, match="unknown environment id 'toy_envs:Countr-v0'; did you mean 'Counter-v0'"):
        make_env("toy_envs:Countr-v0")


def test_missing_module_is_named():
    with pytest.raises(EnvError, match="cannot import module 'no_such_envs_module'"):
        make_vec_env("no_such_envs_module:Counter-v0", vectorization="async")


@pytest.mark.parametrize("env_id", ["toy_envs:ContinuousCounter-v0", "Pendulum-v1"])
def test_continuous_actions_rejected(env_id):
    with pytest.raises(EnvError, match=f"environment '{env_id}' has action space Box.*need Discrete actions"):
        make_vec_env(env_id, num_envs=2, vectorization="async")


def test_unsupported_observations_rejected(monkeypatch):
    env = make_env("CartPole-v1")  # a valid env, given a space rlkit cannot take
    space = gym.spaces.Graph(gym.spaces.Box(0, 1, (2,)), None)
    with pytest.raises(EnvError, match="environment 'CartPole-v1': observation space is Graph.*Dict/Tuple"):
        check_spaces("CartPole-v1", space, env.action_space)
    env.close()


def test_bad_arguments_rejected():
    with pytest.raises(EnvError, match="unknown vectorization 'threads'; use one of sync, async"):
        make_vec_env("CartPole-v1", vectorization="threads")
    with pytest.raises(EnvError, match="num_envs must be an integer >= 1"):
        make_vec_env("CartPole-v1", num_envs=0)
    with pytest.raises(EnvError, match="env_kwargs"):
        make_env(COUNTER, env_kwargs={"lenght": 3})


def test_errors_are_one_line():
    for env_id in ["CartPol-v1", "nope_module:CartPole-v1", "Pendulum-v1", "ALE/Pongg-v5", "CartPole-v0x"]:
        with pytest.raises(EnvError) as info:
            make_env(env_id)
        assert "\n" not in str(info.value)


def test_vec_env_refuses_next_step_autoreset():
    vector_env = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")])
    with pytest.raises(ValueError, match="SAME_STEP"):
        VecEnv(vector_env)
    vector_env.close()
