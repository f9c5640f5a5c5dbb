"""Evaluation over several envs side by side: batched greedy actions, the same returns as one env."""

import numpy as np
import pytest
import torch

import toy_envs  # noqa: F401  (registers the toy envs)
from helpers import fast_config
from rlkit.agents.registry import build_agent
from rlkit.cli import main
from rlkit.run import train
from rlkit.training.evaluate import evaluate_checkpoint, run_episodes
from rlkit.vec import make_env


class LeanPolicy:
    """Pushes the cart towards the pole's lean: a weak policy whose greedy action depends only on the observation.
    Records the batch sizes it is asked for."""

    def __init__(self):
        self.batches: list[int] = []

    def act(self, obs, epsilon=0.0):
        assert epsilon == 0.0  # exploration is drawn by the evaluation itself
        obs = np.asarray(obs)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        self.batches.append(0 if single else len(batch))
        actions = (batch[:, 2] > 0).astype(np.int64)
        return int(actions[0]) if single else actions


def _envs(env_id, count):
    return [make_env(env_id) for _ in range(count)]


@pytest.mark.parametrize("epsilon", [0.0, 0.3])
def test_several_envs_give_the_returns_of_one(epsilon):
    one = make_env("CartPole-v1")
    sequential = run_episodes(LeanPolicy(), one, 7, epsilon, seed=3)
    policy, envs = LeanPolicy(), _envs("CartPole-v1", 3)
    batched = run_episodes(policy, envs, 7, epsilon, seed=3)
    for env in [one, *envs]:
        env.close()
    assert np.array_equal(sequential[0], batched[0]) and np.array_equal(sequential[1], batched[1])
    assert sequential[1].min() < sequential[1].max()  # the episodes differ, so their order is checked too
    assert max(policy.batches) == 3 and 0 not in policy.batches  # one forward for the envs still playing


def test_more_envs_than_episodes_and_one_env_keep_single_observations():
    policy = LeanPolicy()
    env = make_env("CartPole-v1")
    run_episodes(policy, env, 2, 0.0, seed=0)
    env.close()
    assert set(policy.batches) == {0}
    envs = _envs("CartPole-v1", 4)
    returns, lengths = run_episodes(LeanPolicy(), envs, 2, 0.0, seed=0)
    for env in envs:
        env.close()
    assert returns.shape == lengths.shape == (2,) and (lengths > 0).all()


def test_dict_observations_with_masks_are_stacked_and_stay_legal():
    """A real agent on Dict observations with a legal-action mask: batched actions never pick an illegal one and
    match one env's episodes."""
    before = toy_envs.MaskTrapEnv.illegal_taken
    one = make_env("toy_envs:MaskTrapObs-v0")
    agent = build_agent(fast_config("unused"), one.rlkit_obs_space.shape, one.rlkit_obs_space.dtype,
                        int(one.action_space.n), torch.device("cpu"), one.rlkit_obs_space)
    envs = _envs("toy_envs:MaskTrapObs-v0", 3)
    with torch.inference_mode():
        batched = run_episodes(agent, envs, 6, 0.5, seed=1)
        sequential = run_episodes(agent, one, 6, 0.5, seed=1)
    for env in [one, *envs]:
        env.close()
    assert toy_envs.MaskTrapEnv.illegal_taken == before
    assert np.array_equal(batched[0], sequential[0]) and (batched[1] == 10).all()


def test_eval_with_envs_matches_one_env(tmp_path, capsys):
    run = train(fast_config(tmp_path / "run", "train.eval_envs=2"), progress=False)
    one = evaluate_checkpoint(run.checkpoint, episodes=5, seed=2, epsilon=0.1)
    four = evaluate_checkpoint(run.checkpoint, episodes=5, seed=2, epsilon=0.1, envs=4)
    assert np.array_equal(one.returns, four.returns) and np.array_equal(one.lengths, four.lengths)
    assert main(["eval", str(run.checkpoint), "--episodes", "3", "--envs", "3"]) == 0
    assert "over 3 episodes" in capsys.readouterr().out


def test_eval_refuses_zero_envs(tmp_path, capsys):
    run = train(fast_config(tmp_path / "run"), progress=False)
    assert main(["eval", str(run.checkpoint), "--envs", "0"]) == 2
    assert "--envs" in capsys.readouterr().err


def test_training_evaluations_do_not_depend_on_eval_envs(tmp_path):
    runs = [train(fast_config(tmp_path / f"run{k}", "exploration.eval_epsilon=0.2", "train.eval_episodes=3",
                              f"train.eval_envs={k}"), progress=False) for k in (1, 3)]
    assert runs[0].eval_mean == runs[1].eval_mean and runs[0].eval_std == runs[1].eval_std
