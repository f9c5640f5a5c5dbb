"""A numpy mirror of small MLP Q-networks, for acting on the CPU without torch's per-call overhead.

Acting calls the Q-network on one observation (or a few) per env step. For a [256, 256] MLP on CartPole, torch's
module and dispatcher overhead makes that call ~150 us on these cores; the same three matrix products in numpy take
~20 us. An actor that acts greedily on every step (the low-epsilon Ape-X actors, evaluation) spends most of its
step there, so the agents route small CPU batches through this mirror.

The mirror holds numpy *views* of the network's parameters, not copies: in-place updates (the optimiser's step,
``load_state_dict``) show through without a rebuild. ``NumpyQNetwork.is_current()`` tells whether the views
still point at the parameters' current storage (``module.to`` or ``param.data = ...`` makes them stale).

Only what it can mirror exactly is mirrored: a ``QNetwork`` whose torso is ``MLP`` (Flatten, Linear, ReLU) and
whose head is ``QHead`` or ``DuelingHead``, on the CPU, read out by a ``Scalar`` or a histogram critic. Anything
else (CNN or residual torsos, quantisation-aware layers, CUDA) gets ``None`` and stays with torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .heads import DuelingHead, QHead, QNetwork
from .torsos import MLP

# Batches up to this size act through the mirror; beyond it torch's overhead is amortised and its kernels win.
MAX_BATCH = 16


class NumpyQNetwork:
    """Q-values of a mirrored network. Build with ``NumpyQNetwork.mirror(network, critic)``."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], head: dict[str, Any], sources: list[torch.Tensor],
                 support: np.ndarray | None, mean: bool = False):
        self.layers = layers  # torso (weight (out, in), bias (out,)) pairs, each followed by ReLU
        self.head = head
        self.sources = sources  # the torch parameters the views read, in network.parameters() order
        self.pointers = [p.data_ptr() for p in sources]  # their storage when the views were taken
        self.support = support  # (bins,) returns of a histogram critic; None for a scalar critic
        self.mean = mean  # a quantile critic: Q is the mean of its bins

    @classmethod
    def mirror(cls, network: nn.Module, critic: Any) -> "NumpyQNetwork | None":
        """The mirror of ``network`` read out by ``critic``, or None when it cannot be mirrored exactly."""
        if type(network) is not QNetwork or type(network.torso) is not MLP:
            return None
        sources = list(network.parameters())
        if any(p.device.type != "cpu" or p.dtype != torch.float32 for p in sources):
            return None
        if any(m.bias is None for m in network.modules() if isinstance(m, nn.Linear)):
            return None
        layers = []
        for module in network.torso.layers:
            if type(module) is nn.Linear:
                layers.append(_view(module))
            elif type(module) not in (nn.Flatten, nn.ReLU):
                return None
        head_module = network.head
        if type(head_module) is QHead and type(head_module.linear) is nn.Linear:
            head = {"linear": _view(head_module.linear)}
        elif (type(head_module) is DuelingHead and type(head_module.value) is nn.Linear
              and type(head_module.advantage) is nn.Linear):
            head = {"value": _view(head_module.value), "advantage": _view(head_module.advantage)}
        else:
            return None
        head.update(num_actions=head_module.num_actions, bins=head_module.bins)
        support = getattr(critic, "support", None)
        mean = getattr(critic, "readout", None) == "mean"
        if support is not None:
            support = support.detach().cpu().numpy().astype(np.float32)
        elif head_module.bins != 1 and not mean:
            return None
        return cls(layers, head, sources, support, mean)

    def is_current(self) -> bool:
        """True while the views still read the parameters' storage (``module.to``, ``param.data = ...`` and the like
        move it). Walking ``network.parameters()`` each call would cost as much as the forward itself, so swapping a
        Parameter object (``load_state_dict(assign=True)``) is not checked: the agent's optimiser would be stale then
        too."""
        return all(p.data_ptr() == pointer for p, pointer in zip(self.sources, self.pointers))

    def outputs(self, obs: np.ndarray) -> np.ndarray:
        """obs: (B, *obs_shape) any dtype -> network outputs (B, A, bins) float32, as ``QNetwork.forward``."""
        x = np.asarray(obs).reshape(len(obs), -1).astype(np.float32, copy=False)
        for weight, bias in self.layers:
            x = x @ weight.T + bias
            np.maximum(x, 0.0, out=x)
        head, actions, bins = self.head, self.head["num_actions"], self.head["bins"]
        if "linear" in head:
            weight, bias = head["linear"]
            return (x @ weight.T + bias).reshape(-1, actions, bins)
        value = (x @ head["value"][0].T + head["value"][1]).reshape(-1, 1, bins)
        advantage = (x @ head["advantage"][0].T + head["advantage"][1]).reshape(-1, actions, bins)
        return value + advantage - advantage.mean(axis=1, keepdims=True)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """obs: (B, *obs_shape) -> Q-values (B, A) float32, as the critic's ``q_values`` reads them."""
        outputs = self.outputs(obs)
        if self.mean:  # quantile critics: Q is the mean of the quantiles
            return outputs.mean(axis=-1)
        if self.support is None:
            return outputs[..., 0]
        logits = outputs - outputs.max(axis=-1, keepdims=True)
        probs = np.exp(logits)
        return (probs @ self.support) / probs.sum(axis=-1)


def _view(linear: nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    """numpy views of a linear layer's weight (out, in) and bias (out,), sharing the parameters' storage."""
    return linear.weight.detach().numpy(), linear.bias.detach().numpy()
