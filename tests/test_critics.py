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
