"""Priorities are |TD error|, not the loss: every critic's ``td_errors`` on hand examples, and the priorities a
prioritised replay holds after one agent update equal (|delta| + eps)^alpha."""

import numpy as np
import pytest
import torch

from rlkit.agents.registry import build_agent
from rlkit.config import load_config
from rlkit.critics import C51, HLGauss, Scalar, TwoHot
from rlkit.replay import build_replay


@pytest.mark.parametrize("loss", ["huber", "mse"])
def test_scalar_td_errors_are_absolute_errors_whatever_the_loss(loss):
    prediction = torch.tensor([[0.0], [0.0], [2.0]])
    target = torch.tensor([0.01, 3.0, -1.0])
    assert Scalar(loss).td_errors(prediction, target).tolist() == pytest.approx([0.01, 3.0, 3.0])


def test_histogram_td_errors_are_the_gap_between_expectations():
    # support [-1, 0, 1]; uniform logits predict 0; a two-hot target of 0.5 expects 0.5 and one of -1 expects -1
    for critic in (TwoHot(bins=3, v_min=-1.0, v_max=1.0), C51(bins=3, v_min=-1.0, v_max=1.0)):
        target = critic.target_distribution(torch.tensor([0.5, -1.0]))
        logits = torch.zeros(2, 3)
        assert critic.td_errors(logits, target).tolist() == pytest.approx([0.5, 1.0])
    # a prediction equal to its target has no TD error, although its cross-entropy does not vanish
    hl = HLGauss(bins=51, v_min=-10.0, v_max=10.0)
    target = hl.target_distribution(torch.tensor([2.0]))
    logits = target.clamp_min(1e-30).log()
    assert hl.td_errors(logits, target).item() == pytest.approx(0.0, abs=1e-5)
    assert hl.loss(logits, target).item() > 1.0  # the entropy floor that made PER close to uniform


CRITICS = [
    ["agent.critic.type=scalar", "agent.critic.loss=huber"],
    ["agent.critic.type=scalar", "agent.critic.loss=mse"],
    ["agent.critic.type=hl_gauss"],
    ["agent.critic.type=two_hot"],
    ["agent.critic.type=c51"],
    ["agent.critic.type=qr", "agent.critic.quantiles=5"],
]


@pytest.mark.parametrize("critic", CRITICS, ids=lambda c: "-".join(o.split("=")[1] for o in c))
def test_priorities_after_an_update_are_abs_td_error_plus_eps_to_the_alpha(critic):
    config = load_config(None, ["agent.net.hidden=[16]", "agent.gamma=0.0", *critic])
    agent = build_agent(config, (3,), "float32", 2, torch.device("cpu"))
    alpha, eps = 0.6, 0.01
    replay = build_replay(8, (3,), "float32", 1, gamma=0.0, prioritized=True, alpha=alpha, eps=eps, seed=0)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(9, 1, 3)).astype(np.float32)
    rewards = np.array([0.01, 3.0, -2.0, 0.5, 1.5, -0.2, 4.0, -3.5], np.float32)
    for t in range(8):  # gamma = 0: every TD target is the step's reward
        replay.add(obs[t], np.array([t % 2]), rewards[t:t + 1], obs[t + 1], np.array([False]), np.array([False]))
    batch = replay.gather(np.arange(8))
    q_taken = agent.q_values(batch.obs).gather(1, torch.as_tensor(batch.actions)[:, None]).squeeze(1).numpy()
    delta = np.abs(rewards - q_taken)  # before the update: the errors the update saw

    metrics = agent.update(batch)
    replay.update_priorities(batch.indices, metrics["td_errors"])

    expected = (delta + eps) ** alpha
    assert replay.tree.values() == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert agent.priorities(batch) == pytest.approx(np.abs(rewards - agent.q_values(batch.obs).gather(
        1, torch.as_tensor(batch.actions)[:, None]).squeeze(1).numpy()), rel=1e-4, abs=1e-5)
