"""Munchausen DQN's target (Vieillard et al., 2020, "Munchausen Reinforcement Learning"), as a pure function.

With pi = softmax(q / tau) of the target network's Q-values (the soft-greedy policy, entropy temperature tau):

    y = R + alpha * clip(tau * log pi(a | s), clip, 0) + discount * sum_a' pi(a' | s') (q'(s', a') - tau * log pi(a' | s'))

The second term (the "Munchausen" bonus) adds the agent's own scaled log-policy of the action it took; the last term
is the soft (entropy-regularised) value of s', which replaces max_a' Q'. tau * log pi = q - tau * logsumexp(q / tau)
is computed that way for stability. With n-step returns R is the n-step sum and discount gamma^n (0 at termination);
the bonus belongs to the first step of the window. The paper's values: alpha 0.9, tau 0.03, clip -1.
"""

from __future__ import annotations

import torch


def munchausen_target(q_now: torch.Tensor, actions: torch.Tensor, q_next: torch.Tensor, returns: torch.Tensor,
                      discounts: torch.Tensor, alpha: float = 0.9, tau: float = 0.03,
                      clip: float = -1.0) -> torch.Tensor:
    """q_now: (B, A) target-network Q at s; actions: (B,) int64 taken at s; q_next: (B, A) target-network Q at s';
    returns, discounts: (B,). Returns the scalar TD target y (B,)."""
    tau_log_pi_now = q_now - tau * torch.logsumexp(q_now / tau, dim=1, keepdim=True)
    bonus = tau_log_pi_now.gather(1, actions.view(-1, 1)).squeeze(1).clamp(min=clip, max=0.0)
    tau_log_pi_next = q_next - tau * torch.logsumexp(q_next / tau, dim=1, keepdim=True)
    pi_next = torch.softmax(q_next / tau, dim=1)
    soft_value = (pi_next * (q_next - tau_log_pi_next)).sum(dim=1)
    return returns + alpha * bonus + discounts * soft_value
