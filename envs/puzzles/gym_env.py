"""The search puzzles as Gymnasium envs (``rlkit/SlidingTile-v0``, ``rlkit/Cube3-v0``, ``rlkit/LightsOut-v0``).

Observation: the puzzle's float encoding, a Box in [0, 1] of shape (encoded_size,). Action: Discrete(num_actions).
Reward: minus the action's cost. ``reset`` scrambles ``scramble_depth`` moves from the goal with the env's seeded
``np_random`` (re-drawing the rare walk that ends on the goal); the episode terminates at the goal and is
truncated after ``max_steps`` moves (the registrations set no TimeLimit, so the env owns its horizon).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from .cube3 import Cube3
from .lights_out import LightsOut
from .protocol import PuzzleBase
from .sliding_tile import SlidingTile


class PuzzleEnv(gym.Env):
    """A Gymnasium view of any ``PuzzleBase`` puzzle; see the module docstring."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, puzzle: PuzzleBase, scramble_depth: int = 10, max_steps: int = 100,
                 render_mode: str | None = None):
        if scramble_depth < 1:
            raise ValueError(f"scramble_depth must be >= 1 (0 would start every episode solved), got {scramble_depth}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.puzzle = puzzle
        self.scramble_depth, self.max_steps, self.render_mode = scramble_depth, max_steps, render_mode
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(puzzle.encoded_size,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(puzzle.num_actions)
        self.state = puzzle.goal_states(1)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        for _ in range(100):  # a short walk can return to the goal (e.g. U then D); draw again
            self.state = self.puzzle.scramble(1, self.scramble_depth, self.np_random)
            if not self.puzzle.is_goal(self.state)[0]:
                break
        self.steps = 0
        return self._obs(), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        self.state, cost = self.puzzle.next_states(self.state, np.asarray([int(action)]))
        self.steps += 1
        terminated = bool(self.puzzle.is_goal(self.state)[0])
        truncated = not terminated and self.steps >= self.max_steps
        return self._obs(), -float(cost[0]), terminated, truncated, {}

    def render(self):
        if self.render_mode == "ansi":
            render = getattr(self.puzzle, "render", None)
            return render(self.state[0]) if render else " ".join(map(str, self.state[0].tolist()))
        return None

    def _obs(self) -> np.ndarray:
        return self.puzzle.encode(self.state)[0].numpy()


class SlidingTileEnv(PuzzleEnv):
    """``rlkit/SlidingTile-v0``: the size x size sliding-tile puzzle (size 4: the 15-puzzle)."""

    def __init__(self, size: int = 4, scramble_depth: int = 10, max_steps: int = 100, render_mode: str | None = None):
        super().__init__(SlidingTile(size), scramble_depth, max_steps, render_mode)


class Cube3Env(PuzzleEnv):
    """``rlkit/Cube3-v0``: Rubik's cube, 12 quarter turns (1884 with ``meta_actions``)."""

    def __init__(self, meta_actions: bool = False, scramble_depth: int = 10, max_steps: int = 100,
                 render_mode: str | None = None):
        super().__init__(Cube3(meta_actions), scramble_depth, max_steps, render_mode)


class LightsOutEnv(PuzzleEnv):
    """``rlkit/LightsOut-v0``: size x size Lights Out (default 7 x 7)."""

    def __init__(self, size: int = 7, scramble_depth: int = 10, max_steps: int = 100, render_mode: str | None = None):
        super().__init__(LightsOut(size), scramble_depth, max_steps, render_mode)
