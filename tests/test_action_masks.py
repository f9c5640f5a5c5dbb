"""Legal-action masks: detection, masked acting and exploration, masked targets, errors, and a trap env."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import toy_envs
from helpers import CARTPOLE, fast_overrides
from agents.munchausen import munchausen_target
from rlkit.agents.dqn import DQNAgent
from rlkit.cli import main
from rlkit.config import load_config
from rlkit.errors import ActionMaskError, EnvError
from rlkit.spaces import ObsSpace
from rlkit.training.evaluate import load_agent, run_episodes
from rlkit.vec import make_env, make_vec_env

SPACE = gym.spaces.Dict({"state": gym.spaces.Box(-1, 1, (1,), np.float32), "action_mask": gym.spaces.MultiBinary(3)})


class FixedQ(nn.Module):
    """Q-values that ignore the observation: (B, 3, 1) copies of ``q``."""

    def __init__(self, q):
        super().__init__()
        self.q = nn.Parameter(torch.tensor(q, dtype=torch.float32))

    def forward(self, inputs):
        rows = len(next(iter(inputs.values())))
        return self.q.view(1, -1, 1).expand(rows, -1, 1)


def _agent(*overrides, target_q=(5.0, 1.0, 2.0), online_q=(0.0, 3.0, 1.0)):
    config = load_config(CARTPOLE, ["agent.net.hidden=[8]", "agent.gamma=0.5", *overrides])
    agent = DQNAgent(config.agent, (), None, 3, obs_space=ObsSpace.from_gym(SPACE, mask=True))
    agent.online, agent.target = FixedQ(online_q), FixedQ(target_q)
    agent._numpy_online = (agent.online, None)
    return agent


def _inputs(agent, masks):
    obs = {"state": np.zeros((len(masks), 1), np.float32), "action_mask": np.array(masks, bool)}
    return agent._inputs(agent.obs_space.pack(obs))


def test_target_max_is_over_the_next_states_legal_actions():
    agent = _agent("agent.double=false")
    next_obs = _inputs(agent, [[0, 1, 1], [1, 1, 1], [0, 0, 0]])
    target = agent.td_target(next_obs, torch.ones(3), torch.tensor([0.5, 0.5, 0.0]))
    # legal max 2 (the illegal 5 is out); all legal: 5; an ended game (no legal action, discount 0): just r
    torch.testing.assert_close(target, torch.tensor([1 + 0.5 * 2, 1 + 0.5 * 5, 1.0]))


def test_double_dqns_online_argmax_is_masked_too():
    agent = _agent("agent.double=true")
    next_obs = _inputs(agent, [[1, 0, 1]])  # online prefers action 1 (3.0), illegal: it picks 2, target says 2.0
    torch.testing.assert_close(agent.td_target(next_obs, torch.zeros(1), torch.ones(1)), torch.tensor([2.0]))


def test_munchausen_soft_value_is_over_legal_actions():
    q_now = torch.tensor([[1.0, 2.0, 3.0]])
    q_next = torch.tensor([[1.0, 100.0, 2.0]])
    legal = torch.tensor([[True, False, True]])
    masked = munchausen_target(q_now, torch.tensor([0]), q_next, torch.zeros(1), torch.ones(1), 0.9, 1.0, -1.0,
                               legal_now=legal, legal_next=legal)
    # by hand: the same over the two legal actions only
    legal_now = q_now[:, [0, 2]]
    bonus = (legal_now[0, 0] - torch.logsumexp(legal_now, 1)[0]).clamp(-1.0, 0.0)
    legal_next = q_next[:, [0, 2]]
    pi = torch.softmax(legal_next, 1)
    soft = (pi * (legal_next - (legal_next - torch.logsumexp(legal_next, 1, keepdim=True)))).sum()
    torch.testing.assert_close(masked, (0.9 * bonus + soft).view(1))
    assert torch.isfinite(masked).all()


def test_greedy_and_exploring_actions_stay_legal():
    agent = _agent(target_q=(0.0, 0.0, 0.0), online_q=(9.0, 1.0, 0.0))
    obs = agent.obs_space.pack({"state": np.zeros((1, 1), np.float32), "action_mask": np.array([[0, 1, 1]], bool)})
    assert agent.act(obs[0]) == 1  # the best legal action, not the illegal 9.0
    many = agent.obs_space.pack({"state": np.zeros((3000, 1), np.float32),
                                 "action_mask": np.tile(np.array([0, 1, 1], bool), (3000, 1))})
    counts = np.bincount(agent.act(many, epsilon=1.0), minlength=3)
    assert counts[0] == 0 and min(counts[1:]) > 1300  # uniform over the two legal actions


def test_an_explicit_mask_masks_an_unmasked_agent():
    config = load_config(CARTPOLE, ["agent.net.hidden=[8]"])
    agent = DQNAgent(config.agent, (4,), np.float32, 2)
    obs = np.zeros(4, np.float32)
    assert agent.act(obs, mask=np.array([False, True])) == 1
    assert agent.act(obs, mask=np.array([True, False])) == 0
    with pytest.raises(ActionMaskError, match="no legal action"):
        agent.act(obs, mask=np.array([False, False]))


def test_a_dict_agent_takes_its_mask_from_act():
    agent = _agent()
    assert agent.act({"state": np.zeros(1, np.float32)}, mask=np.array([0, 0, 1], bool)) == 2
    with pytest.raises(ValueError, match="act\\(obs, mask=...\\)"):
        agent.act({"state": np.zeros(1, np.float32)})


def test_all_illegal_mask_is_a_clear_error_naming_the_step(tmp_path, capsys):
    env_id = "toy_envs:MaskTrapObs-v0"
    argv = ["train", str(CARTPOLE), *fast_overrides(tmp_path / "run"), f"env.id={env_id}",
            "env.kwargs={empty_mask_at: 3}", "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "at env step 3" in err and "no legal action" in err


def test_info_masks_are_detected_and_missing_ones_are_errors():
    env = make_env("toy_envs:MaskTrap-v0")
    assert env.rlkit_action_mask == "obs" and env.rlkit_obs_space.mask_key == "action_mask"
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"obs", "action_mask"} and obs["action_mask"].sum() == 3
    env.close()
    assert make_env("toy_envs:MaskTrap-v0", action_mask="none").rlkit_obs_space.plain_box
    with pytest.raises(EnvError, match="no 'action_mask' observation key"):
        make_env("CartPole-v1", action_mask="obs")
    with pytest.raises(EnvError, match="no 'action_mask' in the info of reset"):
        make_env("CartPole-v1", action_mask="info")


def test_cli_refuses_a_mask_source_the_env_lacks(tmp_path, capsys):
    assert main(["train", str(CARTPOLE), *fast_overrides(tmp_path / "run"), "env.action_mask=obs"]) == 2
    assert "env.action_mask=obs" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def _illegal_during(fn):
    before = toy_envs.MaskTrapEnv.illegal_taken
    fn()
    return toy_envs.MaskTrapEnv.illegal_taken - before


@pytest.mark.parametrize("env_id", ["toy_envs:MaskTrap-v0", "toy_envs:MaskTrapObs-v0"])
def test_masked_agent_never_takes_an_illegal_action(tmp_path, env_id, capsys):
    run = tmp_path / "masked"
    argv = ["train", str(CARTPOLE), *fast_overrides(run), f"env.id={env_id}", "train.total_steps=1500",
            "env.num_envs=2", "--no-progress"]
    assert _illegal_during(lambda: main(argv)) == 0, capsys.readouterr().err
    agent = load_agent(run / "checkpoints" / "final.pt")
    env = make_env(env_id)
    illegal = _illegal_during(lambda: run_episodes(agent, env, 20, epsilon=0.5))
    env.close()
    assert illegal == 0


def test_unmasked_agent_does_take_illegal_actions(tmp_path):
    argv = ["train", str(CARTPOLE), *fast_overrides(tmp_path / "run"), "env.id=toy_envs:MaskTrap-v0",
            "env.action_mask=none", "train.total_steps=1500", "--no-progress"]
    assert _illegal_during(lambda: main(argv)) > 20


def test_masked_vector_env_stores_the_next_states_mask():
    env = make_vec_env("toy_envs:MaskTrapObs-v0", num_envs=2, seed=0)
    obs = env.reset(seed=0)
    out = env.step(np.array([0, 0]))
    env.close()
    assert out.next_obs["action_mask"].shape == (2, 4) and out.next_obs["action_mask"].dtype == bool
    assert (out.next_obs["action_mask"].sum(1) == 3).all()


def test_pqn_bootstraps_over_legal_actions(tmp_path, capsys):
    argv = ["train", str(CARTPOLE), *fast_overrides(tmp_path / "run"), "agent.name=pqn",
            "env.id=toy_envs:MaskTrapObs-v0", "env.num_envs=4", "pqn.rollout_steps=16", "pqn.minibatches=4",
            "train.total_steps=1024", "--no-progress"]
    assert _illegal_during(lambda: main(argv)) == 0, capsys.readouterr().err
