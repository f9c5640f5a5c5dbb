"""The DQN agent: acting, Double-DQN targets, dueling head, learning on a fixed batch, target updates."""

import numpy as np
import pytest
import torch

from rlkit.agents.registry import build_agent
from rlkit.config import load_config
from rlkit.replay import Batch


def make_agent(*overrides, num_actions=3, obs_shape=(4,)):
    config = load_config(None, ["agent.net.hidden=[16]", *overrides])
    return build_agent(config, obs_shape, "float32", num_actions, torch.device("cpu"))


def test_act_single_and_batch():
    agent = make_agent()
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    greedy = agent.act(obs, 0.0)
    assert greedy.shape == (5,) and greedy.dtype == np.int64
    assert greedy.tolist() == agent.q_values(obs).argmax(1).tolist()
    single = agent.act(obs[0])
    assert isinstance(single, int) and single == greedy[0]
    random_actions = agent.act(np.repeat(obs[:1], 300, axis=0), 1.0)
    assert set(random_actions.tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="shape"):
        agent.act(np.zeros((2, 5), np.float32))


def test_double_dqn_target_uses_online_argmax():
    double, plain = make_agent("agent.name=double_dqn"), make_agent()
    plain.online.load_state_dict(double.online.state_dict())
    for agent in (double, plain):
        with torch.no_grad():  # make online and target disagree
            for parameter in agent.target.parameters():
                parameter.add_(torch.randn_like(parameter))
    plain.target.load_state_dict(double.target.state_dict())
    next_obs = torch.randn(64, 4)
    rewards, discounts = torch.ones(64), torch.full((64,), 0.5)
    target_q = double.critic.q_values(double.target(next_obs))
    online_choice = double.critic.q_values(double.online(next_obs)).argmax(1)
    expected_double = 1.0 + 0.5 * target_q.gather(1, online_choice[:, None]).squeeze(1)
    expected_plain = 1.0 + 0.5 * target_q.max(1).values
    assert torch.allclose(double.td_target(next_obs, rewards, discounts), expected_double)
    assert torch.allclose(plain.td_target(next_obs, rewards, discounts), expected_plain)
    assert not torch.allclose(expected_double, expected_plain)


def test_dueling_head_advantages_average_to_zero():
    agent = make_agent("agent.name=dueling_dqn")
    features = agent.online.torso(torch.randn(8, 4))
    head = agent.online.head
    value = head.value(features)
    outputs = head(features)
    assert torch.allclose(outputs.mean(dim=1), value, atol=1e-6)


def test_update_fits_a_fixed_batch_and_returns_per_sample_errors():
    agent = make_agent("agent.lr=0.01", "agent.gamma=0.0")
    rng = np.random.default_rng(0)
    batch = Batch(
        obs=rng.normal(size=(32, 4)).astype(np.float32), actions=rng.integers(3, size=32),
        returns=rng.normal(size=32).astype(np.float32), discounts=np.zeros(32, np.float32),
        next_obs=rng.normal(size=(32, 4)).astype(np.float32), indices=np.arange(32), weights=np.ones(32, np.float32),
    )
    first = agent.update(batch)
    assert first["td_errors"].shape == (32,)
    for _ in range(300):
        last = agent.update(batch)
    assert last["loss"].item() < 0.1 * first["loss"].item()


def test_target_updates_hard_and_soft():
    hard = make_agent()
    with torch.no_grad():
        for parameter in hard.online.parameters():
            parameter.add_(1.0)
    hard.update_target()
    for online, target in zip(hard.online.parameters(), hard.target.parameters()):
        assert torch.equal(online, target)

    soft = make_agent("agent.tau=0.25")
    before = [p.clone() for p in soft.target.parameters()]
    with torch.no_grad():
        for parameter in soft.online.parameters():
            parameter.add_(4.0)
    soft.update_target()
    for old, online, target in zip(before, soft.online.parameters(), soft.target.parameters()):
        assert torch.allclose(target, 0.75 * old + 0.25 * online)


def test_state_dict_round_trip_restores_weights_optimiser_and_rng():
    agent, other = make_agent(), make_agent("seed=5")
    agent.act(np.zeros((4, 4), np.float32), 0.5)
    other.load_state_dict(agent.state_dict())
    for a, b in zip(agent.online.parameters(), other.online.parameters()):
        assert torch.equal(a, b)
    obs = np.zeros((50, 4), np.float32)
    assert agent.act(obs, 0.5).tolist() == other.act(obs, 0.5).tolist()


def test_clip_grad_norm_matches_torch():
    from rlkit.agents.dqn import clip_grad_norm

    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    for group in (ours, theirs):
        (sum((p ** 2).sum() for p in group) * 10).backward()
    norm = clip_grad_norm(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert torch.allclose(norm, expected)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a.grad, b.grad)
    assert torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in ours])) <= 1.0 + 1e-5


def test_target_copy_follows_optimiser_updates():
    # A fused optimiser step does not bump tensor version counters; the target must follow it all the same.
    agent = make_agent()
    rng = np.random.default_rng(1)
    batch = Batch(
        obs=rng.normal(size=(16, 4)).astype(np.float32), actions=rng.integers(3, size=16),
        returns=np.ones(16, np.float32), discounts=np.full(16, 0.9, np.float32),
        next_obs=rng.normal(size=(16, 4)).astype(np.float32), indices=np.arange(16), weights=np.ones(16, np.float32),
    )
    for _ in range(3):
        agent.update(batch)
        agent.update_target()
        for online, target in zip(agent.online.parameters(), agent.target.parameters()):
            assert torch.equal(online, target)


@pytest.mark.parametrize("torso", ["nature_cnn", "impala"])
def test_cnn_torsos_compute_in_channels_last_with_default_layout_results(torso):
    """The channels-last layout is a speed choice only: same outputs and state dict as the default layout."""
    from rlkit.nets import build_q_network

    torch.manual_seed(0)
    network = build_q_network((4, 84, 84), 6, 1, torso, [512], dueling=False)
    conv = next(m for m in network.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    obs = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    reference = build_q_network((4, 84, 84), 6, 1, torso, [512], dueling=False)
    reference.load_state_dict(network.state_dict())
    for module in reference.modules():  # back to the default layout, run with the plain float path
        for name, parameter in module.named_parameters(recurse=False):
            parameter.data = parameter.data.contiguous()
    features = reference.torso
    plain = features.fc(features.conv(obs.float() / 255.0)) if torso == "nature_cnn" else \
        features.fc(features.stages(obs.float() / 255.0))
    torch.testing.assert_close(network.torso(obs), plain, rtol=1e-4, atol=1e-5)
    assert all(a.shape == b.shape for a, b in zip(network.state_dict().values(), reference.state_dict().values()))


def test_loading_a_live_agents_state_makes_an_independent_copy():
    """torch's Optimizer.load_state_dict keeps the very tensors it is handed when dtype and device match; an agent
    loaded from another live agent's state_dict must not share Adam's moments with it."""
    source, copy = make_agent("agent.lr=0.01"), make_agent("agent.lr=0.01")
    rng = np.random.default_rng(0)
    batch = Batch(rng.normal(size=(8, 4)).astype(np.float32), rng.integers(3, size=8),
                  rng.normal(size=8).astype(np.float32), np.full(8, 0.9, np.float32),
                  rng.normal(size=(8, 4)).astype(np.float32), np.arange(8), np.ones(8, np.float32))
    source.update(batch)
    copy.load_state_dict(source.state_dict())
    before = {k: {n: t.clone() for n, t in v.items()} for k, v in copy.optimizer.state_dict()["state"].items()}
    source.update(batch)
    after = copy.optimizer.state_dict()["state"]
    for key, values in before.items():
        for name, tensor in values.items():
            assert torch.equal(after[key][name], tensor), f"optimizer state {key}.{name} moved with the source"
