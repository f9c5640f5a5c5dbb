"""Train/eval discipline: which modules of a network read ``self.training``, and flipping just those."""

from __future__ import annotations

from torch import nn

from .heads import DuelingHead, QHead, QNetwork
from .torsos import MLP, ImpalaCNN, NatureCNN, ResidualMLP, _ImpalaStage


def mode_dependent_modules(network: nn.Module) -> list[nn.Module]:
    """The modules of ``network`` whose forward may read ``self.training`` (BatchNorm, dropout, fake-quant
    observers, anything not known to ignore it), so an agent can flip just these between eval (acting, targets)
    and train (the gradient step): flipping a whole small MLP with ``train()``/``eval()`` costs a few percent of its
    update. An empty list means the network computes the same in both modes.
    """
    return [module for module in network.modules() if type(module) not in _MODE_FREE]


def set_training(modules: list[nn.Module], training: bool) -> None:
    """Set ``training`` on exactly ``modules`` (from ``mode_dependent_modules``), not on their children."""
    for module in modules:
        module.training = training


# Modules whose forward never reads ``self.training`` (containers and stateless layers).
_MODE_FREE = (nn.Linear, nn.Conv2d, nn.ReLU, nn.Flatten, nn.Sequential, nn.Identity, nn.LayerNorm, nn.ModuleList,
              QNetwork, MLP, NatureCNN, ImpalaCNN, _ImpalaStage, ResidualMLP, QHead, DuelingHead)
