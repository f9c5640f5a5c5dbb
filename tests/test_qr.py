"""QR-DQN: the quantile Huber loss and the target on hand-computed examples; the critic composes with the agent."""

import numpy as np
import pytest
import torch

from rlkit.agents.registry import build_agent
from rlkit.config import load_config
from rlkit.critics import QuantileRegression, quantile_huber_loss
from rlkit.replay import Batch


def test_quantile_huber_loss_hand_examples():
    # N = 2 quantiles at tau = 0.25, 0.75, predicted [0, 1]; one target sample 0.5:
    #   u_1 = 0.5 >= 0: |0.25 - 0| * 0.5 * 0.5^2 = 0.03125;  u_2 = -0.5 < 0: |0.75 - 1| * 0.125 = 0.03125
    loss = quantile_huber_loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5]]), torch.tensor([0.25, 0.75]))
    assert loss.tolist() == pytest.approx([0.0625])
    # beyond kappa the loss is linear: N = 1 at tau 0.5, u = 3: 0.5 * (3 - 0.5) = 1.25; u = -3 gives the same
    one = torch.tensor([0.5])
    assert quantile_huber_loss(torch.tensor([[0.0]]), torch.tensor([[3.0]]), one).item() == pytest.approx(1.25)
    assert quantile_huber_loss(torch.tensor([[0.0]]), torch.tensor([[-3.0]]), one).item() == pytest.approx(1.25)
    # the loss averages over target samples and sums over predicted quantiles
    two_targets = quantile_huber_loss(torch.tensor([[0.0]]), torch.tensor([[3.0, 0.0]]), one)
    assert two_targets.item() == pytest.approx((1.25 + 0.0) / 2)
    # asymmetry: the tau = 0.9 quantile is pulled up 9x harder than down
    up = quantile_huber_loss(torch.tensor([[0.0]]), torch.tensor([[2.0]]), torch.tensor([0.9]))
    down = quantile_huber_loss(torch.tensor([[0.0]]), torch.tensor([[-2.0]]), torch.tensor([0.9]))
    assert up.item() == pytest.approx(9 * down.item())


def test_qr_critic_fractions_target_and_read_out():
    critic = QuantileRegression(quantiles=4)
    assert critic.fractions.tolist() == pytest.approx([0.125, 0.375, 0.625, 0.875])
    next_outputs = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]]])  # (B=1, A=2, N=4)
    assert critic.q_values(next_outputs).tolist() == [[0.0, 2.5]]
    target = critic.td_target(next_outputs, torch.tensor([1]), torch.tensor([1.0]), torch.tensor([0.5]))
    assert target.tolist() == [[1.5, 2.0, 2.5, 3.0]]
    assert critic.td_errors(torch.zeros(1, 4), target).tolist() == pytest.approx([2.25])


def test_quantiles_are_learned_in_order():
    """Fitting samples of a known distribution: the learned quantiles approach its true quantiles."""
    torch.manual_seed(0)
    critic = QuantileRegression(quantiles=5, kappa=0.05)  # small kappa: close to the pure quantile loss
    theta = torch.zeros(1, 5, requires_grad=True)
    optimizer = torch.optim.Adam([theta], lr=0.05)
    samples = torch.distributions.Uniform(0.0, 10.0)
    for _ in range(1500):
        loss = critic.loss(theta, samples.sample((1, 64))).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert theta.detach()[0].tolist() == pytest.approx([1.0, 3.0, 5.0, 7.0, 9.0], abs=0.35)


@pytest.mark.parametrize("extra", [[], ["agent.name=double_dueling_dqn", "agent.n_step=3"]])
def test_qr_agent_fits_a_fixed_batch(extra):
    config = load_config(None, ["agent.net.hidden=[32]", "agent.critic.type=qr", "agent.critic.quantiles=11",
                                "agent.lr=0.01", "agent.gamma=0.0", *extra])
    agent = build_agent(config, (4,), "float32", 3, torch.device("cpu"))
    assert agent.online(torch.zeros(1, 4)).shape == (1, 3, 11)
    rng = np.random.default_rng(0)
    batch = Batch(obs=rng.normal(size=(32, 4)).astype(np.float32), actions=rng.integers(3, size=32),
                  returns=rng.normal(size=32).astype(np.float32), discounts=np.zeros(32, np.float32),
                  next_obs=rng.normal(size=(32, 4)).astype(np.float32), indices=np.arange(32),
                  weights=np.ones(32, np.float32))
    first = agent.update(batch)
    for _ in range(300):
        last = agent.update(batch)
    assert last["loss"].item() < 0.2 * first["loss"].item()
    assert last["td_errors"].shape == (32,) and float(last["td_errors"].mean()) < 0.2


@pytest.mark.slow
def test_cartpole_qr_preset_learns(tmp_path):
    """configs/cartpole_qr.yaml reaches a greedy return of 475 within its 50k steps (seed 0: at 32.5k steps, 40 s)."""
    from rlkit.run import train

    from helpers import ROOT

    config = load_config(ROOT / "configs" / "cartpole_qr.yaml", [f"run_dir={tmp_path / 'run'}",
                                                                 "train.target_return=475", "threads=1"])
    result = train(config, progress=False)
    assert result.stopped_early and result.eval_mean >= 475, result
