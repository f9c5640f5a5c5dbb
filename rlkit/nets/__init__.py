"""Q-networks: a torso that turns observations into features and a head that emits ``num_actions x bins`` outputs.

``bins`` is the critic's output width per action (1 for a scalar Q-value, m for a distributional critic), so one
network serves every value representation.

Modules: ``torsos.py``, ``heads.py`` (plain, dueling, ``QNetwork``), ``quant.py`` (int8 / ternary fake-quant layers),
``implicit.py`` (IQN's tau-conditioned network), ``noisy.py`` (noisy nets), ``modes.py`` (train/eval discipline),
``numpy_mirror.py`` (fast CPU acting); ``build_q_network`` here builds one from config values, quantised when asked.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from torch import nn

from rlkit.spaces import ObsSpace

from .heads import DuelingHead, QHead, QNetwork
from .implicit import ImplicitQuantileNetwork
from .inputs import IMAGE_TORSOS, MultiInputTorso
from .modes import mode_dependent_modules, set_training
from .noisy import NoisyLinear, noisy_head, noisy_layers, set_noise
from .quant import KEEP_FP32, Int8Linear, TernaryLinear, quantize_network
from .torsos import CNN_TORSOS, MLP, TORSOS, DataEfficientCNN, ImpalaCNN, NatureCNN, ResidualMLP

__all__ = ["CNN_TORSOS", "DataEfficientCNN", "DuelingHead", "ImpalaCNN", "ImplicitQuantileNetwork", "Int8Linear",
           "KEEP_FP32", "MLP", "NatureCNN", "QHead", "QNetwork",
           "ResidualMLP", "TORSOS", "TernaryLinear", "build_q_network", "mode_dependent_modules", "quantize_network",
           "set_training", "NoisyLinear", "noisy_head", "noisy_layers", "set_noise"]


def build_q_network(
    obs_shape: Sequence[int] | ObsSpace, num_actions: int, bins: int, torso: str, hidden: Sequence[int],
    dueling: bool, blocks: int = 0, quant: str = "none", ternary_scale: str = "absmean",
    keep_fp32: Sequence[str] = (), noisy: bool = False, sigma0: float = 0.5, implicit: bool = False,
    embedding_dim: int = 64, default_quantiles: int = 32, norm: str = "none",
    inputs: Mapping[str, tuple[str, float | None]] | None = None,
) -> nn.Module:
    """Build a Q-network from config values; ``torso`` is one of TORSOS. ``quant`` ('none', 'int8', 'ternary')
    swaps its linear layers for fake-quant ones (quantisation-aware training; ``quantize_network``), except those
    ``keep_fp32`` names; ``noisy`` makes the head's layers NoisyLinear (noisy nets; the head then stays fp32);
    ``implicit`` builds IQN's network (``ImplicitQuantileNetwork``: outputs per quantile fraction, ``bins`` unused)
    with ``embedding_dim`` cosine features and ``default_quantiles`` fixed read-out fractions; ``norm='layer'`` puts
    LayerNorm into the mlp torso (PQN). ``obs_shape`` may be an ``ObsSpace``: a Dict, Tuple or categorical space (or
    ``torso='auto'``) gets a ``MultiInputTorso``, one encoder per key, with ``inputs`` {key: (torso, scale)}.
    Raises ValueError on a misfit."""
    space = obs_shape if isinstance(obs_shape, ObsSpace) else None
    if space is not None and (not space.plain_box or torso == "auto"):
        body = _multi_input(space, torso, hidden, norm, inputs or {})
    else:
        if inputs:
            raise ValueError("net.inputs configures the keys of a Dict observation; this observation is one Box "
                             "(set net.torso=auto to use it)")
        if norm != "none" and torso != "mlp":
            raise ValueError(f"net.norm={norm} is built into the mlp torso only, not {torso}; use torso mlp or "
                             "norm none")
        body = _torso(space.shape if space is not None else obs_shape, torso, hidden, blocks, norm)
    if implicit:
        network: nn.Module = ImplicitQuantileNetwork(body, num_actions, dueling, embedding_dim, default_quantiles)
    else:
        network = QNetwork(body, num_actions, bins, dueling)
    if noisy:
        network = noisy_head(network, sigma0)
    return network if quant == "none" else quantize_network(network, quant, ternary_scale, keep_fp32)


def _multi_input(space: ObsSpace, torso: str, hidden, norm: str, inputs) -> nn.Module:
    """The per-key torso; a CNN ``torso`` is the image keys' default, ``auto``/``mlp`` let each key pick."""
    if torso == "resmlp":
        raise ValueError(f"torso resmlp takes one Box observation; this one is {space.describe()}: use torso auto")
    key_torsos = {key: value[0] for key, value in inputs.items()}
    if torso in IMAGE_TORSOS:
        for field in space.inputs:
            if field.is_image:
                key_torsos.setdefault(field.name, torso)
    scales = {key: value[1] for key, value in inputs.items() if value[1] is not None}
    return MultiInputTorso(space, hidden, key_torsos, scales, norm)


def _torso(obs_shape, torso, hidden, blocks, norm="none") -> nn.Module:
    if torso == "mlp":
        body: nn.Module = MLP(obs_shape, hidden, norm)
    elif torso == "resmlp":
        body = ResidualMLP(obs_shape, hidden, blocks)
    elif torso in CNN_TORSOS:
        if len(obs_shape) != 3:
            raise ValueError(f"{torso} needs (C, H, W) image observations, got shape {tuple(obs_shape)}; "
                             "use torso mlp")
        body = {"nature_cnn": NatureCNN, "impala": ImpalaCNN, "der_cnn": DataEfficientCNN}[torso](obs_shape)
    else:
        raise ValueError(f"unknown torso '{torso}'; use one of {', '.join(TORSOS)}")
    return body
