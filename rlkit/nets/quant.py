"""Quantisation-aware linear layers (int8, ternary b1.58) and ``quantize_network``, which swaps them in.

Fake quantisation: the forward pass rounds weights and activations to the grid a device would use and computes in
float, so training sees the quantisation error; the backward pass treats the rounding as the identity (the
straight-through estimator, ``x + (q(x) - x).detach()``) so gradients reach the latent float weights. These are our
own layers: ``torch.ao.quantization`` is deprecated.

    network = quantize_network(build_q_network(...), "ternary", "absmean")   # what agent.net.quant=ternary does

Grids: int8 is symmetric, ``q = clamp(round(x / s), -127, 127)`` (weights) or ``[-128, 127]`` (activations), zero point
0. Ternary is BitNet b1.58 (Ma et al., 2024, "The Era of 1-bit LLMs"): ``W_t = clamp(round(W / gamma), -1, 1)`` with
``gamma = mean|W|`` (absmean) or ``median|W|`` (absmedian), activations int8 absmax per token (per row). Biases stay
float32 (b1.58 layers have none; ours keep them so a swapped layer computes the same function family).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

INT8_MAX = 127.0
EPS = 1e-8
TERNARY_SCALES = ("absmean", "absmedian")


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Round ``x / scale`` to integers in [low, high] and scale back, with a straight-through gradient.

    scale broadcasts against x (a scalar, per-channel (C, 1) or per-row (B, 1)). Returns a tensor like x.
    """
    quantized = torch.clamp(torch.round(x / scale), low, high) * scale
    return x + (quantized - x).detach()


def int8_weight_scale(weight: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """Symmetric int8 scale absmax / 127: () per tensor or (out_features, 1) per output channel."""
    absmax = weight.detach().abs().amax(dim=1, keepdim=True) if per_channel else weight.detach().abs().max()
    return absmax.clamp(min=EPS) / INT8_MAX


def ternary_weight_scale(weight: torch.Tensor, scale: str = "absmean") -> torch.Tensor:
    """b1.58 weight scale gamma (a () tensor): mean or median of |W|."""
    magnitudes = weight.detach().abs()
    gamma = magnitudes.mean() if scale == "absmean" else magnitudes.median()
    return gamma.clamp(min=EPS)


def ternary_weights(weight: torch.Tensor, scale: str = "absmean") -> tuple[torch.Tensor, torch.Tensor]:
    """(W_t in {-1, 0, 1} as int8, gamma): what an export stores for a ternary layer. weight: (out, in)."""
    gamma = ternary_weight_scale(weight, scale)
    return torch.clamp(torch.round(weight.detach() / gamma), -1, 1).to(torch.int8), gamma


def absmax_per_token_scale(x: torch.Tensor) -> torch.Tensor:
    """b1.58 activation scale: max|x| / 127 over the features of each row. x: (B, F) -> (B, 1)."""
    return x.detach().abs().amax(dim=-1, keepdim=True).clamp(min=EPS) / INT8_MAX


class _FakeQuantLinear(nn.Linear):
    """nn.Linear whose forward uses ``quantized_weight()``: the rounded weights, recomputed only when they change.

    Weights change once per optimiser step but are read by many forwards (acting, TD targets, the update itself),
    so the rounded copy is cached. It is recomputed after a gradient reached the weight (a hook marks it stale:
    fused optimisers update in place without bumping the tensor's version counter) and whenever the version counter
    or storage changed (load_state_dict, target-network copies, ``module.to``).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self._cache: tuple[tuple, torch.Tensor] | None = None
        self._stale = True
        self._hooked: int | None = None  # id of the weight tensor the staleness hook sits on

    def quantized_weight(self) -> torch.Tensor:
        """(out_features, in_features) float32 on the weight grid; gradients pass straight through to the weight."""
        weight = self.weight
        if weight.requires_grad and self._hooked != id(weight):
            weight.register_post_accumulate_grad_hook(self._mark_stale)
            self._hooked = id(weight)
        key = (weight.data_ptr(), weight._version, weight.dtype)
        if self._stale or self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                self._cache = (key, self._quantize_weight())
            self._stale = False
        quantized = self._cache[1]
        if not torch.is_grad_enabled() or not weight.requires_grad:
            return quantized
        return weight + (quantized - weight).detach()

    def _mark_stale(self, _weight: torch.Tensor) -> None:
        self._stale = True

    def _quantize_weight(self) -> torch.Tensor:
        raise NotImplementedError


class Int8Linear(_FakeQuantLinear):
    """Linear layer with int8 fake-quant of weights (per tensor or per output channel) and of its input.

    The input scale is an exponential moving average of max|x| / 127 over training batches (updated only in
    training mode with gradients enabled, i.e. in ``agent.update``, not while acting or computing TD targets), so a
    deployment can use one fixed activation scale. Until the first update the current batch's absmax is used.
    x: (B, in_features) -> (B, out_features) float32.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, per_channel: bool = True,
                 momentum: float = 0.99):
        super().__init__(in_features, out_features, bias)
        self.per_channel = per_channel
        self.momentum = momentum
        self.register_buffer("input_absmax", torch.zeros(()))
        self.register_buffer("calibrated", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        absmax = x.detach().abs().max()
        if self.training and torch.is_grad_enabled():
            with torch.no_grad():
                blended = torch.where(self.calibrated, self.momentum * self.input_absmax + (1 - self.momentum) * absmax,
                                      absmax)
                self.input_absmax.copy_(blended)
                self.calibrated.fill_(True)
        used = torch.where(self.calibrated, self.input_absmax, absmax)
        x_q = fake_quantize(x, used.clamp(min=EPS) / INT8_MAX, -INT8_MAX - 1, INT8_MAX)
        return F.linear(x_q, self.quantized_weight(), self.bias)

    def _quantize_weight(self) -> torch.Tensor:
        scale = int8_weight_scale(self.weight, self.per_channel)
        return torch.clamp(torch.round(self.weight / scale), -INT8_MAX, INT8_MAX) * scale

    def input_scale(self) -> float:
        """The activation scale an export uses: the EMA of max|x|, / 127, rounded to float32 as forward does.

        Raises ValueError when the layer never saw a training batch (it has no fixed scale yet).
        """
        if not bool(self.calibrated):
            raise ValueError("an Int8Linear layer was never calibrated (no training update ran); train the agent first")
        return float(self.input_absmax.clamp(min=EPS) / INT8_MAX)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, int8 {'per-channel' if self.per_channel else 'per-tensor'}"


class TernaryLinear(_FakeQuantLinear):
    """BitNet b1.58 linear layer: ternary weights {-1, 0, 1} * gamma, int8 absmax-per-token activations, STE.

    x: (B, in_features) -> (B, out_features) float32. ``scale`` picks gamma: 'absmean' (the paper) or 'absmedian'.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, scale: str = "absmean"):
        super().__init__(in_features, out_features, bias)
        if scale not in TERNARY_SCALES:
            raise ValueError(f"ternary scale must be one of {', '.join(TERNARY_SCALES)}, got '{scale}'")
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_q = fake_quantize(x, absmax_per_token_scale(x), -INT8_MAX - 1, INT8_MAX)
        return F.linear(x_q, self.quantized_weight(), self.bias)

    def _quantize_weight(self) -> torch.Tensor:
        ternary, gamma = ternary_weights(self.weight, self.scale)
        return ternary.to(self.weight.dtype) * gamma

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, ternary {self.scale}"


KEEP_FP32 = ("first", "head")  # layers a quantised network may keep in fp32


def quantize_network(network: nn.Module, mode: str, scale: str = "absmean", keep_fp32: Sequence[str] = ()) -> nn.Module:
    """Swap the ``nn.Linear`` layers of ``network`` (in place) for Int8Linear or TernaryLinear with the same weights.

    mode: 'int8' or 'ternary'; scale: the ternary weight scale; keep_fp32: layers left in fp32 ('first': the
    torso's first linear layer, 'head': the head's layers), the usual way to buy accuracy with a few bytes: the
    input layer sees raw observations and the head's output grid sets the Q-value resolution. Convolutions, norms
    and activations are kept (the layer names, hence the state-dict keys of weights and biases, do not change).
    Returns the network.
    """
    if mode not in ("int8", "ternary"):
        raise ValueError(f"quantisation mode must be 'int8' or 'ternary', got '{mode}'")
    unknown = sorted(set(keep_fp32) - set(KEEP_FP32))
    if unknown:
        raise ValueError(f"keep_fp32 names layers {', '.join(KEEP_FP32)}, got {', '.join(unknown)}")
    kept = set()
    linears = [name for name, module in network.named_modules() if type(module) is nn.Linear]
    if "first" in keep_fp32 and linears:
        kept.add(linears[0])
    if "head" in keep_fp32:
        kept.update(name for name in linears if name == "head" or name.startswith("head."))
    _swap_linears(network, "", mode, scale, kept)
    return network


def _swap_linears(module: nn.Module, prefix: str, mode: str, scale: str, kept: set[str]) -> None:
    for name, child in list(module.named_children()):
        path = f"{prefix}{name}"
        if type(child) is nn.Linear:
            if path in kept:
                continue
            if mode == "int8":
                layer: nn.Linear = Int8Linear(child.in_features, child.out_features, child.bias is not None)
            else:
                layer = TernaryLinear(child.in_features, child.out_features, child.bias is not None, scale)
            layer.to(child.weight.device)
            with torch.no_grad():
                layer.weight.copy_(child.weight)
                if child.bias is not None:
                    layer.bias.copy_(child.bias)
            setattr(module, name, layer)
        else:
            _swap_linears(child, f"{path}.", mode, scale, kept)
