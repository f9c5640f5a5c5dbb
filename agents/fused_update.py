"""The DQN update of a plain MLP Q-network with the scalar or QR-DQN critic, written out as its kernels.

For a small MLP on a CPU, autograd's graph, the optimiser's Python wrapper and the per-call work of gradient
clipping cost more than the arithmetic (``scripts/bench_update.py`` splits an update into both). The network is a
chain of ``Linear`` + ``ReLU`` layers ending in a plain or dueling linear head, so its backward pass is a handful of
matrix products that can be written down: this path runs the same forward, TD target, loss (Huber/MSE, or QR-DQN's
quantile Huber loss), backward, global-norm clip and Adam step as ``DQNAgent.update``, writing gradients into
preallocated buffers and calling the fused Adam kernel on the optimiser's own state. Parameters and optimiser
state stay where the eager path keeps them, so checkpoints, resume and the eager path are interchangeable at any
update; only float rounding differs (``tests/test_fused_update.py`` checks 100 updates against the eager path).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rlkit.critics import QuantileRegression, Scalar, quantile_huber_terms
from rlkit.nets import MLP, DuelingHead, QHead, QNetwork
from rlkit.replay import Batch

from .common import clip_grad_norm

_relu_backward = torch.ops.aten.threshold_backward  # grad where the ReLU's output > 0, else 0: autograd's own rule


def fused_unsupported(agent: Any) -> str | None:
    """Why ``agent``'s update cannot take the fused path (a phrase for an error message), or None when it can."""
    network, config = agent.online, agent.config
    if getattr(agent, "precision", "fp32") != "fp32":
        return f"agent.precision={agent.precision} (fp32 only)"
    if type(agent.critic) not in (Scalar, QuantileRegression):
        return f"critic.type={config.critic.type} (the fused update has the scalar and qr critics only)"
    if config.munchausen is not None:
        return "agent.munchausen"
    if agent.obs_space.composite:
        return f"a {agent.obs_space.describe()} observation (one Box only)"
    if type(network) is not QNetwork or type(network.torso) is not MLP:
        return f"torso {config.net.torso} (mlp only)"
    if config.net.norm != "none":
        return f"net.norm={config.net.norm} (Linear and ReLU layers only)"
    if config.net.quant != "none":
        return f"net.quant={config.net.quant} (quantisation-aware layers; plain nn.Linear only)"
    if config.net.noisy:
        return "net.noisy (a noisy head; plain nn.Linear only)"
    head = network.head
    linears = [head.linear] if type(head) is QHead else [head.value, head.advantage] \
        if type(head) is DuelingHead else []
    others = [type(m).__name__ for m in [*network.torso.layers, *linears]
              if type(m) not in (nn.Flatten, nn.Linear, nn.ReLU)]
    if not linears or others:
        return f"the layers {', '.join(sorted(set(others))) or type(head).__name__} (Linear and ReLU layers only)"
    if any(p.dtype != torch.float32 for p in network.parameters()):
        return "parameters that are not float32"
    optimizer = agent.optimizer
    group = optimizer.param_groups[0]
    if (type(optimizer) is not torch.optim.Adam or len(optimizer.param_groups) != 1 or group.get("amsgrad")
            or group.get("maximize") or group.get("weight_decay") or group.get("differentiable")):
        return "an optimiser other than plain Adam"
    return None


class FusedMLPUpdate:
    """``DQNAgent.update`` for a plain MLP and the scalar or QR-DQN critic, without autograd. Build once per agent with
    ``FusedMLPUpdate(agent)`` (after ``fused_unsupported(agent)`` returned None); call with a replay ``Batch``."""

    def __init__(self, agent: Any):
        reason = fused_unsupported(agent)
        if reason is not None:
            raise ValueError(f"the fused update does not support {reason}")
        self.agent = agent
        self.critic = agent.critic
        self.quantiles = type(agent.critic) is QuantileRegression
        self.huber = not self.quantiles and agent.critic.loss_name == "huber"  # the scalar critic's loss
        self.double = bool(agent.config.double)
        self.max_grad_norm = agent.config.max_grad_norm
        self.network = agent.online
        self.parameters = list(agent.online.parameters())
        # The fused kernel is private API; without it the optimiser's own step does the same maths.
        self.kernel = getattr(torch, "_fused_adam_", None)

    # -- forward ------------------------------------------------------------------------------------------------
    @staticmethod
    def _layers(network: QNetwork) -> tuple[list[nn.Linear], Any]:
        return [m for m in network.torso.layers if type(m) is nn.Linear], network.head

    @staticmethod
    def _head_forward(head: Any, features: torch.Tensor) -> torch.Tensor:
        """(B, F) features -> (B, A, bins) outputs of a plain or dueling head."""
        count, shape = len(features), (len(features), head.num_actions, head.bins)
        if type(head) is QHead:
            return torch.addmm(head.linear.bias, features, head.linear.weight.t()).view(shape)
        value = torch.addmm(head.value.bias, features, head.value.weight.t()).view(count, 1, head.bins)
        advantage = torch.addmm(head.advantage.bias, features, head.advantage.weight.t()).view(shape)
        return advantage.sub_(advantage.mean(1, keepdim=True)).add_(value)

    def _q(self, network: QNetwork, x: torch.Tensor, keep: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Outputs (B, A, bins) of ``network`` at flat inputs ``x`` (B, D); appends each layer's input to
        ``keep``."""
        linears, head = self._layers(network)
        for linear in linears:
            if keep is not None:
                keep.append(x)
            x = torch.addmm(linear.bias, x, linear.weight.t()).relu_()
        if keep is not None:
            keep.append(x)
        return self._head_forward(head, x)

    # -- the update ---------------------------------------------------------------------------------------------
    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One gradient step; the same returns as ``DQNAgent.update``: ``loss`` () and ``td_errors`` (B,)."""
        agent = self.agent
        if agent.online is not self.network:  # the network was swapped: collect its parameters again
            self.__init__(agent)
        obs, actions, next_obs, returns, discounts, weights = agent.batch_tensors(batch)
        count = len(actions)
        x, next_x, actions = obs.reshape(count, -1).float(), next_obs.reshape(count, -1).float(), actions.view(-1, 1)

        with torch.no_grad():
            next_outputs = self._q(agent.target, next_x)
            chooser = self._q(agent.online, next_x) if self.double else next_outputs
            next_actions = self.critic.q_values(chooser).argmax(1)
            target = self.critic.td_target(next_outputs, next_actions, returns, discounts)  # (B,) or (B, N)

            inputs: list[torch.Tensor] = []
            outputs = self._q(agent.online, x, inputs)  # (B, A, bins)
            index = actions.view(-1, 1, 1).expand(-1, 1, outputs.shape[2])
            outputs_sa = outputs.gather(1, index).squeeze(1)  # (B, bins)
            per_sample, slope = (self._quantile_loss(outputs_sa, target) if self.quantiles
                                 else self._scalar_loss(outputs_sa.squeeze(1), target))
            loss = (per_sample * weights).mean()
            grad_sa = slope * (weights / count).view(-1, 1)  # dLoss / d outputs_sa, (B, bins)
            grad = torch.zeros_like(outputs).scatter_(1, index, grad_sa.unsqueeze(1))
            self._backward(grad, inputs)
            if self.max_grad_norm is not None:
                clip_grad_norm(self.parameters, self.max_grad_norm)
            self._adam()
        return {"loss": loss, "td_errors": self.critic.td_errors(outputs_sa, target)}

    def _scalar_loss(self, q_sa: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Huber (smooth L1, beta 1, as F.smooth_l1_loss) or squared TD error per sample (B,), and its slope
        d/dq (B, 1)."""
        delta = q_sa - target
        if self.huber:
            magnitude = delta.abs()
            return torch.where(magnitude < 1.0, 0.5 * delta * delta, magnitude - 0.5), delta.clamp(-1.0, 1.0)[:, None]
        return delta * delta, 2.0 * delta[:, None]

    def _quantile_loss(self, theta: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``quantile_huber_loss`` per sample (B,) of predicted quantiles theta (B, N) against the target's M
        values (B, M), and its gradient w.r.t. theta (B, N): -mean_j |tau_i - 1{u_ij < 0}| clamp(u_ij, +-kappa) /
        kappa for u = target_j - theta_i."""
        kappa = self.critic.kappa
        u, weight, huber = quantile_huber_terms(theta, target, self.critic.fractions, kappa)  # (B, N, M) each
        per_sample = (weight * huber / kappa).mean(dim=2).sum(dim=1)
        slope = (weight * u.clamp_(-kappa, kappa)).mean(dim=2).div_(-kappa)
        return per_sample, slope

    def _backward(self, grad_out: torch.Tensor, inputs: list[torch.Tensor]) -> None:
        """Gradients of the loss w.r.t. every online parameter, written into ``.grad``; grad_out: (B, A, bins)
        dLoss/doutputs, inputs: each linear layer's input (the last one the head's features)."""
        linears, head = self._layers(self.agent.online)
        features, count = inputs[-1], len(grad_out)
        if type(head) is QHead:
            grad = self._linear_backward(head.linear, grad_out.view(count, -1), features)
        else:
            # out = V + A - mean_a A per bin: dV = sum_a dout, dA = dout - mean_a dout
            grad = self._linear_backward(head.value, grad_out.sum(1), features)
            advantage = grad_out - grad_out.mean(1, keepdim=True)
            grad = grad.add_(self._linear_backward(head.advantage, advantage.view(count, -1), features))
        for index in range(len(linears) - 1, -1, -1):
            grad = _relu_backward(grad, inputs[index + 1], 0)
            grad = self._linear_backward(linears[index], grad, inputs[index], need_input=index > 0)

    @staticmethod
    def _linear_backward(linear: nn.Linear, grad_out: torch.Tensor, x: torch.Tensor,
                         need_input: bool = True) -> torch.Tensor | None:
        """Write dW = grad_out^T x and db = sum grad_out into the layer's ``.grad``; return dx = grad_out W."""
        weight, bias = linear.weight, linear.bias
        if weight.grad is None or weight.grad.shape != weight.shape:
            weight.grad, bias.grad = torch.empty_like(weight), torch.empty_like(bias)
        torch.mm(grad_out.t(), x, out=weight.grad)
        torch.sum(grad_out, 0, out=bias.grad)
        return torch.mm(grad_out, weight) if need_input else None

    def _adam(self) -> None:
        """The optimiser's Adam step on the gradients just written, on its own state."""
        optimizer = self.agent.optimizer
        state = optimizer.state
        if self.kernel is None or not state or not optimizer.defaults.get("fused"):
            optimizer.step()  # the first step creates the state the kernel then updates
            return
        group = optimizer.param_groups[0]
        params = self.parameters
        per_param = [state[p] for p in params]
        steps = [s["step"] for s in per_param]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        self.kernel(params, [p.grad for p in params], [s["exp_avg"] for s in per_param],
                    [s["exp_avg_sq"] for s in per_param], [], steps, amsgrad=False, lr=group["lr"],
                    beta1=beta1, beta2=beta2, weight_decay=0.0, eps=group["eps"], maximize=False,
                    grad_scale=None, found_inf=None)
