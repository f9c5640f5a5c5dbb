"""Value representations ("critics").

A critic says how a Q-network's outputs ``(B, A, bins)`` encode action values: its output width ``bins``, how to
read Q-values out (``q_values``), how to turn the target network's next-state outputs into a TD target in the
same representation (``td_target``), and the per-sample loss between the online outputs of the taken actions and
that target (``loss``). Losses stay per-sample so prioritised replay can use them as priorities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Scalar:
    """One output per action: Q(s, a) itself, regressed onto r + gamma^n Q'(s', a') with Huber or MSE.

    Args:
        loss: 'huber' (smooth L1 with delta 1, as in Nature DQN) or 'mse'.
    """

    bins = 1

    def __init__(self, loss: str = "huber"):
        if loss not in ("huber", "mse"):
            raise ValueError(f"scalar critic loss must be 'huber' or 'mse', got '{loss}'")
        self.loss_name = loss

    def q_values(self, outputs: torch.Tensor) -> torch.Tensor:
        """outputs: (B, A, 1) -> Q-values (B, A)."""
        return outputs.squeeze(-1)

    def td_target(
        self,
        next_outputs: torch.Tensor,
        next_actions: torch.Tensor,
        rewards: torch.Tensor,
        discounts: torch.Tensor,
    ) -> torch.Tensor:
        """TD target y = r + discount * Q'(s', a').

        next_outputs: (B, A, 1) target-network outputs at s'; next_actions: (B,) int64 (chosen by the online net
        for Double DQN, by the target net otherwise); rewards: (B,) n-step sums; discounts: (B,) gamma^n, zero at
        termination. Returns (B,) float32.
        """
        next_q = next_outputs.squeeze(-1).gather(1, next_actions.unsqueeze(1)).squeeze(1)
        return rewards + discounts * next_q

    def loss(self, outputs_sa: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """outputs_sa: (B, 1) online outputs of the taken actions; target: (B,). Returns per-sample loss (B,)."""
        prediction = outputs_sa.squeeze(-1)
        if self.loss_name == "huber":
            return F.smooth_l1_loss(prediction, target, reduction="none")
        return F.mse_loss(prediction, target, reduction="none")


def build_critic(critic_config) -> Scalar:
    """Build the critic named by a ``CriticConfig`` (``type`` and its parameters)."""
    if critic_config.type == "scalar":
        return Scalar(critic_config.loss)
    raise ValueError(f"unknown critic type '{critic_config.type}'")
