"""The Scalar critic on fixed tensors."""

import pytest
import torch

from rlkit.critics import Scalar


def test_q_values_and_td_target():
    critic = Scalar("huber")
    next_outputs = torch.tensor([[[1.0], [3.0]], [[5.0], [2.0]]])  # (B=2, A=2, bins=1)
    assert critic.q_values(next_outputs).tolist() == [[1.0, 3.0], [5.0, 2.0]]
    target = critic.td_target(next_outputs, torch.tensor([1, 0]), torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.0]))
    assert target.tolist() == [1.0 + 0.5 * 3.0, 2.0]  # the second transition terminated: no bootstrap


def test_losses_per_sample():
    prediction = torch.tensor([[0.0], [0.0]])
    target = torch.tensor([0.5, 3.0])
    assert Scalar("huber").loss(prediction, target).tolist() == pytest.approx([0.125, 2.5])
    assert Scalar("mse").loss(prediction, target).tolist() == pytest.approx([0.25, 9.0])
    with pytest.raises(ValueError, match="huber"):
        Scalar("l1")


from rlkit.critics import C51, HLGauss, TwoHot, project  # noqa: E402


def test_hl_gauss_target_sums_to_one_and_has_mean_y_inside_the_range():
    critic = HLGauss(bins=51, v_min=-10.0, v_max=10.0, sigma_ratio=0.75)
    assert critic.sigma == pytest.approx(0.75 * 20 / 51)
    y = torch.tensor([-4.2, 0.0, 0.37, 6.5])
    probs = critic.target_distribution(y)
    assert torch.allclose(probs.sum(1), torch.ones(4), atol=1e-6)
    assert torch.allclose(probs @ critic.support, y, atol=1e-4)
    # a hand-computed bin: mass of normal(0.37, sigma) between the edges around the centre nearest 0.37
    edges = critic.edges
    k = int(torch.bucketize(torch.tensor(0.37), edges)) - 1
    normal = torch.distributions.Normal(0.37, critic.sigma)
    expected = (normal.cdf(edges[k + 1]) - normal.cdf(edges[k])) / (normal.cdf(edges[-1]) - normal.cdf(edges[0]))
    assert probs[2, k] == pytest.approx(float(expected), rel=1e-5)


def test_two_hot_recovers_y_exactly():
    critic = TwoHot(bins=11, v_min=-5.0, v_max=5.0)
    y = torch.tensor([0.3, -5.0, 5.0, 2.0, -1.75])
    probs = critic.target_distribution(y)
    assert torch.allclose(probs @ critic.support, y, atol=1e-6)
    assert ((probs > 0).sum(1) <= 2).all()
    assert probs[0, 5].item() == pytest.approx(0.7) and probs[0, 6].item() == pytest.approx(0.3)


def test_c51_projection_three_atoms_by_hand():
    # atoms -1, 0, 1. Mass 0.2 at -1 stays; 0.3 at 0.5 splits evenly between 0 and 1; 0.5 at 3 clamps onto 1.
    projected = project(torch.tensor([[-1.0, 0.5, 3.0]]), torch.tensor([[0.2, 0.3, 0.5]]), -1.0, 1.0, 3)
    assert torch.allclose(projected, torch.tensor([[0.2, 0.15, 0.65]]))


def test_c51_td_target_conserves_mass_and_shifts():
    critic = C51(bins=5, v_min=-2.0, v_max=2.0)
    logits = torch.randn(4, 3, 5)
    target = critic.td_target(logits, torch.tensor([0, 1, 2, 0]), torch.tensor([0.0, 1.0, -7.0, 0.5]),
                              torch.tensor([1.0, 0.0, 0.9, 0.5]))
    assert torch.allclose(target.sum(1), torch.ones(4), atol=1e-6)
    assert torch.allclose(target[0], torch.softmax(logits[0, 0], -1), atol=1e-6)  # r=0, discount=1: unchanged
    assert torch.allclose(target[1], torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0]))  # terminal: a point mass at r=1
    assert target[2, 0].item() == pytest.approx(1.0)  # far below the range: all mass on v_min


def test_out_of_range_targets_give_no_nan():
    for critic in (HLGauss(21, -1.0, 1.0), TwoHot(21, -1.0, 1.0), C51(21, -1.0, 1.0)):
        extreme = torch.tensor([-1e9, 1e9, float("inf"), -float("inf")])
        probs = critic.target_distribution(extreme)
        assert torch.isfinite(probs).all() and torch.allclose(probs.sum(1), torch.ones(4), atol=1e-5)


def test_histogram_read_out_and_loss_on_fixed_tensors():
    critic = TwoHot(bins=3, v_min=-1.0, v_max=1.0)
    logits = torch.log(torch.tensor([[[0.2, 0.3, 0.5], [1.0, 1e-9, 1e-9]]]))  # (B=1, A=2, 3)
    assert torch.allclose(critic.q_values(logits), torch.tensor([[0.3, -1.0]]), atol=1e-6)
    target = torch.tensor([[0.0, 0.0, 1.0]])
    assert critic.loss(logits[:, 0], target).item() == pytest.approx(-torch.log(torch.tensor(0.5)).item())
