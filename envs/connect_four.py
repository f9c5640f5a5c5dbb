"""Connect Four against a fixed opponent, as a single-agent Gymnasium env with legal-action masks.

The game is PettingZoo's ``connect_four_v3`` (``pip install 'rlkit[games]'``), seen from one player: the agent's
move, then the opponent's reply inside the same ``step``. The observation is PettingZoo's own Dict, from the view
of the player to move: ``observation`` (6, 7, 2) int8 (channel 0 the agent's discs, channel 1 the opponent's) and
``action_mask`` (7,) int8, the columns that are not full (PettingZoo's convention, which rlkit's
``env.action_mask: auto`` finds). Reward +1 for a win, -1 for a loss, 0 for a draw, at the end of the game
(terminated). An illegal move (only possible without the mask) loses the game.

opponent: ``random`` (uniform over legal columns, from the env's seeded RNG) or ``leftmost`` (the leftmost legal
column, deterministic). agent_first: ``true``, ``false`` or ``random`` (a fair coin per game).

    env = gym.make("rlkit/ConnectFour-v0", opponent="random")
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

OPPONENTS = ("random", "leftmost")


class ConnectFourEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, opponent: str = "random", agent_first: bool | str = "random", render_mode=None):
        try:
            from pettingzoo.classic import connect_four_v3
        except ImportError:
            raise ImportError("rlkit/ConnectFour-v0 needs PettingZoo: pip install 'rlkit[games]'") from None
        if opponent not in OPPONENTS:
            raise ValueError(f"opponent must be one of {', '.join(OPPONENTS)}, got {opponent!r}")
        if agent_first not in (True, False, "random"):
            raise ValueError(f"agent_first must be true, false or random, got {agent_first!r}")
        self.opponent, self.agent_first = opponent, agent_first
        self._game = connect_four_v3.env()
        self.observation_space = gym.spaces.Dict({
            "observation": gym.spaces.Box(0, 1, (6, 7, 2), np.int8),
            "action_mask": gym.spaces.Box(0, 1, (7,), np.int8),
        })
        self.action_space = gym.spaces.Discrete(7)
        self._agent = "player_0"

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._game.reset(seed=int(self.np_random.integers(2**31)))
        first = self.agent_first if self.agent_first != "random" else bool(self.np_random.integers(2))
        self._agent = "player_0" if first else "player_1"
        if not first:
            self._opponent_move()
        return self._observation(), {}

    def step(self, action):
        mask = self._game.observe(self._agent)["action_mask"]
        if not mask[int(action)]:
            return self._observation(), -1.0, True, False, {"illegal": True}
        self._game.step(int(action))
        if self._over():
            return self._observation(), float(self._game.rewards[self._agent]), True, False, {}
        self._opponent_move()
        return self._observation(), float(self._game.rewards[self._agent]), self._over(), False, {}

    def _opponent_move(self):
        legal = np.flatnonzero(self._game.observe(self._game.agent_selection)["action_mask"])
        column = legal[0] if self.opponent == "leftmost" else self.np_random.choice(legal)
        self._game.step(int(column))

    def _over(self) -> bool:
        return any(self._game.terminations.values()) or any(self._game.truncations.values())

    def _observation(self):
        obs = self._game.observe(self._agent)
        return {"observation": obs["observation"].astype(np.int8), "action_mask": obs["action_mask"].astype(np.int8)}
