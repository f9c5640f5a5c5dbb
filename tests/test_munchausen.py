"""Munchausen DQN: the target on a hand-computed example, and the agent and config around it."""

import math

import numpy as np
import pytest
import torch

from rlkit.agents.munchausen import munchausen_target
from rlkit.agents.registry import build_agent
from rlkit.config import load_config
from rlkit.errors import ConfigError
from rlkit.replay import Batch


def test_target_hand_example():
    # tau = 1: tau*log pi(a=0|s) = 1 - logsumexp([1, 2]) = -1 - ln(1 + e^-1) = -1.3133 -> clipped to -1, x alpha 0.9;
    # the soft value of s' is sum pi (q - tau log pi) = tau * logsumexp(q'/tau) = 3 + ln(1 + e^-3) = 3.0486
    q_now, q_next = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 3.0]])
    y = munchausen_target(q_now, torch.tensor([0]), q_next, torch.tensor([1.0]), torch.tensor([0.5]),
                          alpha=0.9, tau=1.0, clip=-1.0)
    assert y.item() == pytest.approx(1.0 - 0.9 + 0.5 * (3.0 + math.log(1 + math.exp(-3))), abs=1e-5)
    # the greedy action's bonus is above the clip: -ln(1 + e^-1) = -0.3133
    y = munchausen_target(q_now, torch.tensor([1]), q_next, torch.tensor([1.0]), torch.tensor([0.0]),
                          alpha=0.9, tau=1.0, clip=-1.0)
    assert y.item() == pytest.approx(1.0 - 0.9 * math.log(1 + math.exp(-1)), abs=1e-5)  # terminal: no soft value


def test_quantile_target_hand_example():
    # Quantiles at s' [[-1, 1], [2, 4]]: their means are the q' of the example above, so pi and the bonus are the
    # same. With L = logsumexp(q') = 3 + ln(1 + e^-3), quantile j's soft value is sum_a pi_a (theta_j(a) - q'_a) + L:
    # L - (pi_0 + pi_1) = L - 1 for j = 0 and L + 1 for j = 1; their mean is the scalar soft value L.
    q_now, quantiles = torch.tensor([[1.0, 2.0]]), torch.tensor([[[-1.0, 1.0], [2.0, 4.0]]])
    y = munchausen_target(q_now, torch.tensor([0]), quantiles.mean(-1), torch.tensor([1.0]), torch.tensor([0.5]),
                          alpha=0.9, tau=1.0, clip=-1.0, next_quantiles=quantiles)
    soft = 3.0 + math.log(1 + math.exp(-3))
    assert y.shape == (1, 2)
    assert y[0].tolist() == pytest.approx([0.1 + 0.5 * (soft - 1), 0.1 + 0.5 * (soft + 1)], abs=1e-5)
    # an illegal next action weighs nothing, even with huge quantiles
    legal = torch.tensor([[True, False]])
    y = munchausen_target(q_now, torch.tensor([0]), torch.tensor([[0.0, 1e9]]), torch.tensor([1.0]),
                          torch.tensor([0.5]), alpha=0.9, tau=1.0, clip=-1.0, legal_next=legal,
                          next_quantiles=torch.tensor([[[-1.0, 1.0], [1e9, 1e9]]]))
    assert y[0].tolist() == pytest.approx([0.1 - 0.5, 0.1 + 0.5], abs=1e-5)  # pi = (1, 0): theta_j(0) - q'(0)


@pytest.mark.parametrize("critic", ["{type: qr, quantiles: 5}", "{type: iqn, tau_samples: 4, tau_prime_samples: 6}"])
def test_quantile_agents_learn_from_munchausen_quantile_targets(critic):
    config = load_config(None, ["agent.net.hidden=[16]", f"agent.critic={critic}", "agent.munchausen={}"])
    agent = build_agent(config, (4,), "float32", 2, torch.device("cpu"))
    rng = np.random.default_rng(2)
    obs, next_obs = (torch.as_tensor(rng.normal(size=(16, 4)).astype(np.float32)) for _ in range(2))
    actions, returns, discounts = torch.as_tensor(rng.integers(2, size=16)), torch.ones(16), torch.full((16,), 0.9)
    target = agent.munchausen_td_target(obs, actions, next_obs, returns, discounts)
    samples = 5 if "qr" in critic else 6
    assert target.shape == (16, samples) and torch.isfinite(target).all()
    if "qr" in critic:  # fixed quantiles: the target is the quantile rule applied to the target network's outputs
        with torch.no_grad():
            now, after = agent.target(obs), agent.target(next_obs)
        expected = munchausen_target(now.mean(-1), actions, after.mean(-1), returns, discounts, 0.9, 0.03, -1.0,
                                     next_quantiles=after)
        assert torch.allclose(target, expected, atol=1e-5)
    batch = Batch(obs=obs.numpy(), actions=actions.numpy(), returns=returns.numpy(), discounts=discounts.numpy(),
                  next_obs=next_obs.numpy(), indices=np.arange(16), weights=np.ones(16, np.float32))
    metrics = agent.update(batch)
    assert metrics["td_errors"].shape == (16,) and np.isfinite(float(metrics["loss"]))


def test_small_tau_without_bonus_is_the_dqn_target():
    rng = np.random.default_rng(0)
    q_now, q_next = torch.tensor(rng.normal(size=(8, 3))), torch.tensor(rng.normal(size=(8, 3)))
    returns, discounts = torch.tensor(rng.normal(size=8)), torch.full((8,), 0.9, dtype=torch.float64)
    y = munchausen_target(q_now, torch.zeros(8, dtype=torch.int64), q_next, returns, discounts, alpha=0.0,
                          tau=1e-4)
    assert torch.allclose(y, returns + discounts * q_next.max(1).values, atol=1e-3)


def test_agent_uses_the_munchausen_target_and_config_checks():
    config = load_config(None, ["agent.net.hidden=[16]", "agent.munchausen={alpha: 0.9, tau: 0.03, clip: -1}"])
    agent = build_agent(config, (4,), "float32", 2, torch.device("cpu"))
    rng = np.random.default_rng(1)
    batch = Batch(obs=rng.normal(size=(16, 4)).astype(np.float32), actions=rng.integers(2, size=16),
                  returns=np.ones(16, np.float32), discounts=np.full(16, 0.9, np.float32),
                  next_obs=rng.normal(size=(16, 4)).astype(np.float32), indices=np.arange(16),
                  weights=np.ones(16, np.float32))
    obs, next_obs = torch.as_tensor(batch.obs), torch.as_tensor(batch.next_obs)
    with torch.no_grad():
        expected = munchausen_target(agent.q_values(batch.obs), torch.as_tensor(batch.actions),
                                     agent.critic.q_values(agent.target(next_obs)), torch.ones(16),
                                     torch.full((16,), 0.9), 0.9, 0.03, -1.0)
        q_taken = agent.q_values(batch.obs).gather(1, torch.as_tensor(batch.actions)[:, None]).squeeze(1)
    metrics = agent.update(batch)  # online == target at the start, so q_now above is the target network's too
    assert torch.allclose(metrics["td_errors"], (expected - q_taken).abs(), atol=1e-5)
    assert obs.shape == (16, 4)
    with pytest.raises(ConfigError, match="scalar, qr and iqn critics"):
        load_config(None, ["agent.munchausen={}", "agent.critic.type=c51"])
    with pytest.raises(ConfigError, match="agent.double"):
        load_config(None, ["agent.munchausen={}", "agent.double=true"])


def test_cartpole_munchausen_preset_learns(tmp_path):
    """configs/cartpole_munchausen.yaml reaches a greedy return of 475 (seed 0: at 15k env steps, ~14 s)."""
    from rlkit.run import train

    from helpers import ROOT

    config = load_config(ROOT / "configs" / "cartpole_munchausen.yaml", [f"run_dir={tmp_path / 'run'}",
                                                                         "train.target_return=475", "threads=1"])
    result = train(config, progress=False)
    assert result.stopped_early and result.eval_mean >= 475, result


@pytest.mark.slow
def test_cartpole_m_iqn_preset_learns(tmp_path):
    """configs/cartpole_m_iqn.yaml reaches a greedy return of 475 (seed 0: at 30k env steps, about two minutes)."""
    from rlkit.run import train

    from helpers import ROOT

    config = load_config(ROOT / "configs" / "cartpole_m_iqn.yaml", [f"run_dir={tmp_path / 'run'}",
                                                                    "train.target_return=475", "threads=1"])
    result = train(config, progress=False)
    assert result.stopped_early and result.eval_mean >= 475, result
