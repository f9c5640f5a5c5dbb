"""The n x n sliding-tile puzzle (8-, 15-, 24-puzzle for n = 3, 4, 5).

State: (B, n*n) uint8, entry p is the tile at board position p (row-major), 0 is the blank.
Goal: 1, 2, ..., n*n-1 then the blank in the bottom-right corner.
Actions: the blank moves Up, Down, Left, Right (4 actions, cost 1 each).

Illegal moves (the blank against an edge) leave the state unchanged at cost 1, as in DeepCubeA: every state then has
all 4 actions, so a Q-network's output always means the same 4 moves and batched expansion needs no mask. Search
treats the unchanged child as a duplicate of its parent (closed-table hit) and the cost-to-go learner learns
Q(s, illegal) = 1 + h(s), which no shortest path ever uses. Scrambles draw legal moves only, so a walk of k steps
really moves the blank k times.
"""

from __future__ import annotations

import numpy as np
import torch

from .protocol import PuzzleBase, PuzzleStateError, one_hot, parse_tokens, permutation_parity

ACTION_NAMES = ["U", "D", "L", "R"]


class SlidingTile(PuzzleBase):
    """n x n sliding-tile puzzle; see the module docstring. encode: one-hot tile per position, n**4 floats."""

    def __init__(self, size: int = 4):
        if not 2 <= size <= 15:
            raise ValueError(f"sliding tile size must be in 2..15, got {size}")
        self.size = size
        cells = size * size
        self.name = f"sliding_tile_{size}x{size}"
        self.goal = (np.arange(1, cells + 1) % cells).astype(np.uint8)
        self.action_costs = np.ones(4, dtype=np.float32)
        self.action_names = list(ACTION_NAMES)
        self.encoded_size = cells * cells
        self.key_bits = max(1, int(np.ceil(np.log2(cells))))
        # move_target[p, a]: where the blank at p goes under action a (p itself when the move is illegal).
        rows, cols = np.divmod(np.arange(cells), size)
        deltas = [(-1, 0), (1, 0), (0, -1), (0, 1)]
        target = np.empty((cells, 4), dtype=np.int64)
        legal = np.empty((cells, 4), dtype=bool)
        for a, (dr, dc) in enumerate(deltas):
            r, c = rows + dr, cols + dc
            legal[:, a] = (r >= 0) & (r < size) & (c >= 0) & (c < size)
            target[:, a] = np.where(legal[:, a], r * size + c, np.arange(cells))
        self.move_target, self.legal = target, legal

    def next_states(self, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """states: (B, n*n) uint8, actions: (B,) int -> (next states (B, n*n) uint8, costs (B,) float32)."""
        actions = np.asarray(actions, dtype=np.int64)
        rows = np.arange(len(states))
        blank = np.argmin(states, axis=1)  # the blank is the only 0
        target = self.move_target[blank, actions]
        out = states.copy()
        out[rows, blank] = states[rows, target]  # an illegal move writes the blank onto itself: a no-op
        out[rows, target] = 0
        return out, self.action_costs[actions]

    def random_actions(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random LEGAL move per state: argmax of uniform noise on the legal entries. -> (B,)."""
        legal = self.walk_moves(states)
        return np.argmax(rng.random(legal.shape) * legal, axis=1)

    @property
    def inverse_actions(self) -> np.ndarray:
        """U <-> D, L <-> R."""
        return np.array([1, 0, 3, 2])

    def walk_moves(self, states: np.ndarray) -> np.ndarray:
        """The legal moves of each state's blank. (B, n*n) -> (B, 4) bool."""
        return self.legal[np.argmin(states, axis=1)]

    def encode(self, states: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
        """(B, n*n) -> (B, n**4) float32 one-hot (position-major) on ``device``."""
        return one_hot(states, self.size * self.size, device)

    def parse_state(self, text: str) -> np.ndarray:
        """'1 2 3 4 5 6 7 8 0' (row-major, 0 = blank) -> (1, n*n) uint8; PuzzleStateError if malformed/unsolvable."""
        cells = self.size * self.size
        values = parse_tokens(text, self.name, cells)
        if sorted(values) != list(range(cells)):
            raise PuzzleStateError(f"{self.name} state must hold each of 0..{cells - 1} exactly once, got {values}")
        if not self.solvable(values):
            raise PuzzleStateError(f"{self.name} state {values} is unsolvable (wrong permutation parity); "
                                   "swap two non-blank tiles")
        return np.asarray(values, dtype=np.uint8)[None]

    def solvable(self, values: list[int]) -> bool:
        """Reachable from the goal iff the permutation's parity equals that of the blank's distance to its goal cell."""
        cells = self.size * self.size
        goal_position = [(value - 1) % cells for value in values]  # tile v belongs at v-1; the blank at the end
        blank_row, blank_col = divmod(values.index(0), self.size)
        distance = (self.size - 1 - blank_row) + (self.size - 1 - blank_col)
        return permutation_parity(goal_position) == distance % 2

    def render(self, state: np.ndarray) -> str:
        """One state (n*n,) -> a text board."""
        width = len(str(self.size * self.size - 1))
        cells = [" " * width if v == 0 else str(int(v)).rjust(width) for v in np.asarray(state).ravel()]
        return "\n".join(" ".join(cells[r * self.size:(r + 1) * self.size]) for r in range(self.size))
