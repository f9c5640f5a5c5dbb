"""IQN's network (Dabney et al., 2018b, "Implicit Quantile Networks for Distributional RL").

The torso's features psi(s) (B, F) meet a cosine embedding of the quantile fractions tau (B, M):

    phi_j(tau) = ReLU(sum_{i=0}^{n-1} cos(pi i tau) w_ij + b_j),   n = ``embedding_dim`` (64 in the paper)

multiplied elementwise, then one hidden layer (F -> F, ReLU: the paper's dense layer after the merge) and a plain or
dueling head of width one, so the outputs are (B, num_actions, M): the return's quantile at each fraction, per
action, in the same layout as QR-DQN's (B, A, N). Called without fractions, the network reads out at ``K`` fixed
fractions (the midpoints (2k - 1) / 2K): a deterministic policy for greedy evaluation and export, in place of the
K *sampled* fractions the agent uses while exploring.

One difference from Dopamine's Atari network: there the merge sits between the flattened convolutions and the 512
dense layer; rlkit's torsos end with their own dense layer, so the merge comes after it and the hidden layer after
the merge is one more layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .heads import DuelingHead, QHead


class CosineEmbedding(nn.Module):
    """fractions (B, M) in [0, 1] -> embeddings (B, M, out_features): ReLU(Linear(cos(pi * i * tau), i < n))."""

    def __init__(self, embedding_dim: int, out_features: int):
        super().__init__()
        self.register_buffer("frequencies", math.pi * torch.arange(embedding_dim, dtype=torch.float32),
                             persistent=False)
        self.linear = nn.Linear(embedding_dim, out_features)

    def forward(self, fractions: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(torch.cos(fractions.unsqueeze(-1) * self.frequencies)))


class ImplicitHead(nn.Module):
    """Merged features (B*M, F) -> (B*M, num_actions, 1): one hidden layer, then a plain or dueling head."""

    def __init__(self, in_features: int, num_actions: int, dueling: bool):
        super().__init__()
        self.num_actions, self.bins = num_actions, 1
        self.hidden = nn.Linear(in_features, in_features)
        self.out = (DuelingHead if dueling else QHead)(in_features, num_actions, 1)

    def forward(self, merged: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(merged)))


class ImplicitQuantileNetwork(nn.Module):
    """obs (B, *obs_shape) and fractions (B, M) -> quantile values (B, num_actions, M) float32.

    Args:
        torso: any torso with ``out_features``; num_actions: A; dueling: the head's form;
        embedding_dim: cosine features n; default_quantiles: K, the fixed fractions used when none are given.
    """

    def __init__(self, torso: nn.Module, num_actions: int, dueling: bool, embedding_dim: int = 64,
                 default_quantiles: int = 32):
        super().__init__()
        self.torso = torso
        self.embedding = CosineEmbedding(embedding_dim, torso.out_features)
        self.head = ImplicitHead(torso.out_features, num_actions, dueling)
        midpoints = (2 * torch.arange(default_quantiles, dtype=torch.float32) + 1) / (2 * default_quantiles)
        self.register_buffer("default_fractions", midpoints, persistent=False)

    def forward(self, obs: torch.Tensor, fractions: torch.Tensor | None = None) -> torch.Tensor:
        features = self.torso(obs)  # (B, F)
        if fractions is None:
            fractions = self.default_fractions.unsqueeze(0)  # (1, K): broadcast over the batch
        count = fractions.shape[-1]
        # Shapes from -1 and the fraction count only, never the batch size, so an exported graph keeps a free batch.
        merged = features.unsqueeze(1) * self.embedding(fractions)  # (B, M, F)
        outputs = self.head(merged.reshape(-1, merged.shape[-1]))  # (B*M, A, 1)
        return outputs.reshape(-1, count, self.head.num_actions).transpose(1, 2)  # (B, A, M)
