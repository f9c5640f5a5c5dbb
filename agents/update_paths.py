"""How a DQN agent's gradient step runs, as ``agent.compile`` picks it.

- ``off``: eager autograd (``DQNAgent.eager_update``), every network, critic and target rule.
- ``fused``: ``FusedMLPUpdate`` (agents/fused_update.py), the update of a plain MLP with the scalar critic written
  out as its kernels; a config asking for it on another network is an error naming what stands in the way.
- ``inductor``: the eager update's loss under ``torch.compile`` (forward and backward compiled; the clip and the
  fused Adam step stay as they are). Compiling takes tens of seconds at the first update, once per run.
- ``on``: fused where the network allows it, inductor elsewhere.
- ``auto`` (default): fused where the network allows it, eager elsewhere. ``scripts/bench_update.py`` measured
  fused the fastest of the three for the MLPs it runs, and inductor no faster than eager for them or the Nature CNN
  on a CPU, so auto does not pay compile time for it.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from rlkit.errors import ConfigError

from .fused_update import FusedMLPUpdate, fused_unsupported

UPDATE_PATHS = ("auto", "on", "off", "fused", "inductor")


def choose_update_path(agent: Any) -> str:
    """The path ('eager', 'fused' or 'inductor') ``agent.config.compile`` resolves to for this agent; raises
    ConfigError for ``fused`` on a network it cannot run."""
    setting = getattr(agent.config, "compile", "auto")
    if setting == "off":
        return "eager"
    if setting == "inductor":
        return "inductor"
    reason = fused_unsupported(agent)
    if setting == "fused" and reason is not None:
        raise ConfigError(f"agent.compile=fused does not support {reason}; use agent.compile=auto (the fused path "
                          "where it applies, eager elsewhere) or inductor")
    if reason is None:
        return "fused"
    return "inductor" if setting == "on" else "eager"


def build_update(agent: Any, path: str) -> Callable[[Any], dict[str, torch.Tensor]]:
    """The update function of ``path`` for ``agent``: called with a replay Batch, returns ``loss`` and
    ``td_errors`` as ``DQNAgent.update`` documents."""
    if path == "fused":
        return FusedMLPUpdate(agent)
    if path == "inductor":
        return _compiled_update(agent)
    return agent.eager_update


def _compiled_update(agent: Any) -> Callable[[Any], dict[str, torch.Tensor]]:
    loss_fn = torch.compile(agent.loss_and_errors, dynamic=False)

    def update(batch: Any) -> dict[str, torch.Tensor]:
        loss, td_errors = loss_fn(*agent.batch_tensors(batch))
        agent.gradient_step(loss)
        return {"loss": loss.detach(), "td_errors": td_errors}

    return update
