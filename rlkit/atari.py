"""Atari through ale-py: the standard preprocessing, on ale-py's native vector env or on Gymnasium wrappers.

Training uses ale-py's native ``AtariVectorEnv`` (C++ threads step all games in parallel and do the preprocessing
there): 84x84 grayscale, frame skip 4 with max-pooling of the last two frames, a stack of 4 frames zero-padded
at reset, up to 30 no-op actions at reset, FIRE at reset for games that need it, sticky actions with probability
0.25 (the v5 protocol, Machado et al., 2018), optional episodic life (``episodic_life``: the game restarts at each
lost life, so training sees first lives only; ``terminal_on_life_loss``: a lost life is terminal for the learner
and the game goes on, Dopamine's Atari 100k protocol, and the agent serves the next ball itself). Rewards are
clipped to their sign for training only; episode statistics and evaluation report raw game scores.

Evaluation plays one game on the same native env (``NativeAtariEnv``), so an agent is judged on exactly the frames
it learnt from. The Gymnasium wrapper path (``AtariPreprocessing`` + ``FrameStackObservation``) is the fallback:
video (it can render RGB frames; its frames differ from the native env's in a few pixels of a moving object, since
the two pipelines cut the frame-skip cycle at different points) and ``native: false``. It needs opencv
(``pip install 'rlkit[atari]'``).
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.errors import EnvError, did_you_mean


def is_atari(env_id: str) -> bool:
    """True for ale-py ids such as ``ALE/Pong-v5``."""
    return env_id.startswith("ALE/")


def game_name(env_id: str) -> str:
    """``ALE/MontezumaRevenge-v5`` -> ``montezuma_revenge`` (ale-py's ROM name)."""
    match = re.fullmatch(r"ALE/([A-Za-z0-9]+)-v\d+", env_id)
    if not match:
        raise EnvError(f"'{env_id}' is not an Atari id of the form ALE/Game-v5 (e.g. ALE/Pong-v5)")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", match.group(1)).lower()


def make_atari_vector(env_id: str, num_envs: int, options: Any) -> gym.vector.VectorEnv:
    """ale-py's native vector env for ``env_id`` with rlkit's preprocessing, in same-step autoreset mode.

    ``options`` is an ``AtariConfig``. Rewards come back raw: rlkit's VecEnv clips them for training so that episode
    returns stay game scores. Falls back to Gymnasium wrappers when ``options.native`` is false.
    """
    ale_py = _import_ale()
    if not options.native:
        return gym.vector.SyncVectorEnv(
            [lambda: make_atari_env(env_id, options, training=True)] * num_envs,
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
    game = game_name(env_id)
    if game not in _available_games(ale_py):
        raise EnvError(_unknown_game_message(env_id, game, ale_py))
    return ale_py.AtariVectorEnv(
        game, num_envs,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        img_height=84, img_width=84, grayscale=True, stack_num=options.frame_stack, frameskip=options.frame_skip,
        maxpool=True, noop_max=options.noop_max, use_fire_reset=options.fire_reset,
        episodic_life=options.episodic_life, life_loss_info=options.terminal_on_life_loss, reward_clipping=False,
        repeat_action_probability=options.sticky_actions, full_action_space=options.full_action_space,
        max_num_frames_per_episode=options.max_episode_frames,
    )


def make_atari_env(env_id: str, options: Any, training: bool = False, render_mode: str | None = None) -> gym.Env:
    """One preprocessed Atari env: the native env's single game (``NativeAtariEnv``) for evaluation without video,
    else Gymnasium wrappers.

    With ``training=False`` (evaluation) there is no episodic life, so returns are whole-game scores; where training
    used episodic life with FIRE reset, each new life still starts with FIRE as every training episode did (the
    agent never learnt to press it, and games such as Breakout would otherwise wait until the frame cap).
    """
    if options.native and not training and render_mode is None:
        return NativeAtariEnv(env_id, options)
    ale_py = _import_ale()
    gym.register_envs(ale_py)
    try:
        import cv2  # noqa: F401  (AtariPreprocessing resizes with it)
    except ImportError:
        raise EnvError("Atari evaluation and video need opencv: pip install 'rlkit[atari]'") from None
    try:
        env = gym.make(env_id, frameskip=1, repeat_action_probability=options.sticky_actions,
                       full_action_space=options.full_action_space, render_mode=render_mode,
                       max_num_frames_per_episode=options.max_episode_frames)
    except gym.error.Error as error:
        raise EnvError(_unknown_game_message(env_id, game_name(env_id), ale_py)) from error
    env = gym.wrappers.AtariPreprocessing(env, noop_max=options.noop_max, frame_skip=options.frame_skip,
                                          screen_size=84, terminal_on_life_loss=training and options.episodic_life,
                                          grayscale_obs=True, scale_obs=False)
    if options.fire_reset and "FIRE" in env.unwrapped.get_action_meanings():
        env = FireReset(env, on_life_loss=not training and options.episodic_life)
    return gym.wrappers.FrameStackObservation(env, options.frame_stack, padding_type="zero")


class NativeAtariEnv(gym.Env):
    """One whole game on ale-py's native vector env: the frames, frame-skip phase, no-ops and FIRE at reset exactly
    as training's ``make_atari_vector`` makes them (evaluation). Where training used episodic life with FIRE
    reset, FIRE is also pressed after each lost life that does not end the game (its reward added to the step that
    lost the life), as every training episode began with it. ``step`` returns the terminal frame of a finished game.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, env_id: str, options: Any):
        whole_games = options.model_copy(update={"episodic_life": False, "terminal_on_life_loss": False})
        self._vec = make_atari_vector(env_id, 1, whole_games)
        self.observation_space = self._vec.single_observation_space
        self.action_space = self._vec.single_action_space
        names = [action.name for action in self._vec.ale.get_action_set()]
        on_life_loss = options.fire_reset and options.episodic_life and "FIRE" in names
        self._fire = names.index("FIRE") if on_life_loss else None
        self._lives = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self._vec.reset(seed=seed)
        self._lives = int(info["lives"][0])
        return obs[0], {"lives": self._lives}

    def step(self, action):
        self.step_async(action)
        return self.step_wait()

    def step_async(self, action) -> None:
        """Start a step in ale-py's C++ thread (the first half of ``step``): evaluation starts every game's step
        before it waits for any (``rlkit.training.evaluate.run_episodes``)."""
        self._vec.send(np.asarray([action]))

    def step_wait(self):
        """Finish the step ``step_async`` started; returns what ``step`` returns."""
        obs, reward, terminated, truncated, info = self._vec.recv()
        total = float(reward[0])
        lives = int(info["lives"][0])
        if self._fire is not None and 0 < lives < self._lives and not (terminated[0] or truncated[0]):
            obs, reward, terminated, truncated, info = self._vec.step(np.asarray([self._fire]))
            total += float(reward[0])
            lives = int(info["lives"][0])
        self._lives = lives
        if terminated[0] or truncated[0]:
            obs = info["final_obs"]  # same-step autoreset: obs already holds the next game's first frame
        return obs[0], total, bool(terminated[0]), bool(truncated[0]), {"lives": lives}

    def close(self) -> None:
        self._vec.close()


class FireReset(gym.Wrapper):
    """Press FIRE after reset, for games that wait for it (Breakout, ...), as the native env does.

    With ``on_life_loss`` also after each lost life that does not end the game: what an agent trained with episodic
    life saw at the start of every episode. The FIRE step's reward is added to the step that lost the life.
    """

    def __init__(self, env: gym.Env, on_life_loss: bool = False):
        super().__init__(env)
        self.fire = env.unwrapped.get_action_meanings().index("FIRE")
        self.on_life_loss = on_life_loss
        self.lives = 0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(self.fire)
        if terminated or truncated:
            obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        if self.on_life_loss and 0 < lives < self.lives and not (terminated or truncated):
            obs, fire_reward, terminated, truncated, info = self.env.step(self.fire)
            reward += fire_reward
            lives = self.env.unwrapped.ale.lives()
        self.lives = lives
        return obs, reward, terminated, truncated, info


def _import_ale():
    try:
        import ale_py
    except ImportError:
        raise EnvError("Atari envs need ale-py: pip install 'rlkit[atari]'") from None
    return ale_py


def _available_games(ale_py) -> set[str]:
    from ale_py import roms

    return set(roms.get_all_rom_ids())


def _unknown_game_message(env_id: str, game: str, ale_py) -> str:
    games = sorted(_available_games(ale_py))
    guess = did_you_mean(game, games, cutoff=0.6)  # difflib's own cutoff: game names are short and often misspelt
    hint = f"; did you mean '{_atari_id(guess)}'?" if guess else f"; {len(games)} games are available"
    return f"unknown Atari game in '{env_id}'{hint}"


def _atari_id(game: str) -> str:
    return "ALE/" + "".join(part.capitalize() for part in game.split("_")) + "-v5"


def stack_shape(options: Any) -> tuple[int, int, int]:
    """Observation shape of the preprocessed envs: (frame_stack, 84, 84)."""
    return (options.frame_stack, 84, 84)


