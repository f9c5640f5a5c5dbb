"""How closely an exported policy follows a torch agent: greedy agreement and Q error on recorded observations,
and the return it keeps when it acts in the env instead of the agent.

    observations = record_observations(agent, env, 1000, seed=20_000)
    agreement, max_dq, max_regret = parity_check(agent, "policy.onnx", observations)
    kept = return_kept(agent, load_policy("policy.onnx"), env, episodes=10, seed=30_000)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.errors import RlkitError
from rlkit.training.evaluate import run_episodes
from rlkit.vec import make_env

from .runtime import ILLEGAL_Q, load_policy


@dataclass
class ReturnKept:
    """Mean returns of the exported policy and of the torch agent over the same seeded episodes."""

    episodes: int
    policy_return: float
    agent_return: float

    @property
    def fraction(self) -> float:
        """policy / agent return; NaN when the agent's mean return is not positive (the ratio would mislead)."""
        return self.policy_return / self.agent_return if self.agent_return > 0 else float("nan")

    def describe(self) -> str:
        kept = f" ({self.fraction:.1%} kept)" if np.isfinite(self.fraction) else ""
        return (f"return {self.policy_return:.1f} vs the torch agent's {self.agent_return:.1f}{kept} over "
                f"{self.episodes} episodes")


def record_observations(agent: Any, env: Any, count: int, epsilon: float = 0.0, seed: int = 0) -> np.ndarray:
    """Observations an agent meets acting (epsilon-)greedily in ``env``: episodes seeded seed, seed + 1, ...

    Returns (count, *obs_shape) in the env's observation dtype (the observation each action was chosen on).
    """
    recorded: list[np.ndarray] = []
    episode = 0
    space = getattr(agent, "obs_space", None)  # a Dict observation is recorded packed (rlkit/spaces.py)
    with torch.inference_mode():
        while len(recorded) < count:
            obs, _ = env.reset(seed=seed + episode)
            episode += 1
            done = False
            while not done and len(recorded) < count:
                recorded.append(space.pack(obs) if space is not None else np.asarray(obs))
                obs, _, terminated, truncated, _ = env.step(agent.act(obs, epsilon))
                done = terminated or truncated
    return np.stack(recorded)


def parity_check(agent: Any, onnx_path: str | Path, observations: np.ndarray) -> tuple[float, float, float]:
    """Compare an exported policy with the torch agent on observations (N, *obs_shape).

    Returns (greedy-action agreement, max |Q_onnx - Q_torch|, max regret), where the regret of an observation is
    Q_torch(s, torch's greedy action) - Q_torch(s, the export's greedy action): how much worse, in the torch agent's
    own values, a disagreement is (near zero when the two only differ between near-tied actions).
    """
    policy = load_policy(onnx_path)
    onnx_q = policy.q_values(observations)
    torch_q = agent.q_values(observations).cpu().numpy()
    legal = agent.obs_space.mask_of(observations) if hasattr(agent, "obs_space") else None
    if legal is not None:  # a masked policy's Q of an illegal action is ILLEGAL_Q, on both sides
        torch_q = np.where(legal, torch_q, np.float32(ILLEGAL_Q))
    onnx_actions = onnx_q.argmax(1)
    agreement = float(np.mean(onnx_actions == torch_q.argmax(1)))
    regret = torch_q.max(1) - np.take_along_axis(torch_q, onnx_actions[:, None], 1)[:, 0]
    return agreement, float(np.max(np.abs(onnx_q - torch_q))), float(regret.max())


def return_kept(agent: Any, policy: Any, env: Any, episodes: int = 10, seed: int = 0) -> ReturnKept:
    """Greedy episodes of ``policy`` (anything with ``act(obs, epsilon)``, e.g. a runtime Policy) and of ``agent``
    on the same seeds ``seed``, ``seed + 1``, ...: what deploying the export instead of the agent costs in return."""
    with torch.inference_mode():
        agent_returns, _ = run_episodes(agent, env, episodes, 0.0, seed)
    policy_returns, _ = run_episodes(policy, env, episodes, 0.0, seed)
    return ReturnKept(episodes, float(policy_returns.mean()), float(agent_returns.mean()))


class AgentEnv:
    """The checkpoint's env as its run made it (env.kwargs and env.atari), made on first use and closed once: the
    calibration, parity and return episodes all play it."""

    def __init__(self, config: Any):
        self.config, self.env, self.error = config, None, None

    def get(self) -> Any:
        """The env, or None when this machine cannot make it (``error`` then says why)."""
        if self.env is None and self.error is None:
            try:
                self.env = make_env(self.config.env.id, env_kwargs=self.config.env.kwargs, atari=self.config.env.atari,
                                    action_mask=self.config.env.action_mask)
            except RlkitError as error:
                self.error = error
        return self.env

    def __enter__(self) -> "AgentEnv":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.env is not None:
            self.env.close()
