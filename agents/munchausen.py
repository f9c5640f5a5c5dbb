"""Munchausen DQN's target (Vieillard et al., 2020, "Munchausen Reinforcement Learning"), as a pure function.

With pi = softmax(q / tau) of the target network's Q-values (the soft-greedy policy, entropy temperature tau):

    y = R + alpha * clip(tau * log pi(a | s), clip, 0) + discount * sum_a' pi(a' | s') (q'(s', a') - tau * log pi(a' | s'))

The second term (the "Munchausen" bonus) adds the agent's own scaled log-policy of the action it took; the last term
is the soft (entropy-regularised) value of s', which replaces max_a' Q'. tau * log pi = q - tau * logsumexp(q / tau)
is computed that way for stability. With n-step returns R is the n-step sum and discount gamma^n (0 at termination);
the bonus belongs to the first step of the window. The paper's values: alpha 0.9, tau 0.03, clip -1.

With a quantile critic (QR-DQN, IQN: the paper's M-IQN) pi comes from the Q-values, the quantiles' means, and the
soft value is taken per target quantile j: y_j = R + bonus + discount * sum_a' pi(a' | s') (theta_j(s', a') - tau *
log pi(a' | s')), M target samples where the scalar rule has one.
"""

from __future__ import annotations

import torch


def munchausen_target(q_now: torch.Tensor, actions: torch.Tensor, q_next: torch.Tensor, returns: torch.Tensor,
                      discounts: torch.Tensor, alpha: float = 0.9, tau: float = 0.03,
                      clip: float = -1.0, legal_now: torch.Tensor | None = None,
                      legal_next: torch.Tensor | None = None,
                      next_quantiles: torch.Tensor | None = None) -> torch.Tensor:
    """q_now: (B, A) target-network Q at s; actions: (B,) int64 taken at s; q_next: (B, A) target-network Q at s';
    returns, discounts: (B,); legal_now / legal_next: (B, A) bool action masks at s and s' (None: every action),
    over which each softmax policy is taken; next_quantiles: (B, A, M) the target network's quantiles at s', whose
    means are q_next (None: a scalar critic). Returns the TD target: y (B,), or the M target quantiles (B, M)."""
    tau_log_pi_now = q_now - tau * torch.logsumexp(_masked(q_now, legal_now) / tau, dim=1, keepdim=True)
    bonus = tau_log_pi_now.gather(1, actions.view(-1, 1)).squeeze(1).clamp(min=clip, max=0.0)
    # illegal actions: probability 0 and a finite log-term, so their product is 0, not nan
    tau_log_pi_next = q_next - tau * torch.logsumexp(_masked(q_next, legal_next) / tau, dim=1, keepdim=True)
    pi_next = torch.softmax(_masked(q_next, legal_next) / tau, dim=1)
    if next_quantiles is None:
        soft_value = (pi_next * (q_next - tau_log_pi_next)).sum(dim=1)
        return returns + alpha * bonus + discounts * soft_value
    soft_quantiles = (pi_next.unsqueeze(-1) * (next_quantiles - tau_log_pi_next.unsqueeze(-1))).sum(dim=1)  # (B, M)
    return (returns + alpha * bonus).unsqueeze(-1) + discounts.unsqueeze(-1) * soft_quantiles


def _masked(q: torch.Tensor, legal: torch.Tensor | None) -> torch.Tensor:
    return q if legal is None else q.masked_fill(~legal, float("-inf"))
