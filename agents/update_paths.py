"""How a DQN agent's gradient step runs, as ``agent.compile`` picks it.

- ``off``: eager autograd (``DQNAgent.eager_update``), every network, critic and target rule.
- ``fused``: ``FusedMLPUpdate`` (agents/fused_update.py), the update of a plain MLP with the scalar critic written
  out as its kernels; a config asking for it on another network is an error naming what stands in the way.
- ``inductor``: the eager update's loss under ``torch.compile`` (forward and backward compiled; the clip and the
  fused Adam step stay as they are). Compiling takes seconds to tens of seconds at the first update, once per run.
- ``cuda_graph``: the eager update captured in a CUDA graph (agents/cuda_graph.py), on a CUDA device.
- ``on``: on a CUDA device the CUDA graph where the agent allows it; on a CPU fused where the network allows it;
  inductor elsewhere.
- ``auto`` (default): on a CPU fused where the network allows it, eager elsewhere. ``scripts/bench_update.py``
  measured fused the fastest for the MLPs it runs and inductor no faster than eager for them or the Nature CNN on a
  CPU, so auto does not pay compile time for it. On a GPU auto stays eager until ``bench_throughput.py --atari
  --device cuda`` has measured the CUDA graph there (no GPU was at hand when it was written).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from rlkit.device import bf16_native
from rlkit.errors import ConfigError
from rlkit.nets import CNN_TORSOS

from .cuda_graph import GraphedUpdate, graph_unsupported
from .fused_update import FusedMLPUpdate, fused_unsupported

def choose_precision(agent: Any) -> str:
    """'fp32' or 'bf16' for ``agent.config.precision``: auto is bf16 for a CNN torso on a device with bf16
    hardware (``bf16_native``), where scripts/bench_update.py measured it faster, and fp32 elsewhere; an explicit
    bf16 on a device without that hardware is an error (torch would emulate it, slower than fp32)."""
    config = agent.config
    setting = config.precision
    native = bf16_native(agent.device)
    if setting == "bf16" and not native:
        raise ConfigError(f"agent.precision=bf16 needs bf16 hardware (a CPU with AVX512-BF16 or AMX, or a CUDA "
                          f"device with bf16); this {agent.device.type} has none: use agent.precision=auto or fp32")
    if setting == "auto":
        return "bf16" if native and config.net.torso in CNN_TORSOS else "fp32"
    return setting


def choose_update_path(agent: Any) -> str:
    """The path ('eager', 'fused', 'inductor' or 'cuda_graph') ``agent.config.compile`` resolves to for this agent; raises
    ConfigError for ``fused`` on a network it cannot run."""
    setting = agent.config.compile
    if setting == "off":
        return "eager"
    if setting == "inductor":
        return "inductor"
    if setting == "cuda_graph":
        reason = graph_unsupported(agent)
        if reason is not None:
            raise ConfigError(f"agent.compile=cuda_graph does not support {reason}; use agent.compile=auto")
        return "cuda_graph"
    if setting == "on" and agent.device.type == "cuda":
        return "cuda_graph" if graph_unsupported(agent) is None else "inductor"
    reason = fused_unsupported(agent)
    if setting == "fused":
        if reason is not None:
            raise ConfigError(f"agent.compile=fused does not support {reason}; use agent.compile=auto (the fused "
                              "path where it applies, eager elsewhere) or inductor")
        return "fused"
    if reason is None and agent.device.type == "cpu":
        return "fused"
    return "inductor" if setting == "on" else "eager"


def build_update(agent: Any, path: str) -> Callable[[Any], dict[str, torch.Tensor]]:
    """The update function of ``path`` for ``agent``: called with a replay Batch, returns ``loss`` and
    ``td_errors`` as ``DQNAgent.update`` documents."""
    if path == "fused":
        return FusedMLPUpdate(agent)
    if path == "inductor":
        return _compiled_update(agent)
    if path == "cuda_graph":
        return GraphedUpdate(agent)
    return agent.eager_update


def _compiled_update(agent: Any) -> Callable[[Any], dict[str, torch.Tensor]]:
    loss_fn = torch.compile(agent.loss_and_errors, dynamic=False)

    def update(batch: Any) -> dict[str, torch.Tensor]:
        loss, td_errors = loss_fn(*agent.batch_tensors(batch))
        agent.gradient_step(loss)
        return {"loss": loss.detach(), "td_errors": td_errors}

    return update
