"""Heads: features -> ``(B, num_actions, bins)`` outputs (plain or dueling), and ``QNetwork`` = torso + head."""

from __future__ import annotations

import torch
from torch import nn


class QHead(nn.Module):
    """Plain head: features (B, F) -> outputs (B, A, bins)."""

    def __init__(self, in_features: int, num_actions: int, bins: int):
        super().__init__()
        self.num_actions, self.bins = num_actions, bins
        self.linear = nn.Linear(in_features, num_actions * bins)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features).view(-1, self.num_actions, self.bins)


class DuelingHead(nn.Module):
    """Dueling head (Wang et al., 2016): outputs = V(s) + A(s, a) - mean_a A(s, a), per bin. (B, F) -> (B, A, bins).

    For a distributional critic the combination acts on logits, as in Rainbow.
    """

    def __init__(self, in_features: int, num_actions: int, bins: int):
        super().__init__()
        self.num_actions, self.bins = num_actions, bins
        self.value = nn.Linear(in_features, bins)
        self.advantage = nn.Linear(in_features, num_actions * bins)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        value = self.value(features).view(-1, 1, self.bins)
        advantage = self.advantage(features).view(-1, self.num_actions, self.bins)
        return value + advantage - advantage.mean(dim=1, keepdim=True)


class QNetwork(nn.Module):
    """Torso + head. obs: (B, *obs_shape) -> outputs: (B, num_actions, bins) float32."""

    def __init__(self, torso: nn.Module, num_actions: int, bins: int, dueling: bool):
        super().__init__()
        self.torso = torso
        head = DuelingHead if dueling else QHead
        self.head = head(torso.out_features, num_actions, bins)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(obs))
