"""IQN: the network's shapes and cosine embedding, the loss against QR-DQN's, seeded and checkpointed fractions,
deterministic greedy actions, and the agent composing with double / dueling / n-step / PER."""

import math

import numpy as np
import pytest
import torch

from rlkit.agents.registry import build_agent
from rlkit.config import ConfigError, load_config
from rlkit.critics import ImplicitQuantile, QuantileRegression
from rlkit.nets import MLP, build_q_network
from rlkit.nets.implicit import CosineEmbedding, ImplicitQuantileNetwork
from rlkit.replay import Batch

IQN = ["agent.net.hidden=[32]", "agent.critic.type=iqn", "agent.critic.tau_samples=8",
       "agent.critic.tau_prime_samples=6", "agent.critic.act_samples=4", "agent.critic.embedding_dim=16"]


def _batch(rng, size=32, obs_dim=4, actions=3):
    return Batch(obs=rng.normal(size=(size, obs_dim)).astype(np.float32), actions=rng.integers(actions, size=size),
                 returns=rng.normal(size=size).astype(np.float32), discounts=np.zeros(size, np.float32),
                 next_obs=rng.normal(size=(size, obs_dim)).astype(np.float32), indices=np.arange(size),
                 weights=np.ones(size, np.float32))


def test_network_shapes_and_default_fractions():
    network = build_q_network((4,), 3, 1, "mlp", [16], dueling=False, implicit=True, embedding_dim=8,
                              default_quantiles=5)
    assert isinstance(network, ImplicitQuantileNetwork)
    obs = torch.randn(7, 4)
    assert network(obs, torch.rand(7, 11)).shape == (7, 3, 11)
    assert network(obs).shape == (7, 3, 5)
    assert network.default_fractions.tolist() == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])
    # no fractions means the midpoints: the same outputs as passing them
    midpoints = network.default_fractions.expand(7, -1)
    assert torch.equal(network(obs), network(obs, midpoints))
    # the fraction changes the output; the outputs of one row do not depend on the other rows' fractions
    taus = torch.rand(7, 3)
    other = taus.clone()
    other[1:] = torch.rand(6, 3)
    assert torch.allclose(network(obs, taus)[0], network(obs, other)[0])
    dueling = build_q_network((4,), 3, 1, "mlp", [16], dueling=True, implicit=True)
    assert dueling(obs, torch.rand(7, 2)).shape == (7, 3, 2)


def test_cosine_embedding_maths():
    embedding = CosineEmbedding(3, 3)
    with torch.no_grad():
        embedding.linear.weight.copy_(torch.eye(3))
        embedding.linear.bias.zero_()
    tau = torch.tensor([[0.25, 0.5]])
    out = embedding(tau)  # ReLU(cos(pi * i * tau)) for i = 0, 1, 2
    expected = [[max(math.cos(math.pi * i * t), 0.0) for i in range(3)] for t in (0.25, 0.5)]
    assert out.shape == (1, 2, 3)
    assert np.allclose(out[0].detach().numpy(), expected, atol=1e-6)


def test_iqn_loss_is_qr_loss_at_fixed_fractions():
    torch.manual_seed(0)
    qr, iqn = QuantileRegression(quantiles=5, kappa=1.0), ImplicitQuantile(kappa=1.0)
    predicted, target = torch.randn(4, 5), torch.randn(4, 7)
    fixed = qr.fractions.expand(4, -1)
    assert torch.allclose(iqn.loss(predicted, target, fixed), qr.loss(predicted, target))
    with pytest.raises(ValueError, match="fractions"):
        iqn.loss(predicted, target)


def test_fractions_sampled_per_role():
    critic = ImplicitQuantile(tau_samples=8, tau_prime_samples=6, act_samples=4)
    generator = torch.Generator().manual_seed(0)
    shapes = {role: critic.sample_fractions(3, role, generator).shape for role in ("online", "target", "act")}
    assert shapes == {"online": (3, 8), "target": (3, 6), "act": (3, 4)}
    fractions = critic.sample_fractions(1000, "online", generator)
    assert 0.0 <= float(fractions.min()) and float(fractions.max()) <= 1.0
    assert float(fractions.mean()) == pytest.approx(0.5, abs=0.02)


def test_fraction_sampling_is_seeded_and_checkpointed():
    rng = np.random.default_rng(0)
    batches = [_batch(rng) for _ in range(3)]
    config = load_config(None, IQN)

    def losses(agent, which):
        return [float(agent.update(batches[i])["loss"]) for i in which]

    first = build_agent(config, (4,), "float32", 3, torch.device("cpu"))
    second = build_agent(config, (4,), "float32", 3, torch.device("cpu"))
    assert losses(first, [0, 1]) == losses(second, [0, 1])  # same seed, same fractions, same steps
    state = first.state_dict()
    assert "fraction_rng" in state
    resumed = build_agent(load_config(None, [*IQN, "seed=7"]), (4,), "float32", 3, torch.device("cpu"))
    resumed.load_state_dict(state)
    assert losses(resumed, [2]) == pytest.approx(losses(first, [2]), abs=0.0)


def test_greedy_is_deterministic_and_exploring_samples():
    agent = build_agent(load_config(None, IQN), (4,), "float32", 3, torch.device("cpu"))
    obs = np.random.default_rng(1).normal(size=(256, 4)).astype(np.float32)
    assert np.array_equal(agent.greedy(obs), agent.greedy(obs))
    assert np.array_equal(agent.act(obs, 0.0), agent.greedy(obs))  # evaluation: K fixed midpoints
    agent.exploring = True
    acted = [agent.act(obs, 0.0) for _ in range(5)]
    assert any(not np.array_equal(acted[0], other) for other in acted[1:])  # K sampled fractions per step


@pytest.mark.parametrize("extra", [[], ["agent.name=double_dueling_dqn", "agent.n_step=3"],
                                   ["replay.prioritized=true"]])
def test_iqn_agent_fits_a_fixed_batch(extra):
    config = load_config(None, [*IQN, "agent.lr=0.01", "agent.gamma=0.0", *extra])
    agent = build_agent(config, (4,), "float32", 3, torch.device("cpu"))
    batch = _batch(np.random.default_rng(0))
    first = agent.update(batch)
    for _ in range(300):
        last = agent.update(batch)
    assert last["loss"].item() < 0.3 * first["loss"].item()
    assert last["td_errors"].shape == (32,) and float(last["td_errors"].mean()) < 0.3
    assert agent.priorities(batch).shape == (32,)


def test_iqn_refuses_quantisation_aware_training():
    with pytest.raises(ConfigError, match="iqn"):
        load_config(None, [*IQN, "agent.net.quant=int8"])


def test_torso_features_are_shared_across_fractions():
    """The torso runs once per observation, not once per fraction: outputs at M fractions from one forward."""
    torso = MLP((4,), [8])
    calls = []
    torso.register_forward_hook(lambda module, args, out: calls.append(out.shape))
    network = ImplicitQuantileNetwork(torso, 2, dueling=False, embedding_dim=4, default_quantiles=3)
    network(torch.randn(5, 4), torch.rand(5, 9))
    assert calls == [(5, 8)]


@pytest.mark.slow
def test_cartpole_iqn_preset_learns(tmp_path):
    """configs/cartpole_iqn.yaml reaches a greedy return of 475 within its 50k steps (seed 0: 500 at 40k steps;
    IQN's per-fraction layers make each update several times a QR-DQN one, so this takes minutes)."""
    from rlkit.run import train

    from helpers import ROOT

    config = load_config(ROOT / "configs" / "cartpole_iqn.yaml", [f"run_dir={tmp_path / 'run'}",
                                                                  "train.target_return=475", "threads=1"])
    result = train(config, progress=False)
    assert result.stopped_early and result.eval_mean >= 475, result
