"""Where an env's legal actions come from, and the wrapper that moves them into the observation.

``env.action_mask`` (ACTION_MASKS) names the source: ``obs`` (a Dict observation's ``action_mask`` key),
``info`` (``info["action_mask"]``, moved into the observation by ``InfoActionMask``), ``none``, or ``auto``
(look for either). Downstream, a masked env always carries the mask in its observation.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rlkit.atari import is_atari
from rlkit.errors import EnvError
from rlkit.spaces import MASK_KEY

ACTION_MASKS = ("auto", "info", "obs", "none")


def check_action_mask(env_id: str, action_mask: str) -> None:
    """EnvError for an unknown ``env.action_mask``, or a mask asked of an Atari game (which has none)."""
    if action_mask not in ACTION_MASKS:
        raise EnvError(f"unknown env.action_mask {action_mask!r}; use one of {', '.join(ACTION_MASKS)}")
    if is_atari(env_id) and action_mask in ("info", "obs"):
        raise EnvError(f"'{env_id}' is an Atari game, which has no action mask; set env.action_mask=none")


def resolve_action_mask(env: gym.Env, env_id: str, requested: str) -> str:
    """Where ``env``'s legal actions come from: 'obs' (a Dict observation's ``action_mask`` key), 'info'
    (``info["action_mask"]``) or 'none'. ``auto`` looks for the key, then resets ``env`` once to read its info;
    an explicit source the env lacks is an EnvError."""
    has_key = isinstance(env.observation_space, gym.spaces.Dict) and MASK_KEY in env.observation_space.spaces
    if requested == "obs" and not has_key:
        raise EnvError(f"env.action_mask=obs, but environment '{env_id}' has no '{MASK_KEY}' observation key "
                       f"(observation space {env.observation_space}); use info, auto or none")
    if requested in ("obs", "none"):
        return requested
    if requested == "auto" and has_key:
        return "obs"
    _, info = env.reset(seed=0)
    if MASK_KEY in info:
        return "info"
    if requested == "info":
        raise EnvError(f"env.action_mask=info, but environment '{env_id}' puts no '{MASK_KEY}' in the info of "
                       "reset; use obs, auto or none")
    return "none"


class InfoActionMask(gym.Wrapper):
    """Moves ``info["action_mask"]`` into the observation: a Dict observation gains the key, any other becomes
    ``{"obs": obs, "action_mask": mask}``. The mask is (A,) bool. A step whose info lacks the mask is an EnvError;
    so is a mask with no legal action where the episode goes on (an ended episode's mask may be empty)."""

    def __init__(self, env: gym.Env, env_id: str):
        super().__init__(env)
        self._env_id = env_id
        count = int(env.action_space.n)
        mask_space = gym.spaces.MultiBinary(count)
        inner = env.observation_space
        self._dict = isinstance(inner, gym.spaces.Dict)
        self.observation_space = gym.spaces.Dict({**inner.spaces, MASK_KEY: mask_space}) if self._dict else \
            gym.spaces.Dict({"obs": inner, MASK_KEY: mask_space})
        self._count = count
        self._step = 0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._step = 0
        return self._with_mask(obs, info, ended=False), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._step += 1
        return self._with_mask(obs, info, ended=terminated or truncated), reward, terminated, truncated, info

    def _with_mask(self, obs, info, ended: bool):
        if MASK_KEY not in info:
            raise EnvError(f"environment '{self._env_id}' put no '{MASK_KEY}' in its info at episode step "
                           f"{self._step}; an env with env.action_mask=info must report it on every reset and step")
        mask = np.asarray(info[MASK_KEY]).astype(bool).reshape(-1)
        if mask.shape != (self._count,):
            raise EnvError(f"environment '{self._env_id}' reported an action mask of shape {mask.shape} at episode "
                           f"step {self._step}; it needs one entry per action ({self._count})")
        if not ended and not mask.any():
            raise EnvError(f"environment '{self._env_id}' offered no legal action at episode step {self._step} "
                           "(its action mask is all false) while the episode goes on")
        return {**obs, MASK_KEY: mask} if self._dict else {"obs": obs, MASK_KEY: mask}
