"""What a replay hands an agent: a ``Batch`` of n-step transitions, and the n-step maths that builds one.

Pure numpy, no buffer state: ``n_step_returns`` is unit-tested on hand-computed windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Batch:
    """A sampled batch of (n-step) transitions; B is the batch size.

    obs: (B, *obs_shape) in the buffer's obs dtype; actions: (B,) int64;
    returns: (B,) float32, the n-step return sum_{k<m} gamma^k r_{t+k} over the m <= n_step steps taken;
    discounts: (B,) float32, gamma^m, or 0.0 when the episode terminated within the window;
    next_obs: (B, *obs_shape) observation after the m-th step (the true final obs at an episode end);
    indices: (B,) int64 flat storage slots; weights: (B,) float32 importance weights (ones when uniform).
    Treat a batch as read-only: FrameReplayBuffer returns obs and next_obs as overlapping views of one array.
    """

    obs: np.ndarray
    actions: np.ndarray
    returns: np.ndarray
    discounts: np.ndarray
    next_obs: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    def split(self, count: int) -> list["Batch"]:
        """Cut into ``count`` equal consecutive batches (views, no copy); B must be a multiple of ``count``."""
        size = len(self.actions) // count
        fields = (self.obs, self.actions, self.returns, self.discounts, self.next_obs, self.indices, self.weights)
        return [Batch(*(field[i * size:(i + 1) * size] for field in fields)) for i in range(count)]



def n_step_returns(rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, available: np.ndarray,
                   gamma_powers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-step targets' ingredients for B windows of n consecutive steps of one env each.

    rewards: (B, n) float32; terminated, truncated: (B, n) bool; available: (B,) int, how many of the n steps exist
    (>= 1; the rest lie past the newest data); gamma_powers: (n + 1,) float32, gamma**k.
    A window stops after its first terminated or truncated step. Returns (returns (B,) float32, the discounted sum
    of the steps taken; discounts (B,) float32, gamma**m or 0.0 when the last step taken terminated; steps (B,)
    int64, m, the number of steps taken).
    """
    n = rewards.shape[1]
    if n == 1:  # the common 1-step case in a few operations: the one step always exists
        return (rewards[:, 0].astype(np.float32, copy=False),
                np.where(terminated[:, 0], np.float32(0), gamma_powers[1]).astype(np.float32, copy=False),
                np.ones(len(rewards), np.int64))
    ended = terminated | truncated
    if not ended.any() and available.min() >= n:  # most batches: every window is n whole steps, none ends
        count = len(rewards)
        return ((rewards @ gamma_powers[:-1]).astype(np.float32, copy=False),
                np.full(count, gamma_powers[n], np.float32), np.full(count, n, np.int64))
    in_range = np.arange(n) < available[:, None]
    ended &= in_range
    taken = in_range & ((np.cumsum(ended, axis=1) - ended) == 0)  # up to and including the first ending
    steps = taken.sum(axis=1)
    # np.where, not a product: steps outside the window may hold any old value, inf included.
    returns = np.where(taken, rewards, np.float32(0)) @ gamma_powers[:-1]
    last_terminated = terminated[np.arange(len(steps)), steps - 1]
    discounts = np.where(last_terminated, np.float32(0), gamma_powers[steps])
    return returns.astype(np.float32, copy=False), discounts.astype(np.float32, copy=False), steps
