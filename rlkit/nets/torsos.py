"""Torsos: observations -> features. MLP, residual MLP (BatchNorm), Nature CNN and Impala CNN (channels-last)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn


TORSOS = ("mlp", "resmlp", "nature_cnn", "impala", "der_cnn")
CNN_TORSOS = ("nature_cnn", "impala", "der_cnn")


class MLP(nn.Module):
    """Fully connected torso. obs: (B, *obs_shape) any dtype -> features: (B, hidden[-1]) float32.

    ``norm='layer'`` puts a LayerNorm between each linear layer and its ReLU (PQN's network, Gallici et al., 2025).
    """

    def __init__(self, obs_shape: Sequence[int], hidden: Sequence[int], norm: str = "none"):
        super().__init__()
        if norm not in ("none", "layer"):
            raise ValueError(f"MLP norm must be 'none' or 'layer', got '{norm}'")
        layers: list[nn.Module] = [nn.Flatten()]
        width = int(np.prod(obs_shape))
        for size in hidden:
            layers += [nn.Linear(width, size), *([nn.LayerNorm(size)] if norm == "layer" else []), nn.ReLU()]
            width = size
        self.layers = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.layers(obs.float())


class NatureCNN(nn.Module):
    """The Nature DQN torso (Mnih et al., 2015). obs: (B, C, 84, 84) uint8 -> features: (B, 512) float32.

    uint8 frames travel to the device as uint8 (4x fewer bytes) and are scaled to [0, 1] here.
    """

    def __init__(self, obs_shape: Sequence[int]):
        super().__init__()
        channels = obs_shape[0]
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.conv(torch.zeros(1, *obs_shape)).shape[1]
        self.fc = nn.Sequential(nn.Linear(flat, 512), nn.ReLU())
        self.out_features = 512
        self.to(memory_format=torch.channels_last)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(_scaled_channels_last(obs)))


class ResidualMLP(nn.Module):
    """DeepCubeA-style torso (Agostinelli et al., 2019): Linear-BN-ReLU layers then residual blocks.

    obs: (B, *obs_shape) -> features: (B, hidden[-1]). ``hidden`` gives the widths of the plain layers (e.g.
    [5000, 1000]); each of ``blocks`` residual blocks is two Linear-BN layers of width hidden[-1] with a skip.
    """

    def __init__(self, obs_shape: Sequence[int], hidden: Sequence[int], blocks: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = int(np.prod(obs_shape))
        for size in hidden:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU()]
            width = size
        self.stem = nn.Sequential(*layers)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(),
                          nn.Linear(width, width), nn.BatchNorm1d(width))
            for _ in range(blocks)
        )
        self.out_features = width

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.stem(obs.float())
        for block in self.blocks:
            x = torch.relu(x + block(x))
        return x


class DataEfficientCNN(nn.Module):
    """Data-efficient Rainbow's torso (van Hasselt et al., 2019): conv 32 5x5 stride 5, conv 64 5x5 stride 5, dense
    256. obs: (B, C, 84, 84) uint8 -> features: (B, 256) float32 (uint8 scaled to [0, 1] on the device)."""

    def __init__(self, obs_shape: Sequence[int]):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(obs_shape[0], 32, 5, stride=5), nn.ReLU(),
                                  nn.Conv2d(32, 64, 5, stride=5), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            flat = self.conv(torch.zeros(1, *obs_shape)).shape[1]
        self.fc = nn.Sequential(nn.Linear(flat, 256), nn.ReLU())
        self.out_features = 256
        self.to(memory_format=torch.channels_last)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(_scaled_channels_last(obs)))


class ImpalaCNN(nn.Module):
    """Impala-CNN torso (Espeholt et al., 2018): three conv stages of (conv, max-pool, two residual blocks).

    obs: (B, C, H, W) uint8 or float -> features: (B, 256). uint8 is scaled to [0, 1] on the device.
    """

    def __init__(self, obs_shape: Sequence[int], channels: Sequence[int] = (16, 32, 32)):
        super().__init__()
        stages: list[nn.Module] = []
        depth = obs_shape[0]
        for out in channels:
            stages.append(_ImpalaStage(depth, out))
            depth = out
        self.stages = nn.Sequential(*stages, nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            flat = self.stages(torch.zeros(1, *obs_shape)).shape[1]
        self.fc = nn.Sequential(nn.Linear(flat, 256), nn.ReLU())
        self.out_features = 256
        self.to(memory_format=torch.channels_last)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.stages(_scaled_channels_last(obs)))


def _scaled_channels_last(obs: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) uint8 or float -> float32 (uint8 under autocast: its dtype) in channels-last memory order, uint8
    scaled to [0, 1].

    The CNN torsos keep their conv weights channels-last too: oneDNN's convolutions on CPU run a DQN update faster
    in that layout (``scripts/bench_update.py`` times the Nature CNN's update). The layout changes strides only; values,
    shapes, state dicts and checkpoints are the same as in the default layout.

    Under autocast (``agent.precision: bf16``) uint8 pixels go straight to the autocast dtype: the first
    convolution would cast a float32 batch to it anyway, and the direct cast skips writing and reading that batch
    twice. The values are the same: bf16 holds 0-255 exactly and the division rounds once, as the cast did.
    """
    obs = obs.contiguous(memory_format=torch.channels_last)  # before the cast: the copy moves 1-byte pixels
    if obs.dtype != torch.uint8:
        return obs.float()
    device = obs.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else torch.float32
    return obs.to(dtype).div_(255.0)


class _ImpalaStage(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.res = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(out_channels, out_channels, 3, padding=1))
            for _ in range(2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.conv(x))
        for block in self.res:
            x = x + block(x)
        return x
