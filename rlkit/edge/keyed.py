"""ONNX export of agents whose observations are a Dict (one input per key) or carry an action mask (fp32).

The graph takes one named input per observation key, in the key's own dtype (uint8 images, int64 categories,
float32 vectors: the casts, one-hot encodings and scales are inside the graph), and the ``action_mask`` as a bool
input when the agent has one. Outputs: ``outputs`` (B, num_actions, bins), the raw network outputs, and
``q_values`` (B, num_actions), the critic's Q read-out with illegal actions at -1e9 (a masked agent's greedy action
is its argmax). The metadata's ``inputs`` list names, shapes and dtypes each input; the runtime
(rlkit/edge/runtime.py) feeds a dict observation to it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .graph import OPSET, OUTPUT
from .runtime import ILLEGAL_Q

Q_OUTPUT = "q_values"


class _KeyedPolicy(nn.Module):
    """Positional key tensors -> (outputs, masked Q): the network's dict input rebuilt from ``keys``."""

    def __init__(self, network: nn.Module, critic: Any, keys: list[str], mask_key: str | None, single: bool):
        super().__init__()
        self.network, self.critic, self.keys, self.mask_key, self.single = network, critic, keys, mask_key, single

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = dict(zip(self.keys, tensors))
        outputs = self.network(inputs[self.keys[0]] if self.single else inputs)
        q = self.critic.q_values(outputs)
        if self.mask_key is not None:
            q = torch.where(inputs[self.mask_key], q, torch.full_like(q, ILLEGAL_Q))
        return outputs, q


def export_keyed(agent: Any, path: Path) -> list[dict[str, Any]]:
    """Write ``agent.online`` with one input per observation key to ``path``; returns the metadata's ``inputs``
    entries ({name, shape, dtype, kind}). Raises ValueError for a network this path cannot export."""
    space = agent.obs_space
    fields = list(space.fields)
    names = [field.name or "obs" for field in fields]
    examples = []
    for field in fields:
        dtype = torch.bool if field.name == space.mask_key else getattr(torch, field.dtype)
        example = torch.zeros((1, *field.shape), dtype=dtype)
        if field.name == space.mask_key:
            example[:] = True
        examples.append(example)
    policy = _KeyedPolicy(agent.online.eval(), agent.critic, [f.name for f in fields], space.mask_key,
                          not space.composite)
    dynamic = {name: {0: "batch"} for name in names + [OUTPUT, Q_OUTPUT]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(policy, tuple(examples), str(path), dynamo=False, input_names=names,
                          output_names=[OUTPUT, Q_OUTPUT], dynamic_axes=dynamic, opset_version=OPSET)
    return [{"name": name, "key": field.name, "shape": list(field.shape),
             "dtype": "bool" if field.name == space.mask_key else field.dtype, "kind": field.kind,
             "mask": field.name == space.mask_key} for name, field in zip(names, fields)]
