"""Greedy evaluation of any checkpoint on any compatible environment, with optional video; ``load_agent``.

    agent = load_agent("runs/cartpole_dqn/checkpoints/final.pt")
    action = agent.act(obs)            # one observation -> one int; a batch (B, *obs_shape) -> (B,) actions
"""

from __future__ import annotations

import os

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.agents.registry import build_agent
from rlkit.training.checkpoint import load_checkpoint
from rlkit.config import Config, config_from_dict
from rlkit.device import resolve_device
from rlkit.errors import CheckpointError, EnvError, RlkitError
from rlkit.outputs import claim_output
from rlkit.spaces import MASK_KEY, ObsSpace
from rlkit.vec import make_env


@dataclass
class EvalResult:
    """Returns of greedy evaluation episodes (raw env rewards, summed)."""

    returns: np.ndarray  # (episodes,) float64
    lengths: np.ndarray  # (episodes,) int64
    env_id: str
    video_dir: str | None = None

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def std(self) -> float:
        return float(self.returns.std())


def load_agent(path: str | Path, device: str = "cpu") -> Any:
    """Load a trained agent from a checkpoint file (or a run directory) for acting.

    The returned agent's ``act(obs)`` takes one observation and returns an int action (or a batch and returns an
    array). Raises CheckpointError with one line when the file is missing, corrupt, unsafe or mismatched.
    """
    payload = load_checkpoint(path)
    agent, _ = agent_from_checkpoint(payload, device)
    return agent


def agent_from_checkpoint(payload: dict[str, Any], device: str = "cpu") -> tuple[Any, Config]:
    """Rebuild the agent a loaded checkpoint describes and load its weights. Returns (agent, config)."""
    path = payload.get("path", "checkpoint")
    try:
        config = config_from_dict(payload["config"])
        spaces = payload["spaces"]
        obs_space = ObsSpace.of_spaces(spaces) if config.puzzle.name is None else None
        agent = build_agent(config, spaces["obs_shape"], spaces["obs_dtype"], spaces["num_actions"],
                            resolve_device(device), obs_space)
    except (RlkitError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint '{path}' has an unusable config or spaces entry ({error})") from None
    try:
        agent.load_state_dict(payload["agent"])
    except (RuntimeError, KeyError, ValueError) as error:
        first = str(error).strip().splitlines()[0][:160]
        raise CheckpointError(
            f"checkpoint '{path}' does not match the architecture its config describes ({first}); "
            "it was edited or written by an incompatible rlkit"
        ) from None
    return agent, config


# Buffers a quantisation-aware layer adds to nn.Linear; an fp32 checkpoint lacks them and they calibrate themselves.
_QUANT_BUFFERS = ("input_absmax", "calibrated")


def warm_start(agent: Any, path: str | Path, obs_shape: tuple[int, ...], num_actions: int) -> None:
    """Copy the online-network weights of the checkpoint at ``path`` into ``agent`` (online and target networks).

    The architectures must match layer for layer; quantisation may differ (fp32 weights start a ternary or int8
    QAT network, whose quantiser buffers then calibrate themselves). The optimiser, exploration and counters are not
    taken. Raises CheckpointError naming the file and the mismatch.
    """
    payload = load_checkpoint(path)
    spaces = payload.get("spaces", {})
    source = (tuple(spaces.get("obs_shape", ())), spaces.get("num_actions"))
    if source != (tuple(obs_shape), num_actions):
        raise CheckpointError(f"agent.init_from '{path}' was trained on observations {source[0]} with {source[1]} "
                              f"actions; this env has {tuple(obs_shape)} and {num_actions}: start from a checkpoint "
                              "of the same env")
    try:
        weights = payload["agent"]["online"]
        result = agent.online.load_state_dict(weights, strict=False)
    except (RuntimeError, KeyError, TypeError) as error:
        first = str(error).strip().splitlines()[0][:160]
        raise CheckpointError(f"agent.init_from '{path}' does not fit this agent's network ({first}); set "
                              "agent.net (torso, hidden, dueling, critic bins) as the checkpoint was trained") from None
    missing = [key for key in result.missing_keys if not key.endswith(_QUANT_BUFFERS)]
    if missing or result.unexpected_keys:
        keys = ", ".join((missing or result.unexpected_keys)[:3])
        raise CheckpointError(f"agent.init_from '{path}' does not fit this agent's network (keys {keys}); set "
                              "agent.net (torso, hidden, dueling, critic bins) as the checkpoint was trained")
    agent.target.load_state_dict(agent.online.state_dict())


def run_episodes(agent: Any, env: Any, episodes: int, epsilon: float = 0.0,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Play ``episodes`` full episodes with epsilon-greedy actions (greedy by default).

    ``env`` is one env or a sequence of envs with the same spaces played side by side: each env takes the next
    episode as soon as its last one ends, and the greedy actions of all the envs still playing come from one
    batched ``agent.act`` (one forward instead of one per env). Episode k is reset with seed ``seed + k`` and
    explores with an RNG of its own, seeded by ``(seed, k)`` and never the agent's (how often a run evaluates cannot
    change what its training explores), so for an agent whose greedy action depends only on the observation the
    results are the same for any number of envs. With one env, ``agent.act`` gets one observation at a time.
    Returns (returns (episodes,) float64, lengths (episodes,) int64), in episode order.
    """
    envs = list(env) if isinstance(env, (list, tuple)) else [env]
    if not envs:
        raise ValueError("run_episodes needs at least one env")
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    num_actions = int(envs[0].action_space.n)
    playing: list[int | None] = [None] * len(envs)  # the episode each env plays, None once no episode is left
    obs: list[Any] = [None] * len(envs)
    rngs: list[np.random.Generator | None] = [None] * len(envs)
    next_episode = 0

    def start(i: int) -> None:
        nonlocal next_episode
        if next_episode >= episodes:
            playing[i] = None
            return
        playing[i], next_episode = next_episode, next_episode + 1
        obs[i], _ = envs[i].reset(seed=seed + playing[i])
        rngs[i] = np.random.default_rng([seed, 0x5EED, playing[i]])

    # envs that step in threads of their own (Atari: NativeAtariEnv) all start their step before any is waited for
    concurrent = ({i for i, one in enumerate(envs) if callable(getattr(one, "step_async", None))}
                  if len(envs) > 1 else set())
    for i in range(len(envs)):
        start(i)
    while True:
        active = [i for i in range(len(envs)) if playing[i] is not None]
        if not active:
            break
        actions = {i: _random_action(rngs[i], obs[i], num_actions) for i in active
                   if epsilon > 0 and rngs[i].random() < epsilon}
        greedy = [i for i in active if i not in actions]
        if len(envs) == 1 and greedy:
            actions[0] = int(agent.act(obs[0], 0.0))
        elif greedy:
            chosen = agent.act(_stack([obs[i] for i in greedy]), 0.0)
            actions.update(zip(greedy, (int(a) for a in chosen)))
        for i in active:
            if i in concurrent:
                envs[i].step_async(actions[i])
        for i in active:
            outcome = envs[i].step_wait() if i in concurrent else envs[i].step(actions[i])
            obs[i], reward, terminated, truncated, _ = outcome
            returns[playing[i]] += float(reward)
            lengths[playing[i]] += 1
            if terminated or truncated:
                start(i)
    return returns, lengths


def _random_action(rng: np.random.Generator, obs: Any, num_actions: int) -> int:
    """A uniformly random action, among the legal ones where the observation carries a mask."""
    legal = obs.get(MASK_KEY) if isinstance(obs, dict) else None
    return int(rng.choice(np.flatnonzero(legal)) if legal is not None else rng.integers(num_actions))


def _stack(observations: list[Any]) -> Any:
    """A batch from single observations: (B, *obs_shape), or a dict of such batches for Dict observations."""
    if isinstance(observations[0], dict):
        return {key: np.stack([o[key] for o in observations]) for key in observations[0]}
    return np.stack(observations)


def make_eval_envs(config: Config) -> list[Any]:
    """A training run's evaluation envs (whole games for Atari), for ``run_episodes``: ``train.eval_envs`` copies of
    ``config.env``, never more than the ``train.eval_episodes`` they share."""
    env_cfg, count = config.env, min(config.train.eval_envs, config.train.eval_episodes)
    return [make_env(env_cfg.id, env_kwargs=env_cfg.kwargs, atari=env_cfg.atari, action_mask=env_cfg.action_mask)
            for _ in range(count)]


def evaluate_checkpoint(
    path: str | Path,
    env_id: str | None = None,
    episodes: int = 10,
    video_dir: str | Path | None = None,
    seed: int = 0,
    epsilon: float = 0.0,
    device: str = "cpu",
    envs: int = 1,
) -> EvalResult:
    """Evaluate a checkpoint greedily on its own env or on ``env_id`` (any env with matching spaces).

    ``env_id`` may be ``module:EnvId``; the module is imported so it can register the env. With ``video_dir`` the
    first episode is recorded as an mp4 there (needs moviepy: ``pip install 'rlkit[video]'``). ``envs`` copies of
    the env play the episodes side by side with batched greedy actions (``run_episodes``): the same returns, in
    less time where one forward per env step dominates (100 Atari games).
    """
    if episodes < 1:
        raise RlkitError(f"--episodes must be >= 1, got {episodes}")
    if envs < 1:
        raise RlkitError(f"--envs must be >= 1, got {envs}")
    if video_dir is not None:
        claim_output(video_dir, "video", force=True, directory=True)
        # Off-screen rendering needs no sound or window; without these SDL (pygame) complains about
        # XDG_RUNTIME_DIR on stderr on headless machines, though the video is written.
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    payload = load_checkpoint(path)
    agent, config = agent_from_checkpoint(payload, device)
    env_id = env_id or config.env.id
    same_env = env_id == config.env.id
    played: list[Any] = []
    try:
        # every copy renders when one records, so that all of them play on the same frames (Atari: rlkit/atari.py)
        for _ in range(min(envs, episodes)):
            played.append(make_env(env_id, render_mode="rgb_array" if video_dir else None,
                                   env_kwargs=config.env.kwargs if same_env else None, atari=config.env.atari,
                                   action_mask=config.env.action_mask if same_env else "auto"))
        _check_compatible(played[0], payload["spaces"], env_id)
        if video_dir is not None:
            played[0] = _record_video(played[0], Path(video_dir))  # env 0 plays episode 0
        with torch.inference_mode():
            returns, lengths = run_episodes(agent, played, episodes, epsilon, seed)
    finally:
        for env in played:
            env.close()
    return EvalResult(returns, lengths, env_id, str(video_dir) if video_dir else None)


def puzzle_solve_rates(path: str | Path, states_per_depth: int, seed: int = 0) -> dict[int, float] | None:
    """Greedy solve rate per configured depth for a Q* checkpoint; None when the checkpoint is an env agent's."""
    payload = load_checkpoint(path)
    config = config_from_dict(payload["config"])
    if config.puzzle.name is None:
        return None
    agent, _ = agent_from_checkpoint(payload)
    with torch.inference_mode():
        return agent.solve_rate(config.puzzle.eval_depths, states_per_depth, np.random.default_rng(seed))


def _check_compatible(env: Any, spaces: dict[str, Any], env_id: str) -> None:
    have, want = env.rlkit_obs_space, ObsSpace.of_spaces(spaces)
    same = have.shape == want.shape if have.plain_box and want.plain_box else have == want
    if not same or int(env.action_space.n) != int(spaces["num_actions"]):
        raise EnvError(
            f"env '{env_id}' has observations {have.describe()} and {env.action_space.n} actions, but the "
            f"checkpoint expects observations {want.describe()} and {spaces['num_actions']} actions; pick an env "
            "with matching spaces"
        )


def _record_video(env: Any, video_dir: Path) -> Any:
    try:
        import moviepy  # noqa: F401  (gymnasium's RecordVideo encodes with it)
    except ImportError:
        raise RlkitError("--video needs moviepy; install it with: pip install 'rlkit[video]'") from None
    from gymnasium.wrappers import RecordVideo

    return RecordVideo(env, str(video_dir), episode_trigger=lambda episode: episode == 0, disable_logger=True)
