"""Noisy nets (Fortunato et al., 2018, "Noisy Networks for Exploration"): factorised Gaussian ``NoisyLinear`` layers.

    w = mu_w + sigma_w * (f(eps_out) f(eps_in)^T),   b = mu_b + sigma_b * f(eps_out),   f(x) = sgn(x) sqrt(|x|)

with eps ~ N(0, 1) drawn per layer by ``reset_noise``; mu ~ U(-1/sqrt(in), 1/sqrt(in)) and sigma = sigma0/sqrt(in)
(sigma0 = 0.5), the paper's factorised initialisation. ``weight`` and ``bias`` are the means mu, so anything that
reads a linear layer's parameters (ONNX export, int8 quantisation) gets the mean network, which is what a
deployment and greedy evaluation use. The noise is applied only while ``noisy`` is True: the agent switches it on
for exploring actions and for its updates, and off otherwise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class NoisyLinear(nn.Linear):
    """A linear layer with learned factorised Gaussian noise on its weights and bias. x: (B, in) -> (B, out)."""

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5):
        super().__init__(in_features, out_features, bias=True)
        bound = 1.0 / math.sqrt(in_features)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            self.bias.uniform_(-bound, bound)
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma0 * bound))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma0 * bound))
        self.register_buffer("eps_in", torch.zeros(in_features))
        self.register_buffer("eps_out", torch.zeros(out_features))
        self.noisy = False

    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        """Draw new factorised noise (eps_in, eps_out ~ N(0, 1), passed through f)."""
        device = self.weight.device
        for buffer in (self.eps_in, self.eps_out):
            sample = torch.randn(buffer.shape, generator=generator).to(device)
            buffer.copy_(sample.sign() * sample.abs().sqrt())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.noisy:
            return F.linear(x, self.weight, self.bias)
        weight = self.weight + self.weight_sigma * torch.outer(self.eps_out, self.eps_in)
        return F.linear(x, weight, self.bias + self.bias_sigma * self.eps_out)


def noisy_head(network: nn.Module, sigma0: float = 0.5) -> nn.Module:
    """Swap the linear layers of ``network.head`` (in place) for NoisyLinear ones; returns the network."""
    for module in list(network.head.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Linear:
                setattr(module, name, NoisyLinear(child.in_features, child.out_features, sigma0))
    return network


def noisy_layers(network: nn.Module) -> list[NoisyLinear]:
    """The NoisyLinear layers of ``network`` (empty for a network without noisy nets)."""
    return [module for module in network.modules() if isinstance(module, NoisyLinear)]


def set_noise(layers: list[NoisyLinear], on: bool, generator: torch.Generator | None = None) -> None:
    """Switch the noise of ``layers`` on (drawing fresh noise) or off (mean weights)."""
    for layer in layers:
        if on:
            layer.reset_noise(generator)
        layer.noisy = on
