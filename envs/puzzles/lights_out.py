"""Lights Out on an n x n board (default 7 x 7).

State: (B, n*n) uint8 of 0/1 lights (row-major). Action i (n*n of them, cost 1) toggles cell i and its up to 4
orthogonal neighbours: ``next = state XOR toggles[i]``. Goal: all lights off. Every action is its own inverse and
actions commute, so a state's distance is the fewest presses whose toggles XOR to it.
"""

from __future__ import annotations

import numpy as np
import torch

from .protocol import PuzzleBase, PuzzleStateError


class LightsOut(PuzzleBase):
    """n x n Lights Out; see the module docstring. encode: the n*n lights as floats."""

    def __init__(self, size: int = 7):
        if not 2 <= size <= 15:
            raise ValueError(f"lights out size must be in 2..15, got {size}")
        self.size = size
        cells = size * size
        self.name = f"lights_out_{size}x{size}"
        self.goal = np.zeros(cells, dtype=np.uint8)
        self.action_costs = np.ones(cells, dtype=np.float32)
        self.action_names = [f"{r},{c}" for r in range(size) for c in range(size)]
        self.encoded_size = cells
        self.key_bits = 1
        toggles = np.zeros((cells, size, size), dtype=np.uint8)
        for cell in range(cells):
            r, c = divmod(cell, size)
            for dr, dc in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)):
                if 0 <= r + dr < size and 0 <= c + dc < size:
                    toggles[cell, r + dr, c + dc] = 1
        self.toggles = toggles.reshape(cells, cells)

    def next_states(self, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """states: (B, n*n) uint8, actions: (B,) int -> (next states (B, n*n) uint8, costs (B,) float32)."""
        actions = np.asarray(actions, dtype=np.int64)
        return states ^ self.toggles[actions], self.action_costs[actions]

    @property
    def inverse_actions(self) -> np.ndarray:
        """Every press is its own inverse."""
        return np.arange(self.num_actions)

    def expand(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All children at once: (B, n*n) -> children (B*A, n*n) parent-major, costs (B, A) float32."""
        children = (states[:, None, :] ^ self.toggles[None]).reshape(-1, self.state_size)
        return children, np.broadcast_to(self.action_costs, (len(states), self.num_actions)).copy()

    def encode(self, states: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
        """(B, n*n) -> (B, n*n) float32 on ``device``."""
        return torch.as_tensor(np.ascontiguousarray(states), device=device).float()

    def parse_state(self, text: str) -> np.ndarray:
        """'0110...' (n*n digits 0/1, whitespace and commas ignored) -> (1, n*n) uint8; PuzzleStateError if
        malformed or not solvable (not in the span of the toggles over GF(2))."""
        digits = "".join(text.replace(",", " ").split())
        cells = self.size * self.size
        if len(digits) != cells or set(digits) - {"0", "1"}:
            raise PuzzleStateError(f"{self.name} state must be {cells} digits 0/1 (row-major), got '{text}'")
        state = np.asarray([int(ch) for ch in digits], dtype=np.uint8)
        if not self.solvable(state):
            raise PuzzleStateError(f"{self.name} state '{digits}' cannot be switched off by any presses")
        return state[None]

    def solvable(self, state: np.ndarray) -> bool:
        """Gaussian elimination over GF(2) with rows as Python ints: is ``state`` a XOR of toggle rows?"""
        basis: dict[int, int] = {}  # leading bit -> row
        for row in self.toggles:
            value = int("".join(map(str, row)), 2)
            while value:
                lead = value.bit_length() - 1
                if lead not in basis:
                    basis[lead] = value
                    break
                value ^= basis[lead]
        value = int("".join(map(str, state)), 2)
        while value:
            lead = value.bit_length() - 1
            if lead not in basis:
                return False
            value ^= basis[lead]
        return True
