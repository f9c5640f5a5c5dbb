"""Tiny deterministic envs for tests, registered with Gymnasium on import (use them as 'toy_envs:Counter-v0').

Counter-v0: obs = [t, K] float32 where t counts the steps of the episode (0 after reset) and K is the episode's
length, drawn at reset from [length, length + length_jitter] with the env's seeded RNG (so different seeds give
different lengths). reward = t after the step (1, 2, ...); terminated when t == K. Truncation comes from
`max_episode_steps` (Gymnasium's TimeLimit). Every real transition therefore has next_obs == obs + [1, 0].
ContinuousCounter-v0: the same with a Box action space, for the unsupported-space error.
Exploding-v0: Counter-v0 whose reward turns infinite from step `explode_at` of the run on, to make a loss diverge.
"""

import gymnasium as gym
import numpy as np


class CounterEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, length: int = 3, length_jitter: int = 0, render_mode=None):
        self.render_mode = render_mode
        self.length = length
        self.length_jitter = length_jitter
        self.observation_space = gym.spaces.Box(0.0, np.inf, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._t = 0
        self._episode_length = length

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        self._episode_length = self.length + int(self.np_random.integers(0, self.length_jitter + 1))
        return self._obs(), {}

    def step(self, action):
        self._t += 1
        return self._obs(), float(self._t), self._t >= self._episode_length, False, {}

    def _obs(self):
        return np.array([self._t, self._episode_length], dtype=np.float32)


class ContinuousCounterEnv(CounterEnv):
    def __init__(self, length: int = 3, length_jitter: int = 0, render_mode=None):
        super().__init__(length, length_jitter, render_mode)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)


class ExplodingEnv(CounterEnv):
    def __init__(self, length: int = 20, explode_at: int = 200, render_mode=None):
        super().__init__(length, 0, render_mode)
        self.explode_at = explode_at
        self._steps_ever = 0

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        self._steps_ever += 1
        return obs, (float("inf") if self._steps_ever >= self.explode_at else reward), terminated, truncated, info


# Guarded so importing the module twice (pytest and an async worker) does not warn about re-registration.
for _env_id, _entry_point in (("Counter-v0", CounterEnv), ("ContinuousCounter-v0", ContinuousCounterEnv),
                            ("Exploding-v0", ExplodingEnv)):
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry_point)

# CartPole with a shorter time limit: same spaces as CartPole-v1, for `rlkit eval --env toy_envs:ShortCartPole-v0`.
if "ShortCartPole-v0" not in gym.registry:
    gym.register(id="ShortCartPole-v0", entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
                 max_episode_steps=50)


class ImageEnv(gym.Env):
    """Stacks of 4 uint8 frames (4, 40, 40), zero-padded at reset like Atari's: the newest frame shows a bright
    square whose side tells which of two actions pays 1. Episodes last 8 steps. It stacks its own frames, and says
    so (``rlkit_frame_stack``), so the replay stores each frame once."""

    metadata = {"render_modes": []}
    rlkit_frame_stack = 4

    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Box(0, 255, shape=(4, 40, 40), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(2)
        self._side, self._t = 0, 0
        self._stack = np.zeros((4, 40, 40), np.uint8)

    def _push_frame(self):
        frame = np.zeros((40, 40), np.uint8)
        frame[10:30, (0 if self._side == 0 else 20):(20 if self._side == 0 else 40)] = 255
        self._stack = np.concatenate([self._stack[1:], frame[None]])
        return self._stack.copy()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._side, self._t = int(self.np_random.integers(2)), 0
        self._stack = np.zeros((4, 40, 40), np.uint8)
        return self._push_frame(), {}

    def step(self, action):
        reward = float(action == self._side)
        self._side, self._t = int(self.np_random.integers(2)), self._t + 1
        return self._push_frame(), reward, False, self._t >= 8, {}


if "Image-v0" not in gym.registry:
    gym.register(id="Image-v0", entry_point=ImageEnv)


class CueEnv(gym.Env):
    """Dict observations: {"cue": Discrete(3), "grid": uint8 (6, 6, 3) image (channels last), "noise": Box (2,)}.
    The action equal to the cue pays 1 (the image shows the cue too, in its channel); episodes last 5 steps. A
    greedy policy that reads the cue earns 5."""

    metadata = {"render_modes": []}

    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Dict({
            "cue": gym.spaces.Discrete(3),
            "grid": gym.spaces.Box(0, 255, shape=(6, 6, 3), dtype=np.uint8),
            "noise": gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32),
            "mission": gym.spaces.Text(20, charset="abcdefghijklmnopqrstuvwxyz "),
        })
        self.action_space = gym.spaces.Discrete(3)
        self._cue, self._t = 0, 0

    def _obs(self):
        grid = np.zeros((6, 6, 3), np.uint8)
        grid[..., self._cue] = 255
        return {"cue": self._cue, "grid": grid, "noise": self.np_random.uniform(-1, 1, 2).astype(np.float32),
                "mission": "match the cue"}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._cue, self._t = int(self.np_random.integers(3)), 0
        return self._obs(), {}

    def step(self, action):
        reward = float(action == self._cue)
        self._cue, self._t = int(self.np_random.integers(3)), self._t + 1
        return self._obs(), reward, False, self._t >= 5, {}


class MaskTrapEnv(gym.Env):
    """Legal-action masks: 4 actions, one of which (drawn each step) is illegal; taking it ends the episode with
    reward -10 (terminated), any other action pays 1; episodes last 10 steps. ``mask_in``: 'info' reports the legal
    actions as info["action_mask"], 'obs' as a Dict observation's action_mask key. ``MaskTrapEnv.illegal_taken``
    counts illegal actions over every instance in this process (the tests' witness). With ``empty_mask_at`` the
    mask offers no legal action at that episode step (the all-illegal error)."""

    metadata = {"render_modes": []}
    illegal_taken = 0

    def __init__(self, mask_in: str = "info", empty_mask_at: int | None = None, render_mode=None):
        self.mask_in, self.empty_mask_at = mask_in, empty_mask_at
        state = gym.spaces.Box(0.0, 10.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(4)
        self.observation_space = state if mask_in == "info" else gym.spaces.Dict(
            {"state": state, "action_mask": gym.spaces.MultiBinary(4)})
        self._t, self._illegal = 0, 0

    def _out(self):
        mask = np.ones(4, np.int8)
        mask[self._illegal] = 0
        if self.empty_mask_at is not None and self._t == self.empty_mask_at:
            mask[:] = 0
        state = np.array([self._t, self._illegal], np.float32)
        if self.mask_in == "info":
            return state, {"action_mask": mask}
        return {"state": state, "action_mask": mask}, {}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t, self._illegal = 0, int(self.np_random.integers(4))
        return self._out()

    def step(self, action):
        if int(action) == self._illegal:
            MaskTrapEnv.illegal_taken += 1
            self._t += 1
            obs, info = self._out()
            return obs, -10.0, True, False, info
        self._t += 1
        self._illegal = int(self.np_random.integers(4))
        obs, info = self._out()
        return obs, 1.0, False, self._t >= 10, info


for _env_id, _entry_point, _kwargs in (("Cue-v0", CueEnv, {}), ("MaskTrap-v0", MaskTrapEnv, {"mask_in": "info"}),
                                       ("MaskTrapObs-v0", MaskTrapEnv, {"mask_in": "obs"})):
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry_point, kwargs=_kwargs)


class TupleCueEnv(CueEnv):
    """CueEnv's task behind a Tuple observation: (Discrete 3 cue, MultiBinary 3 one-hot of the cue)."""

    def __init__(self, render_mode=None):
        super().__init__(render_mode)
        self.observation_space = gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.MultiBinary(3)))

    def _obs(self):
        bits = np.zeros(3, np.int8)
        bits[self._cue] = 1
        return (self._cue, bits)


if "TupleCue-v0" not in gym.registry:
    gym.register(id="TupleCue-v0", entry_point=TupleCueEnv)


class RGBEnv(gym.Env):
    """Unstacked uint8 colour images, (12, 12, 3) channels last or (3, 12, 12) channels first: a new random image
    every step, whose mean colour channel 0 vs 1 says which action pays 1. Episodes last 10 steps. Not a frame
    stack: consecutive observations share nothing."""

    metadata = {"render_modes": []}

    def __init__(self, render_mode=None, channels_first=False):
        self._chw = channels_first
        shape = (3, 12, 12) if channels_first else (12, 12, 3)
        self.observation_space = gym.spaces.Box(0, 255, shape=shape, dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(2)
        self._t, self._side = 0, 0

    def _obs(self):
        image = self.np_random.integers(0, 64, (12, 12, 3), dtype=np.uint8)
        image[..., self._side] += 128
        return np.moveaxis(image, -1, 0).copy() if self._chw else image

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t, self._side = 0, int(self.np_random.integers(2))
        return self._obs(), {}

    def step(self, action):
        reward = float(action == self._side)
        self._t, self._side = self._t + 1, int(self.np_random.integers(2))
        return self._obs(), reward, False, self._t >= 10, {}


class GrayDictEnv(gym.Env):
    """Dict observations {"frame": (10, 10) uint8 grayscale, "speed": (2,) float32, "cue": Discrete(2)}; a bright
    column moves one step per env step; action == cue pays 1. Episodes end (terminated) after 6-12 steps. Meant to
    be frame-stacked by Gymnasium's FrameStackObservation ("StackedDict-v0")."""

    metadata = {"render_modes": []}

    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Dict({
            "frame": gym.spaces.Box(0, 255, shape=(10, 10), dtype=np.uint8),
            "speed": gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32),
            "cue": gym.spaces.Discrete(2),
        })
        self.action_space = gym.spaces.Discrete(2)
        self._t, self._length, self._cue, self._column = 0, 8, 0, 0

    def _obs(self):
        frame = np.zeros((10, 10), np.uint8)
        frame[:, self._column % 10] = 200
        frame[0, 0] = self._cue * 50 + 1  # never an all-zero frame, so zero padding is visible
        return {"frame": frame, "speed": self.np_random.uniform(-1, 1, 2).astype(np.float32), "cue": self._cue}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t, self._length = 0, int(self.np_random.integers(6, 13))
        self._cue, self._column = int(self.np_random.integers(2)), int(self.np_random.integers(10))
        return self._obs(), {}

    def step(self, action):
        reward = float(action == self._cue)
        self._t, self._cue, self._column = self._t + 1, int(self.np_random.integers(2)), self._column + 1
        return self._obs(), reward, self._t >= self._length, False, {}


def _stacked_dict(render_mode=None, padding="zero"):
    return gym.wrappers.FrameStackObservation(GrayDictEnv(render_mode), 4, padding_type=padding)


for _env_id, _entry_point, _kwargs in (("RGB-v0", RGBEnv, {}), ("RGBChw-v0", RGBEnv, {"channels_first": True}),
                                       ("StackedDict-v0", _stacked_dict, {}),
                                       ("StackedDictReset-v0", _stacked_dict, {"padding": "reset"})):
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry_point, kwargs=_kwargs)
