"""Reward noise: a wrapper that adds zero-mean Gaussian noise to every reward, and the noisy CartPole built on it.

The critic study (scripts/critic_study.py) uses ``rlkit/NoisyCartPole-v1`` to test the claim of Farebrother et al.
(2024) that classification losses (HL-Gauss) are more robust than regression to noisy targets. Episode statistics
and evaluation report the noisy sum; its expectation equals the clean return.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class GaussianRewardNoise(gym.Wrapper):
    """reward + normal(0, sigma), drawn from the env's own seeded RNG so runs stay reproducible."""

    def __init__(self, env: gym.Env, sigma: float = 1.0):
        super().__init__(env)
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        noise = self.env.unwrapped.np_random.normal(0.0, self.sigma) if self.sigma else 0.0
        return obs, float(reward) + float(noise), terminated, truncated, info


def make_noisy_cartpole(sigma: float = 1.0, render_mode: str | None = None, **kwargs) -> gym.Env:
    """CartPole-v1 (500-step limit) with Gaussian reward noise of standard deviation ``sigma``."""
    return GaussianRewardNoise(gym.make("CartPole-v1", render_mode=render_mode, **kwargs), sigma)
