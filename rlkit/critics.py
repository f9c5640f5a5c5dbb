"""Value representations ("critics").

A critic says how a Q-network's outputs ``(B, A, bins)`` encode action values: its output width ``bins``, how to
read Q-values out (``q_values``), how to turn the target network's next-state outputs into a TD target in the
same representation (``td_target``), the per-sample loss between the online outputs of the taken actions and
that target (``loss``), and the per-sample TD magnitude |delta| that prioritised replay turns into priorities
(``td_errors``). Loss and priority are kept apart on purpose: a Huber loss is 0.5 delta^2 for small errors and a
cross-entropy carries the target's entropy, so neither is |delta|.

One critic, IQN's ``ImplicitQuantile``, has no fixed outputs: its network is evaluated at quantile fractions tau
that the critic samples (``implicit = True``, ``sample_fractions``), and its loss needs the fractions the online
outputs were computed at (the ``fractions`` argument of ``loss``, which the fixed critics ignore).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def outputs_of_actions(outputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Each row's outputs for its action: outputs (B, A, bins), actions (B,) int64 -> (B, bins)."""
    return outputs.gather(1, actions.view(-1, 1, 1).expand(-1, 1, outputs.shape[2])).squeeze(1)


class Scalar:
    """One output per action: Q(s, a) itself, regressed onto r + gamma^n Q'(s', a') with Huber or MSE.

    Args:
        loss: 'huber' (smooth L1 with delta 1, as in Nature DQN) or 'mse'.
    """

    bins = 1
    implicit = False

    def __init__(self, loss: str = "huber"):
        if loss not in ("huber", "mse"):
            raise ValueError(f"scalar critic loss must be 'huber' or 'mse', got '{loss}'")
        self.loss_name = loss

    def to(self, device: torch.device | str) -> "Scalar":
        """No constant tensors to move; present so every critic has the same interface."""
        return self

    def q_values(self, outputs: torch.Tensor) -> torch.Tensor:
        """outputs: (B, A, 1) -> Q-values (B, A)."""
        return outputs.squeeze(-1)

    def td_target(
        self,
        next_outputs: torch.Tensor,
        next_actions: torch.Tensor,
        rewards: torch.Tensor,
        discounts: torch.Tensor,
    ) -> torch.Tensor:
        """TD target y = r + discount * Q'(s', a').

        next_outputs: (B, A, 1) target-network outputs at s'; next_actions: (B,) int64 (chosen by the online net
        for Double DQN, by the target net otherwise); rewards: (B,) n-step sums; discounts: (B,) gamma^n, zero at
        termination. Returns (B,) float32.
        """
        next_q = outputs_of_actions(next_outputs, next_actions).squeeze(-1)
        return rewards + discounts * next_q

    def loss(self, outputs_sa: torch.Tensor, target: torch.Tensor, fractions: None = None) -> torch.Tensor:
        """outputs_sa: (B, 1) online outputs of the taken actions; target: (B,). Returns per-sample loss (B,)."""
        prediction = outputs_sa.squeeze(-1)
        if self.loss_name == "huber":
            return F.smooth_l1_loss(prediction, target, reduction="none")
        return F.mse_loss(prediction, target, reduction="none")

    def td_errors(self, outputs_sa: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """|y - Q(s, a)|: outputs_sa (B, 1), target (B,) -> (B,), whatever the loss."""
        return (target - outputs_sa.squeeze(-1)).abs()


class _Histogram:
    """Shared read-out and loss of the critics that put a categorical distribution over ``bins`` fixed returns.

    Subclasses set ``support`` (bins,) and implement ``target_distribution``. Outputs are logits (B, A, bins);
    Q is the expectation of the softmax over the support; the loss is cross-entropy to the target distribution.
    """

    support: torch.Tensor
    implicit = False

    def __init__(self, bins: int, v_min: float, v_max: float):
        if bins < 2 or not v_min < v_max:
            raise ValueError(f"need bins >= 2 and v_min < v_max, got bins={bins}, v_min={v_min}, v_max={v_max}")
        self.bins, self.v_min, self.v_max = int(bins), float(v_min), float(v_max)

    def to(self, device: torch.device | str) -> "_Histogram":
        """Move the critic's constant tensors to ``device`` (the agent calls this once)."""
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        return self

    def q_values(self, outputs: torch.Tensor) -> torch.Tensor:
        """outputs: (B, A, bins) logits -> Q-values (B, A), the expected return under softmax(outputs)."""
        return torch.softmax(outputs, dim=-1) @ self.support

    def td_target(self, next_outputs, next_actions, rewards, discounts) -> torch.Tensor:
        """Target distribution (B, bins) of the scalar TD target r + discount * Q'(s', a') (see Scalar.td_target)."""
        next_logits = outputs_of_actions(next_outputs, next_actions)
        next_q = torch.softmax(next_logits, dim=-1) @ self.support
        return self.target_distribution(rewards + discounts * next_q)

    def loss(self, outputs_sa: torch.Tensor, target: torch.Tensor, fractions: None = None) -> torch.Tensor:
        """Cross-entropy. outputs_sa: (B, bins) logits; target: (B, bins) probabilities. Returns (B,)."""
        return -(target * F.log_softmax(outputs_sa, dim=-1)).sum(dim=-1)

    def td_errors(self, outputs_sa: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """|E[target] - E[prediction]|, the scalar TD error of the two expectations over the support.

        outputs_sa: (B, bins) logits; target: (B, bins) probabilities -> (B,), in return units like Scalar's.
        Why not the cross-entropy (Hessel et al. prioritise by the KL; Dopamine's Rainbow by sqrt(cross-entropy)):
        the cross-entropy is bounded below by the target's entropy, which for HL-Gauss's Gaussian targets is a
        floor of ~1.2 nats under every sample, so priorities flatten towards uniform; and it is blind to *where*
        the mass is (a target one bin away costs as much as one at the far end of the support). The expectation
        gap is zero exactly when the Q-value is right, scales with the return error as the scalar critic's does,
        and so makes PER's alpha and eps mean the same thing for every critic.
        """
        predicted = torch.softmax(outputs_sa, dim=-1) @ self.support
        return (target @ self.support - predicted).abs()

    def target_distribution(self, values: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class HLGauss(_Histogram):
    """Histogram loss with a Gaussian target (Imani & White, 2018; Farebrother et al., 2024).

    ``bins`` bins over [v_min, v_max] (edges ``linspace(v_min, v_max, bins + 1)``, support = bin centres); a scalar
    target y, clamped into the range, becomes the mass of normal(y, sigma) in each bin, from the CDF at the edges,
    renormalised over [v_min, v_max]. sigma = ``sigma_ratio`` x bin width (0.75 by default, as the paper advises).
    """

    def __init__(self, bins: int = 51, v_min: float = -10.0, v_max: float = 10.0, sigma_ratio: float = 0.75):
        super().__init__(bins, v_min, v_max)
        self.edges = torch.linspace(v_min, v_max, bins + 1)
        self.support = (self.edges[:-1] + self.edges[1:]) / 2
        self.sigma = sigma_ratio * (v_max - v_min) / bins

    def target_distribution(self, values: torch.Tensor) -> torch.Tensor:
        """values: (B,) scalars -> (B, bins) probabilities."""
        values = values.clamp(self.v_min, self.v_max)
        cdf = torch.special.ndtr((self.edges - values.unsqueeze(-1)) / self.sigma)  # (B, bins + 1)
        mass = cdf[:, 1:] - cdf[:, :-1]
        return mass / (cdf[:, -1:] - cdf[:, :1]).clamp_min(1e-12)


class TwoHot(_Histogram):
    """Two-hot encoding (Schrittwieser et al., 2020): y is split between its two neighbouring atoms of
    ``linspace(v_min, v_max, bins)`` in proportion to closeness, so the expectation recovers y exactly.
    """

    def __init__(self, bins: int = 51, v_min: float = -10.0, v_max: float = 10.0):
        super().__init__(bins, v_min, v_max)
        self.support = torch.linspace(v_min, v_max, bins)

    def target_distribution(self, values: torch.Tensor) -> torch.Tensor:
        """values: (B,) scalars -> (B, bins) probabilities with at most two non-zero entries per row."""
        return _split_onto_atoms(values, torch.ones_like(values).unsqueeze(-1), self.v_min, self.v_max, self.bins)


class C51(_Histogram):
    """Categorical DQN (Bellemare et al., 2017): the target is the distribution of r + discount * z under the next
    state's predicted distribution, projected back onto the fixed atoms z = ``linspace(v_min, v_max, bins)``.
    """

    def __init__(self, bins: int = 51, v_min: float = -10.0, v_max: float = 10.0):
        super().__init__(bins, v_min, v_max)
        self.support = torch.linspace(v_min, v_max, bins)

    def td_target(self, next_outputs, next_actions, rewards, discounts) -> torch.Tensor:
        """Projected target distribution (B, bins) of r + discount * z with z ~ softmax(next_outputs[a'])."""
        next_logits = outputs_of_actions(next_outputs, next_actions)
        next_probs = torch.softmax(next_logits, dim=-1)
        shifted = rewards.unsqueeze(-1) + discounts.unsqueeze(-1) * self.support  # (B, bins)
        return project(shifted, next_probs, self.v_min, self.v_max, self.bins)

    def target_distribution(self, values: torch.Tensor) -> torch.Tensor:
        """A point mass at each scalar in ``values`` (B,), projected onto the atoms: (B, bins)."""
        return _split_onto_atoms(values, torch.ones_like(values).unsqueeze(-1), self.v_min, self.v_max, self.bins)


def project(values: torch.Tensor, probs: torch.Tensor, v_min: float, v_max: float, bins: int) -> torch.Tensor:
    """Categorical projection: mass ``probs`` (B, K) at ``values`` (B, K) onto ``linspace(v_min, v_max, bins)``.

    Each value is clamped into [v_min, v_max] and its mass split linearly between the two nearest atoms; total
    mass is conserved. Returns (B, bins).
    """
    return _split_onto_atoms(values.reshape(len(values), -1), probs, v_min, v_max, bins)


def _split_onto_atoms(values, probs, v_min, v_max, bins):
    values = values.reshape(len(probs), -1).clamp(v_min, v_max)
    position = (values - v_min) / ((v_max - v_min) / (bins - 1))  # fractional atom index in [0, bins - 1]
    lower = position.floor().clamp(0, bins - 2)
    upper_weight = position - lower  # 1 exactly when position lands on the top atom
    target = torch.zeros(len(probs), bins, dtype=probs.dtype, device=probs.device)
    target.scatter_add_(1, lower.long(), probs * (1 - upper_weight))
    target.scatter_add_(1, lower.long() + 1, probs * upper_weight)
    return target


class _Quantiles:
    """What QR-DQN and IQN share: outputs (B, A, M) are return quantiles, Q is their mean, the target is the M values
    r + discount * theta'(s', a'), and |TD| is the gap between the two means."""

    readout = "mean"  # how a deployment reads Q out of the outputs (rlkit.nets.numpy_mirror, rlkit.edge.runtime)

    def q_values(self, outputs: torch.Tensor) -> torch.Tensor:
        """outputs: (B, A, M) quantile estimates -> Q-values (B, A), their mean."""
        return outputs.mean(dim=-1)

    def td_target(self, next_outputs, next_actions, rewards, discounts) -> torch.Tensor:
        """Target quantiles (B, M): r + discount * theta'(s', a') for each of the next action's M quantiles."""
        return rewards.unsqueeze(-1) + discounts.unsqueeze(-1) * outputs_of_actions(next_outputs, next_actions)

    def td_errors(self, outputs_sa: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """|mean(target) - mean(prediction)| (B,), the scalar TD error of the two Q-values (as for the histograms)."""
        return (target.mean(dim=-1) - outputs_sa.mean(dim=-1)).abs()


class QuantileRegression(_Quantiles):
    """QR-DQN (Dabney et al., 2018a, "Distributional RL with Quantile Regression"): ``bins`` = N estimates
    theta_1..theta_N of the return's quantiles at the fractions tau_i = (2i - 1) / (2N); Q is their mean. The target
    is the N values r + discount * theta'_j(s', a'), and the loss the quantile Huber loss with kappa (1 in the paper).

    Args:
        quantiles: N, the network's outputs per action; kappa: the Huber threshold.
    """

    implicit = False

    def __init__(self, quantiles: int = 200, kappa: float = 1.0):
        if quantiles < 1 or kappa <= 0:
            raise ValueError(f"need quantiles >= 1 and kappa > 0, got quantiles={quantiles}, kappa={kappa}")
        self.bins, self.kappa = int(quantiles), float(kappa)
        self.fractions = (2 * torch.arange(self.bins, dtype=torch.float32) + 1) / (2 * self.bins)

    def to(self, device: torch.device | str) -> "QuantileRegression":
        self.fractions = self.fractions.to(device)
        return self

    def loss(self, outputs_sa: torch.Tensor, target: torch.Tensor, fractions: None = None) -> torch.Tensor:
        """Quantile Huber loss per sample: outputs_sa (B, N) predicted, target (B, M) -> (B,)."""
        return quantile_huber_loss(outputs_sa, target, self.fractions, self.kappa)


def quantile_huber_loss(predicted: torch.Tensor, target: torch.Tensor, fractions: torch.Tensor,
                        kappa: float = 1.0) -> torch.Tensor:
    """rho^kappa_tau of Dabney et al. (2018a), summed over the predicted quantiles, averaged over the target ones.

    predicted: (B, N) quantiles at ``fractions``, (N,) shared by every row (QR-DQN) or (B, N) per row (IQN's
    sampled tau); target: (B, M) samples (no gradient flows into them).
    For u = target_j - predicted_i: |tau_i - 1{u < 0}| * huber_kappa(u) / kappa. Returns (B,).
    """
    u, weight, huber = quantile_huber_terms(predicted, target, fractions, kappa)
    return (weight * huber / kappa).mean(dim=2).sum(dim=1)


def quantile_huber_terms(predicted: torch.Tensor, target: torch.Tensor, fractions: torch.Tensor,
                         kappa: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pairwise parts of ``quantile_huber_loss``, each (B, N, M): u = target_j - predicted_i, the asymmetric
    weight |tau_i - 1{u < 0}| (no gradient) and huber_kappa(u). The fused update builds the loss's gradient from
    the same u and weight."""
    u = target.detach().unsqueeze(1) - predicted.unsqueeze(2)  # (B, N, M)
    magnitude = u.abs()
    huber = torch.where(magnitude <= kappa, 0.5 * u.pow(2), kappa * (magnitude - 0.5 * kappa))
    weight = (fractions.unsqueeze(-1) - (u.detach() < 0).to(u.dtype)).abs()  # (N, 1) or (B, N, 1) broadcasts
    return u, weight, huber


class ImplicitQuantile(_Quantiles):
    """IQN (Dabney et al., 2018b): the network maps (s, tau) to the tau-quantile of the return, for fractions tau
    sampled uniformly per update: N for the online outputs, N' for the target ones, K for acting (64, 64, 32 in the
    paper). The loss is QR-DQN's quantile Huber loss at the sampled fractions; Q is the mean over the fractions.

    ``bins`` is 1: the network's width per action per fraction (``rlkit.nets.implicit``).
    """

    bins = 1
    implicit = True

    def __init__(self, tau_samples: int = 64, tau_prime_samples: int = 64, act_samples: int = 32,
                 kappa: float = 1.0, embedding_dim: int = 64):
        if min(tau_samples, tau_prime_samples, act_samples, embedding_dim) < 1 or kappa <= 0:
            raise ValueError("IQN needs tau_samples, tau_prime_samples, act_samples, embedding_dim >= 1 and kappa > 0")
        self.counts = {"online": int(tau_samples), "target": int(tau_prime_samples), "act": int(act_samples)}
        self.kappa, self.embedding_dim = float(kappa), int(embedding_dim)
        self.device = torch.device("cpu")

    def to(self, device: torch.device | str) -> "ImplicitQuantile":
        self.device = torch.device(device)
        return self

    def sample_fractions(self, batch: int, role: str, generator: torch.Generator | None = None) -> torch.Tensor:
        """(batch, count) fractions ~ U(0, 1) for ``role`` ('online': N, 'target': N', 'act': K)."""
        return torch.rand(batch, self.counts[role], generator=generator, device=self.device)

    def loss(self, outputs_sa: torch.Tensor, target: torch.Tensor,
             fractions: torch.Tensor | None = None) -> torch.Tensor:
        """Quantile Huber loss: outputs_sa (B, N) at ``fractions`` (B, N) (required), target (B, N') -> (B,)."""
        if fractions is None:
            raise ValueError("the IQN loss needs the fractions the online outputs were computed at")
        return quantile_huber_loss(outputs_sa, target, fractions, self.kappa)


CRITICS = ("scalar", "hl_gauss", "two_hot", "c51", "qr", "iqn")
QUANTILE_CRITICS = ("qr", "iqn")  # outputs are return quantiles (B, A, M), their mean is Q


def build_critic(critic_config):
    """Build the critic a ``CriticConfig`` names (``type`` plus its parameters)."""
    kind = critic_config.type
    if kind == "scalar":
        return Scalar(critic_config.loss)
    if kind == "hl_gauss":
        return HLGauss(critic_config.bins, critic_config.v_min, critic_config.v_max, critic_config.sigma_ratio)
    if kind == "two_hot":
        return TwoHot(critic_config.bins, critic_config.v_min, critic_config.v_max)
    if kind == "c51":
        return C51(critic_config.bins, critic_config.v_min, critic_config.v_max)
    if kind == "qr":
        return QuantileRegression(critic_config.quantiles, critic_config.kappa)
    if kind == "iqn":
        return ImplicitQuantile(critic_config.tau_samples, critic_config.tau_prime_samples,
                                critic_config.act_samples, critic_config.kappa, critic_config.embedding_dim)
    raise ValueError(f"unknown critic type '{kind}'; use one of {', '.join(CRITICS)}")
