"""Torsos for observations that are not one flat vector: one encoder per key, concatenated, then an MLP trunk.

``MultiInputTorso`` takes the per-key tensors ``ObsSpace.network_inputs`` hands out (or one tensor for a plain
space that still needs encoding, e.g. a Discrete observation):

- image keys (uint8, rank 3, channels first or last) go through a CNN: ``nature_cnn`` for images of at least
  36x36 pixels and ``small_cnn`` below (MiniGrid's 7x7 views), unless the key's torso is set;
- Discrete and MultiDiscrete keys are one-hot encoded; Box and MultiBinary keys are flattened (``flatten``), or
  get an MLP of their own (``mlp``);
- the concatenated features go through the MLP trunk of ``hidden`` widths, except for a lone image key, which
  feeds the head straight from its CNN (as the Nature DQN does).

The action mask is not an input: it never reaches these modules (agents read it for acting and targets).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from rlkit.spaces import ObsField, ObsSpace

from .torsos import MLP, DataEfficientCNN, ImpalaCNN, NatureCNN

IMAGE_TORSOS = ("nature_cnn", "impala", "der_cnn", "small_cnn")
VECTOR_TORSOS = ("flatten", "mlp")
KEY_TORSOS = ("auto",) + IMAGE_TORSOS + VECTOR_TORSOS
LARGE_IMAGE = 36  # the Nature CNN's 8x8/4, 4x4/2, 3x3/1 convolutions need at least 36 pixels a side


class SmallCNN(nn.Module):
    """A CNN for small images (MiniGrid's 7x7 agent view): three 2x2 convolutions (16, 32, 64 channels, stride 1),
    then a dense layer of 256. obs: (B, C, H, W) float -> (B, 256) float32."""

    def __init__(self, obs_shape: Sequence[int]):
        super().__init__()
        channels, height, width = obs_shape
        if min(height, width) < 4:
            raise ValueError(f"small_cnn needs images of at least 4x4, got {height}x{width}; use torso flatten")
        self.conv = nn.Sequential(nn.Conv2d(channels, 16, 2), nn.ReLU(), nn.Conv2d(16, 32, 2), nn.ReLU(),
                                  nn.Conv2d(32, 64, 2), nn.ReLU(), nn.Flatten())
        flat = 64 * (height - 3) * (width - 3)
        self.fc = nn.Sequential(nn.Linear(flat, 256), nn.ReLU())
        self.out_features = 256

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(obs.float()))


class ImageEncoder(nn.Module):
    """One image key: (B, H, W, C) or (B, C, H, W) uint8 -> scaled float, channels first -> a CNN's features."""

    def __init__(self, field: ObsField, torso: str, scale: float):
        super().__init__()
        self.channels_last = field.channels_last
        self.scale = float(scale)
        shape = field.image_chw
        cnn = {"nature_cnn": NatureCNN, "impala": ImpalaCNN, "der_cnn": DataEfficientCNN, "small_cnn": SmallCNN}
        try:
            self.cnn = cnn[torso](shape)
        except RuntimeError as error:  # a convolution larger than the image
            raise ValueError(f"torso {torso} does not fit observation key '{field.name}' of shape {field.shape} "
                             f"({str(error).splitlines()[0][:80]}); use small_cnn or flatten") from None
        self.out_features = self.cnn.out_features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            obs = obs.permute(0, 3, 1, 2)
        return self.cnn(obs.float() * self.scale)


class VectorEncoder(nn.Module):
    """One vector key: one-hot for categories, flattened floats otherwise; ``hidden`` gives it an MLP of its own.
    obs: (B, *shape) -> (B, features) float32."""

    def __init__(self, field: ObsField, hidden: Sequence[int] = (), scale: float = 1.0):
        super().__init__()
        self.kind, self.start, self.scale = field.kind, field.start, float(scale)
        self.register_buffer("offsets", _offsets(field.sizes), persistent=False)
        self.width = field.width
        self.register_buffer("categories", torch.arange(self.width), persistent=False)
        self.mlp = MLP((self.width,), hidden) if hidden else None
        self.out_features = self.mlp.out_features if self.mlp is not None else self.width

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # shapes from the tensors, never a Python batch size, so an exported graph keeps a free batch axis
        if self.kind in ("discrete", "multi_discrete"):
            # one one-hot over the concatenated categories: index = category + offset of its slot
            codes = (obs.long().reshape(obs.shape[0], -1) - self.start) + self.offsets  # (B, k)
            features = (codes.unsqueeze(-1) == self.categories).any(dim=1).float()  # (B, width)
        else:
            features = torch.flatten(obs, 1).float() * self.scale
        return features if self.mlp is None else self.mlp(features)


class MultiInputTorso(nn.Module):
    """Per-key encoders, concatenated, then the MLP trunk. inputs: {key: (B, ...)} (or one tensor for a one-field
    space) -> features (B, out_features) float32.

    Args:
        space: the agent's ObsSpace; hidden: trunk widths (and a per-key ``mlp``'s); key_torsos: {key: torso} from
        KEY_TORSOS ('auto' picks by the key's space); scales: {key: input scale} (default 1/255 for uint8 images,
        1 otherwise); norm: LayerNorm in the trunk ('layer').
    """

    def __init__(self, space: ObsSpace, hidden: Sequence[int], key_torsos: Mapping[str, str] | None = None,
                 scales: Mapping[str, float] | None = None, norm: str = "none"):
        super().__init__()
        key_torsos, scales = dict(key_torsos or {}), dict(scales or {})
        names = [f.name for f in space.inputs]
        for key in list(key_torsos) + list(scales):
            if key not in names:
                keys = ", ".join(names) if space.composite else "none: it is one unnamed space"
                raise ValueError(f"agent.net.inputs names key '{key}', which the observation does not have "
                                 f"(keys: {keys})")
        self.keys = names
        self.single = not space.composite  # the network receives a tensor, not a dict
        encoders = {}
        images = 0
        for field in space.inputs:
            torso = key_torsos.get(field.name, "auto")
            if torso == "auto":
                torso = (("nature_cnn" if min(field.image_chw[1:]) >= LARGE_IMAGE else "small_cnn")
                         if field.is_image else "flatten")
            if torso in IMAGE_TORSOS:
                if not (field.kind == "box" and len(field.shape) == 3):
                    raise ValueError(f"torso {torso} needs an image, but observation key '{field.name}' is "
                                     f"{field.kind} of shape {field.shape}; use flatten or mlp")
                default_scale = 1.0 / 255.0 if field.dtype == "uint8" else 1.0
                encoders[_module_name(field.name)] = ImageEncoder(field, torso, scales.get(field.name, default_scale))
                images += 1
            else:
                encoders[_module_name(field.name)] = VectorEncoder(field, hidden if torso == "mlp" else (),
                                                                   scales.get(field.name, 1.0))
        self.encoders = nn.ModuleDict(encoders)
        width = sum(encoder.out_features for encoder in self.encoders.values())
        lone_image = images == 1 and len(encoders) == 1
        self.trunk = None if lone_image else MLP((width,), hidden, norm)
        self.out_features = width if self.trunk is None else self.trunk.out_features

    def forward(self, inputs: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.single:
            parts = [next(iter(self.encoders.values()))(inputs)]
        else:
            parts = [encoder(inputs[key]) for key, encoder in zip(self.keys, self.encoders.values())]
        features = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return features if self.trunk is None else self.trunk(features)


def _offsets(sizes: Sequence[int]) -> torch.Tensor:
    """(1, k) start of each categorical slot in the concatenated one-hot."""
    starts = [0]
    for size in sizes[:-1]:
        starts.append(starts[-1] + int(size))
    return torch.tensor([starts], dtype=torch.long)


def _module_name(key: str) -> str:
    """A ModuleDict name for an observation key (dots are not allowed there)."""
    return "key_" + key.replace(".", "__") if key else "obs"
