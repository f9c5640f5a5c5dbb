"""The numpy mirror that agents act through: same Q-values as torch, follows in-place updates, declines what it
cannot mirror exactly."""

import numpy as np
import pytest
import torch

from rlkit.agents.registry import build_agent
from rlkit.config import load_config
from rlkit.nets.numpy_mirror import MAX_BATCH, NumpyQNetwork
from rlkit.replay import Batch

CRITICS = {
    "scalar": [],
    "hl_gauss": ["agent.critic.type=hl_gauss", "agent.critic.bins=11", "agent.critic.v_min=-5",
                 "agent.critic.v_max=5"],
    "c51": ["agent.critic.type=c51", "agent.critic.bins=11", "agent.critic.v_min=-5", "agent.critic.v_max=5"],
    "qr": ["agent.critic.type=qr", "agent.critic.quantiles=7"],
}


def make_agent(*overrides, obs_shape=(4,), obs_dtype="float32", num_actions=3):
    config = load_config(None, ["agent.net.hidden=[32, 16]", *overrides])
    return build_agent(config, obs_shape, obs_dtype, num_actions, torch.device("cpu"))


def torch_q(agent, obs):
    with torch.no_grad():
        return agent.critic.q_values(agent.online(torch.as_tensor(obs))).numpy()


@pytest.mark.parametrize("critic", CRITICS)
@pytest.mark.parametrize("dueling", [False, True])
def test_mirror_equals_torch(critic, dueling):
    agent = make_agent(*CRITICS[critic], f"agent.dueling={str(dueling).lower()}")
    mirror = NumpyQNetwork.mirror(agent.online, agent.critic)
    assert mirror is not None
    obs = np.random.default_rng(0).normal(size=(MAX_BATCH, 4)).astype(np.float32)
    with torch.no_grad():
        outputs = agent.online(torch.as_tensor(obs)).numpy()
    np.testing.assert_allclose(mirror.outputs(obs), outputs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mirror.q_values(obs), torch_q(agent, obs), rtol=1e-5, atol=1e-5)
    assert agent.greedy(obs).tolist() == torch_q(agent, obs).argmax(1).tolist()


def test_image_like_uint8_observations_are_flattened_and_cast():
    agent = make_agent(obs_shape=(3, 5, 5), obs_dtype="uint8")
    obs = np.random.default_rng(1).integers(0, 2, size=(4, 3, 5, 5)).astype(np.uint8)
    mirror = agent._mirror()
    np.testing.assert_allclose(mirror.q_values(obs), torch_q(agent, obs), rtol=1e-5, atol=1e-6)


def test_mirror_follows_optimiser_steps_and_loaded_weights():
    agent = make_agent()
    mirror = agent._mirror()
    rng = np.random.default_rng(2)
    obs = rng.normal(size=(8, 4)).astype(np.float32)
    before = mirror.q_values(obs).copy()
    batch = Batch(obs, rng.integers(0, 3, 8), np.ones(8, np.float32), np.full(8, 0.9, np.float32), obs,
                  np.arange(8), np.ones(8, np.float32))
    for _ in range(5):
        agent.update(batch)
    assert agent._mirror() is mirror  # in-place updates: the same views, no rebuild
    assert not np.allclose(mirror.q_values(obs), before)
    np.testing.assert_allclose(mirror.q_values(obs), torch_q(agent, obs), rtol=1e-5, atol=1e-5)
    other = make_agent("seed=7")
    agent.online.load_state_dict(other.online.state_dict())
    np.testing.assert_allclose(agent._mirror().q_values(obs), torch_q(other, obs), rtol=1e-5, atol=1e-5)


def test_new_parameter_storage_rebuilds_the_mirror():
    agent = make_agent()
    mirror = agent._mirror()
    first = next(agent.online.parameters())
    first.data = torch.randn_like(first)  # what module.to() does to every parameter
    assert not mirror.is_current()
    obs = np.random.default_rng(3).normal(size=(6, 4)).astype(np.float32)
    assert agent._mirror() is not mirror
    assert agent.greedy(obs).tolist() == torch_q(agent, obs).argmax(1).tolist()


@pytest.mark.parametrize("overrides", [["agent.net.torso=resmlp", "agent.net.blocks=1"], ["agent.net.quant=int8"],
                                       ["agent.net.quant=ternary"]], ids=["resmlp", "int8", "ternary"])
def test_unmirrorable_networks_act_through_torch(overrides):
    agent = make_agent(*overrides)
    assert NumpyQNetwork.mirror(agent.online, agent.critic) is None
    obs = np.random.default_rng(4).normal(size=(5, 4)).astype(np.float32)
    assert agent.greedy(obs).tolist() == torch_q(agent, obs).argmax(1).tolist()


def test_large_batches_act_through_torch():
    agent = make_agent()
    obs = np.random.default_rng(5).normal(size=(MAX_BATCH + 1, 4)).astype(np.float32)
    assert agent.greedy(obs).tolist() == torch_q(agent, obs).argmax(1).tolist()
    assert agent._numpy_online is None  # never built: the torch path served the call
