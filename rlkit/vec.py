"""Vectorised environments with one autoreset convention, so nobody downstream has to think about it.

Every `VecEnv.step` returns real transitions only: where an episode ended, `next_obs[i]` is the true final
observation and `obs[i]` is already the first observation of the next episode. The trainer stores
`(obs_before, action, reward, next_obs, terminated)` and moves on to `obs`; no transition ever leads from a
terminal observation to a reset observation. Truncated episodes still bootstrap (the DESIGN rule), which is why
`terminated` and `truncated` are kept apart.

    env = make_vec_env("CartPole-v1", num_envs=8, seed=0)
    obs = env.reset(seed=0)                        # (8, 4) float32
    step = env.step(actions)                       # actions: (8,) int
    for episode_return, episode_length in step.episodes: ...

Observations come out in the storage form of ``rlkit.spaces.ObsSpace`` (``env.obs_space``): plain arrays for one
space, one structured array per batch for Dict / Tuple spaces. Legal actions (``env.action_mask``, ``rlkit.action_masks``)
ride in the observation as its ``action_mask`` key; an env that reports them in ``info["action_mask"]`` is wrapped
(``InfoActionMask``) so they do.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.action_masks import InfoActionMask, check_action_mask, resolve_action_mask
from rlkit.atari import is_atari, make_atari_env, make_atari_vector
from rlkit.config import AtariConfig
from rlkit.errors import EnvError, did_you_mean_id
from rlkit.spaces import ObsSpace, UnsupportedSpace, is_text

VECTORIZATIONS = ("sync", "async")


def make_env(env_id: str, render_mode: str | None = None, env_kwargs: dict | None = None,
             atari: Any = None, action_mask: str = "auto") -> gym.Env:
    """One validated Gymnasium env (for evaluation and video).

    `env_id` is a registered id (`CartPole-v1`) or Gymnasium's `module:EnvId` form, where the module is imported
    first so it can register the env. `env_kwargs` go to `gym.make` (so `max_episode_steps` works too).
    Raises `EnvError` for an unknown id, an unimportable module, or spaces rlkit cannot use. Atari ids get the
    standard preprocessing of `atari` (an `AtariConfig`; defaults when None) with raw scores and no episodic life.
    `action_mask` (``rlkit.action_masks.ACTION_MASKS``) says where legal actions come from; the env's ``rlkit_action_mask`` attribute
    holds the resolved source ('obs', or 'none'; an 'info' env is wrapped into an 'obs' one), its
    ``rlkit_frame_stack`` the frames stacked into one observation (`frame_stack_of`).
    """
    check_action_mask(env_id, action_mask)
    if is_atari(env_id):
        env = make_atari_env(env_id, atari or AtariConfig(), training=False, render_mode=render_mode)
        env.rlkit_action_mask = "none"
        env.rlkit_obs_space = ObsSpace.from_gym(env.observation_space)
        env.rlkit_frame_stack = (atari or AtariConfig()).frame_stack
        return env
    env = _make_unchecked(env_id, render_mode, env_kwargs or {})
    try:
        _check_action_space(env_id, env.action_space)  # the observation space is checked once, below
        source = resolve_action_mask(env, env_id, action_mask)
        if source == "info":
            env = InfoActionMask(env, env_id)
        env.rlkit_action_mask = "none" if source == "none" else "obs"
        env.rlkit_obs_space = observation_space_of(env_id, env.observation_space, source != "none")
        env.rlkit_frame_stack = frame_stack_of(env)
    except EnvError:
        env.close()
        raise
    return env


def frame_stack_of(env: gym.Env) -> int:
    """How many frames one observation of `env` stacks: a Gymnasium ``FrameStackObservation`` in its wrapper chain
    says so, as does an env that stacks its own frames by setting ``rlkit_frame_stack = K``; 1 otherwise. Frame
    storage (``replay.storage: auto``) deduplicates only observations an env reports as stacks: an image's first
    axis alone cannot tell 4 stacked frames from 4 colour channels."""
    layer = env
    while True:
        if isinstance(layer, gym.wrappers.FrameStackObservation):
            return int(layer.stack_size)
        if not isinstance(layer, gym.Wrapper):  # the env itself
            return int(getattr(layer, "rlkit_frame_stack", 1))
        declared = vars(layer).get("rlkit_frame_stack")
        if declared is not None:
            return int(declared)
        layer = layer.env


def observation_space_of(env_id: str, space: gym.Space, masked: bool) -> ObsSpace:
    """``ObsSpace.from_gym`` with its refusal turned into an EnvError naming the env."""
    try:
        return ObsSpace.from_gym(space, mask=masked)
    except UnsupportedSpace as error:
        raise EnvError(f"environment '{env_id}': {error}; wrap it into one of those spaces") from None


def make_vec_env(env_id: str, num_envs: int = 1, seed: int = 0, vectorization: str = "sync",
                 env_kwargs: dict | None = None, atari: Any = None, action_mask: str = "auto") -> VecEnv:
    """`num_envs` copies of `env_id` behind one `VecEnv`, reset with `seed` (env i gets `seed + i`).

    vectorization: "sync" steps the envs in this process (best for cheap envs such as CartPole); "async" runs one
    worker process per env (best when a single env step is expensive). Atari ids use ale-py's native vector env
    (see rlkit.atari) whatever `vectorization` says, with training rewards clipped when `atari.clip_rewards`.
    `action_mask` as for `make_env`.
    """
    if vectorization not in VECTORIZATIONS:
        raise EnvError(f"unknown vectorization {vectorization!r}; use one of {', '.join(VECTORIZATIONS)}")
    if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) or num_envs < 1:
        raise EnvError(f"num_envs must be an integer >= 1, got {num_envs!r}")
    check_action_mask(env_id, action_mask)
    if is_atari(env_id):
        options = atari or AtariConfig()
        vec = VecEnv(make_atari_vector(env_id, num_envs, options), clip_rewards=options.clip_rewards,
                     frame_stack=options.frame_stack)
        vec.reset(seed=seed)
        return vec
    env_kwargs = dict(env_kwargs or {})
    # Validate with one env in this process first: a bad id or space is then one clean line, not a traceback
    # from inside N worker processes.
    probe = make_env(env_id, env_kwargs=env_kwargs, action_mask=action_mask)
    masked = probe.rlkit_action_mask == "obs"
    source = "info" if isinstance(probe, InfoActionMask) else ("obs" if masked else "none")
    frame_stack = probe.rlkit_frame_stack
    probe.close()
    env_fns = [functools.partial(_make_unchecked, env_id, None, env_kwargs, source)] * num_envs
    vector_cls = gym.vector.SyncVectorEnv if vectorization == "sync" else gym.vector.AsyncVectorEnv
    vec = VecEnv(vector_cls(env_fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP), masked=masked,
                 env_id=env_id, frame_stack=frame_stack)
    vec.reset(seed=seed)
    return vec


@dataclass(slots=True)
class VecStep:
    """What one `VecEnv.step` returns; N = num_envs.

    obs:        (N, *obs_shape) the observation to act on next (the reset observation where an episode ended).
    next_obs:   (N, *obs_shape) the true successor of the previous obs (the final observation where an episode
                ended). On steps where no episode ended it is the same array object as `obs`: treat both as
                read-only.
    rewards:    (N,) float32.
    terminated: (N,) bool, the episode reached a terminal state (no bootstrapping); with
                ``env.atari.terminal_on_life_loss`` also a lost life, after which the game goes on (next_obs is then
                obs, and the game's return keeps adding up).
    truncated:  (N,) bool, the episode was cut off (time limit); it still bootstraps from `next_obs`.
    episodes:   (return, length) of each episode (whole game) that finished on this step, in env order; return is
                the sum of the raw rewards.
    """

    obs: np.ndarray
    next_obs: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episodes: list[tuple[float, int]]


class VecEnv:
    """A Gymnasium vector env in same-step autoreset mode, returning `VecStep`s and tracking episode statistics.

    Spaces are those of a single env: `observation_space` (Gymnasium's), `obs_space` (rlkit's, whose storage
    `obs_shape` / `obs_dtype` the observations come in), `action_space` (Discrete). `masked`: the observation's
    `action_mask` key holds the legal actions. `frame_stack`: frames stacked into one observation (image keys of
    a keyed one), 1 when not stacked (`frame_stack_of`).
    """

    def __init__(self, vector_env: gym.vector.VectorEnv, clip_rewards: bool = False, masked: bool = False,
                 env_id: str = "env", frame_stack: int = 1):
        if vector_env.metadata.get("autoreset_mode") != gym.vector.AutoresetMode.SAME_STEP:
            # Any other mode would hand out transitions from a terminal obs to a reset obs (or no-op steps).
            raise ValueError("VecEnv needs a vector env built with autoreset_mode=AutoresetMode.SAME_STEP")
        self._vec = vector_env
        self.num_envs: int = vector_env.num_envs
        self.observation_space: gym.spaces.Box = vector_env.single_observation_space
        self.action_space: gym.spaces.Discrete = vector_env.single_action_space
        self.num_actions: int = int(self.action_space.n)
        self.obs_space: ObsSpace = observation_space_of(env_id, self.observation_space, masked)
        self.obs_shape: tuple = self.obs_space.shape
        self.obs_dtype: np.dtype = self.obs_space.dtype
        self.frame_stack: int = int(frame_stack)
        # float64 sums so long episodes of small rewards do not lose precision.
        self._returns = np.zeros(self.num_envs, dtype=np.float64)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        # Emulator frames into each env's game (ale-py reports them): a terminal step after which they go on
        # counting ended a life, not the game (env.atari.terminal_on_life_loss).
        self._game_frames = np.zeros(self.num_envs, dtype=np.int64)
        self._clip_rewards = clip_rewards
        self._pending: np.ndarray | None = None  # actions of a step started by step_async
        # How a step is split: ale-py's native env (send/recv), Gymnasium's AsyncVectorEnv, or not at all.
        if hasattr(vector_env, "send") and hasattr(vector_env, "recv"):
            self._stepping = "send_recv"
        elif isinstance(vector_env, gym.vector.AsyncVectorEnv):
            self._stepping = "async"
        else:
            self._stepping = "sync"
        self._closed = False

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset every env (env i seeded with `seed + i`) and the episode statistics. Returns (N, *obs_shape).

        The action spaces are seeded too, so `sample_actions` is reproducible.
        """
        if self._pending is not None:
            self.step_wait()  # a step still in flight must land before the envs can be reset
        if seed is not None:
            seed = int(seed)
            self.action_space.seed(seed)
            self._vec.action_space.seed(seed)
        obs, infos = self._vec.reset(seed=seed)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._game_frames[:] = _game_frames(infos, self.num_envs)
        return self.obs_space.pack(obs)

    def step(self, actions: np.ndarray) -> VecStep:
        """Step every env with `actions`: (N,) int in [0, num_actions). Ended episodes are reset on the same step."""
        self.step_async(actions)
        return self.step_wait()

    def step_async(self, actions: np.ndarray) -> None:
        """Start a step (the first half of `step`). ale-py's native vector env and Gymnasium's AsyncVectorEnv then
        step in their own threads or processes, so work done before `step_wait` (a gradient update) overlaps it;
        other vector envs step inside `step_wait`."""
        if self._pending is not None:
            raise RuntimeError("step_async called twice without step_wait")
        if self._stepping == "send_recv":
            self._vec.send(actions)
        elif self._stepping == "async":
            self._vec.step_async(actions)
        self._pending = actions

    def step_wait(self) -> VecStep:
        """Finish the step `step_async` started; returns its `VecStep`."""
        if self._pending is None:
            raise RuntimeError("step_wait called without step_async")
        actions, self._pending = self._pending, None
        if self._stepping == "send_recv":
            obs, rewards, terminated, truncated, infos = self._vec.recv()
        elif self._stepping == "async":
            obs, rewards, terminated, truncated, infos = self._vec.step_wait()
        else:
            obs, rewards, terminated, truncated, infos = self._vec.step(actions)
        self._returns += rewards
        self._lengths += 1
        frames = _game_frames(infos, self.num_envs)
        # A lost life that is terminal for the learner while the game goes on: no reset, so obs is the successor
        # (ale-py's final_obs is not for these) and the game's return keeps adding up.
        life_lost = terminated & ~truncated & (frames > self._game_frames)
        self._game_frames = frames
        done = (terminated | truncated) & ~life_lost
        obs = next_obs = self.obs_space.pack(obs)
        episodes: list[tuple[float, int]] = []
        if done.any():
            next_obs = obs.copy()
            final_obs = infos["final_obs"]
            for i in np.flatnonzero(done):
                next_obs[i] = self.obs_space.pack(final_obs[i])
                episodes.append((float(self._returns[i]), int(self._lengths[i])))
            self._returns[done] = 0.0
            self._lengths[done] = 0
        rewards = np.sign(rewards) if self._clip_rewards else rewards  # episode returns above stay raw scores
        return VecStep(obs, next_obs, rewards.astype(np.float32), terminated, truncated, episodes)

    def sample_actions(self) -> np.ndarray:
        """(N,) int64 uniformly random actions from the (seeded) action space."""
        return self._vec.action_space.sample().astype(np.int64, copy=False)

    def close(self) -> None:
        """Close the envs (and stop async workers); safe to call twice."""
        if not self._closed:
            self._closed = True
            if self._pending is not None:
                self.step_wait()
            self._vec.close()

    def __enter__(self) -> VecEnv:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _game_frames(infos: Any, count: int) -> np.ndarray:
    """(N,) emulator frames into each env's current game where the env reports them (ale-py), else zeros."""
    frames = infos.get("episode_frame_number") if isinstance(infos, dict) else None
    return np.zeros(count, dtype=np.int64) if frames is None else np.asarray(frames, dtype=np.int64).copy()


def check_spaces(env_id: str, observation_space: gym.Space, action_space: gym.Space) -> None:
    """Raise `EnvError` unless the spaces are ones rlkit's agents can use: Discrete actions from 0, observations
    of the spaces rlkit/spaces.py takes (Box, Discrete, MultiDiscrete, MultiBinary, Dict / Tuple of these)."""
    _check_action_space(env_id, action_space)
    observation_space_of(env_id, observation_space, masked=False)


def _check_action_space(env_id: str, action_space: gym.Space) -> None:
    """EnvError unless the actions are Discrete and numbered from 0."""
    if not isinstance(action_space, gym.spaces.Discrete):
        raise EnvError(f"environment '{env_id}' has action space {action_space}; rlkit's agents need Discrete "
                       "actions (pick an env with a Discrete action space or wrap it to discretise its actions)")
    if int(action_space.start) != 0:
        raise EnvError(f"environment '{env_id}' has action space {action_space}; rlkit's agents need Discrete "
                       "actions numbered from 0 (wrap it to shift the actions)")


def _make_unchecked(env_id: str, render_mode: str | None, env_kwargs: dict, action_mask: str = "none") -> gym.Env:
    """gym.make with Gymnasium's and import errors turned into one-line `EnvError`s; also the worker env factory
    (``action_mask='info'`` wraps the env in ``InfoActionMask``)."""
    env = _without_text(_make_registered(env_id, render_mode, env_kwargs))
    return InfoActionMask(env, env_id) if action_mask == "info" else env


def _without_text(env: gym.Env) -> gym.Env:
    """Drop a Dict observation's Text keys (MiniGrid's mission string) inside the env, before vectorisation: they
    are not a network input, and strings need not travel between processes or sit in the replay."""
    space = env.observation_space
    if isinstance(space, gym.spaces.Dict) and any(is_text(sub) for sub in space.spaces.values()):
        kept = [key for key, sub in space.spaces.items() if not is_text(sub)]
        if kept:
            return gym.wrappers.FilterObservation(env, kept)
    return env


def _make_registered(env_id: str, render_mode: str | None, env_kwargs: dict) -> gym.Env:
    module, _, name = env_id.rpartition(":")
    if name.startswith("rlkit/"):
        import rlkit.envs  # noqa: F401  (registers rlkit's own ids, e.g. rlkit/Jamming-v0)
    elif name.startswith("MinAtar/") and name not in gym.registry:
        try:
            from minatar.gym import register_envs
        except ImportError:
            raise EnvError(f"'{env_id}' needs MinAtar: pip install 'rlkit[minatar]'") from None
        register_envs()
    if module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise EnvError(f"cannot import module '{module}' named in environment id '{env_id}' ({exc}); "
                           "check the module name and that it is installed or on sys.path") from exc
    try:
        # The module (if any) is imported above; gym.make only needs the registered name. render_mode is passed
        # only when asked for, as gym.make hands it to the env constructor and not every env takes one.
        if render_mode is not None:
            env_kwargs = {**env_kwargs, "render_mode": render_mode}
        return gym.make(name, **env_kwargs)
    except gym.error.UnregisteredEnv as exc:
        raise EnvError(_unknown_id_message(env_id, name)) from exc
    except gym.error.Error as exc:  # DeprecatedEnv, DependencyNotInstalled, UnsupportedMode, ...
        raise EnvError(f"cannot create environment '{env_id}': {_one_line(exc)}") from exc
    except TypeError as exc:
        if not env_kwargs:
            raise
        raise EnvError(f"cannot create environment '{env_id}' with env_kwargs {env_kwargs}: {_one_line(exc)}") \
            from exc


def _unknown_id_message(env_id: str, name: str) -> str:
    match = did_you_mean_id(name, gym.registry.keys())
    hint = f"did you mean '{match}'? " if match else ""
    return (f"unknown environment id '{env_id}'; {hint}gymnasium.pprint_registry() lists the registered ids, and "
            "'module:EnvId' imports the module that registers a custom env")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())

