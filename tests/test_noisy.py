"""Noisy nets: factorised noise statistics, mean weights for greedy evaluation, trained noise parameters."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rlkit.agents.registry import build_agent
from rlkit.config import load_config
from rlkit.nets import NoisyLinear, noisy_layers
from rlkit.nets.numpy_mirror import NumpyQNetwork
from rlkit.replay import Batch


def test_factorised_noise_statistics_and_initialisation():
    torch.manual_seed(0)
    layer = NoisyLinear(400, 300, sigma0=0.5)
    bound = 1 / 20  # 1 / sqrt(400)
    assert layer.weight.abs().max() <= bound and torch.allclose(layer.weight_sigma, torch.full((300, 400), 0.5 * bound))
    samples = []
    for _ in range(20):
        layer.reset_noise()
        samples.append(torch.cat([layer.eps_in, layer.eps_out]))
    eps = torch.cat(samples)
    # f(x) = sgn(x) sqrt|x| of standard normals: mean 0, E[f^2] = E|x| = sqrt(2 / pi)
    assert abs(eps.mean().item()) < 0.03 and abs(eps.pow(2).mean().item() - np.sqrt(2 / np.pi)) < 0.03
    x = torch.randn(5, 400)
    layer.noisy = True
    expected = F.linear(x, layer.weight + layer.weight_sigma * torch.outer(layer.eps_out, layer.eps_in),
                        layer.bias + layer.bias_sigma * layer.eps_out)
    assert torch.allclose(layer(x), expected, atol=1e-6)
    layer.noisy = False
    assert torch.allclose(layer(x), F.linear(x, layer.weight, layer.bias))  # the mean weights


def _agent(*overrides):
    config = load_config(None, ["agent.net.hidden=[16]", "agent.net.noisy=true", *overrides])
    return build_agent(config, (4,), "float32", 3, torch.device("cpu"))


def _batch(rng):
    return Batch(obs=rng.normal(size=(32, 4)).astype(np.float32), actions=rng.integers(3, size=32),
                 returns=rng.normal(size=32).astype(np.float32), discounts=np.full(32, 0.9, np.float32),
                 next_obs=rng.normal(size=(32, 4)).astype(np.float32), indices=np.arange(32),
                 weights=np.ones(32, np.float32))


def test_exploring_actions_are_noisy_and_greedy_evaluation_uses_the_mean_weights():
    torch.manual_seed(0)
    agent = _agent("agent.net.sigma0=5.0", "agent.dueling=true")
    assert len(noisy_layers(agent.online)) == 2 and NumpyQNetwork.mirror(agent.online, agent.critic) is None
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    greedy = [agent.act(obs, 0.0) for _ in range(3)]
    assert all(np.array_equal(greedy[0], g) for g in greedy)  # not exploring: deterministic, mean weights
    with torch.no_grad():
        mean_q = agent.critic.q_values(agent.online(torch.as_tensor(obs)))
    assert np.array_equal(greedy[0], mean_q.argmax(1).numpy())
    agent.exploring = True
    noisy = [agent.act(obs, 0.0) for _ in range(5)]
    assert any(not np.array_equal(noisy[0], n) for n in noisy[1:])  # fresh noise at every acting step
    assert not any(layer.noisy for layer in noisy_layers(agent.online))  # switched off again after acting


def test_noise_parameters_are_trained():
    torch.manual_seed(1)
    agent = _agent("agent.lr=0.01")
    sigma = [layer.weight_sigma.detach().clone() for layer in noisy_layers(agent.online)]
    agent.update(_batch(np.random.default_rng(1)))
    after = [layer.weight_sigma.detach() for layer in noisy_layers(agent.online)]
    assert all(not torch.equal(a, b) for a, b in zip(sigma, after))
    assert all(layer.weight_sigma.grad is not None and layer.weight_sigma.grad.abs().sum() > 0
               for layer in noisy_layers(agent.online))


@pytest.mark.slow
def test_cartpole_noisy_preset_learns_without_epsilon(tmp_path):
    """configs/cartpole_noisy.yaml (epsilon 0) reaches a greedy return of 475 (seed 0: at 20k env steps, ~28 s)."""
    from rlkit.run import train

    from helpers import ROOT

    config = load_config(ROOT / "configs" / "cartpole_noisy.yaml", [f"run_dir={tmp_path / 'run'}",
                                                                    "train.target_return=475", "threads=1"])
    assert config.exploration.start == config.exploration.end == 0.0
    result = train(config, progress=False)
    assert result.stopped_early and result.eval_mean >= 475, result
