"""PQN (Gallici et al., ICLR 2025, "Simplifying Deep Temporal Difference Learning"): Q-learning without a replay
buffer or a target network. Many vectorised envs are stepped epsilon-greedily with the current network; the rollout's
Q(lambda) returns are computed once from that same network, and the network is regressed onto them for a few epochs of
minibatches. LayerNorm in the torso (``agent.net.norm: layer``, the preset's default) is what keeps the bootstrap
from the online network stable.

The agent is a ``DQNAgent`` without a target network (``has_target_network = False``): acting, evaluation, critics,
networks and checkpoints are the family's. The data flow is ``rlkit/training/pqn_loop.py``'s.
"""

from __future__ import annotations

import numpy as np
import torch

from rlkit.critics import outputs_of_actions
from rlkit.nets import set_training

from .dqn import DQNAgent

PQN_CRITICS = ("scalar", "hl_gauss", "two_hot", "c51")  # critics whose target is a function of a scalar return


def lambda_returns(rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, next_values: np.ndarray,
                   gamma: float, lam: float) -> np.ndarray:
    """Q(lambda) returns of a rollout, backwards in time: PQN's target, Peng's Q(lambda) (no trace cut after
    exploratory actions, as in the paper).

    rewards, terminated, truncated: (T, N) for T steps of N envs; next_values: (T, N) max_a Q(s'_t, a) of each step's
    true successor (the final observation where an episode ended). With G_T := the bootstrap of the last step:

        G_t = r_t                                                   if the episode terminated at t
        G_t = r_t + gamma * v_{t+1}                                 if it was truncated at t, or t = T - 1
        G_t = r_t + gamma * ((1 - lambda) * v_{t+1} + lambda * G_{t+1})   otherwise

    so a truncated episode still bootstraps, and no return reaches across an episode boundary. Returns (T, N) float32.
    """
    rewards = np.asarray(rewards, np.float64)
    steps = len(rewards)
    returns = np.empty_like(rewards)
    following = np.zeros(rewards.shape[1:])
    for t in range(steps - 1, -1, -1):
        value = next_values[t]
        continues = (t < steps - 1) & ~terminated[t] & ~truncated[t]
        blended = np.where(continues, (1 - lam) * value + lam * following, value)
        returns[t] = rewards[t] + np.where(terminated[t], 0.0, gamma * blended)
        following = returns[t]
    return returns.astype(np.float32)


class PQNAgent(DQNAgent):
    """A Q-network trained on lambda-returns of its own rollouts (no target network, no replay).

    Same constructor as ``DQNAgent``. ``learn`` is its gradient step; ``bootstrap_values`` its value of the
    successors. ``update`` (a replay batch) is not how PQN learns and refuses.
    """

    has_target_network = False

    def __init__(self, config, obs_shape, obs_dtype, num_actions, device="cpu", seed=0, obs_space=None):
        if config.critic.type not in PQN_CRITICS:
            raise ValueError(f"pqn regresses onto scalar lambda-returns: critic.type must be one of "
                             f"{', '.join(PQN_CRITICS)}, got {config.critic.type}")
        super().__init__(config, obs_shape, obs_dtype, num_actions, device, seed, obs_space)
        self._target_of = getattr(self.critic, "target_distribution", None)  # None: the scalar critic

    @torch.no_grad()
    def bootstrap_values(self, next_obs: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """max_a Q(s', a) of the online network (greedy: mean weights), over the legal actions where the
        observation has a mask. next_obs: (M, *obs_shape) -> (M,) float32."""
        values = []
        for start in range(0, len(next_obs), chunk):
            obs = self._inputs(next_obs[start:start + chunk])
            values.append(self._legal_q(self.critic.q_values(self.forward(self.online, obs)), obs).max(1).values)
        return torch.cat(values).cpu().numpy()

    def learn(self, obs: np.ndarray, actions: np.ndarray, returns: np.ndarray) -> torch.Tensor:
        """One gradient step towards lambda-returns. obs (B, *obs_shape), actions (B,), returns (B,) -> loss (),
        a device tensor (no host sync)."""
        device = self.device
        obs_t = self._inputs(obs)
        actions_t = torch.as_tensor(actions, device=device)
        returns_t = torch.as_tensor(returns, device=device)
        target = returns_t if self._target_of is None else self._target_of(returns_t)
        set_training(self._mode_dependent, True)  # the family's discipline: train mode only inside the step
        try:
            outputs_sa = outputs_of_actions(self.forward(self.online, obs_t), actions_t)
        finally:
            set_training(self._mode_dependent, False)
        loss = self.critic.loss(outputs_sa, target).mean()
        self.gradient_step(loss)
        return loss.detach()

    def set_lr(self, lr: float) -> None:
        """Set the optimiser's learning rate (the loop's linear decay)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def update(self, batch):
        raise TypeError("a PQN agent learns from its own rollouts (PQNAgent.learn on lambda-returns), not from "
                        "replay batches")
