"""Lights Out on an n x n board (default 7 x 7).

State: (B, n*n) uint8 of 0/1 lights (row-major). Action i (n*n of them, cost 1) toggles cell i and its up to 4
orthogonal neighbours: ``next = state XOR toggles[i]``. Goal: all lights off. Every action is its own inverse and
actions commute, so a state's distance is the fewest presses whose toggles XOR to it.

Non-backtracking walks press each cell at most once (pressing a cell again, at any later step, undoes it), and
every press of a walk's set leads one step back (``Walks.back``). Where the toggles are independent over GF(2)
(7 x 7 among others; not 4 x 4 or 5 x 5), a walk of k distinct presses ends exactly k presses from the goal,
so the walk targets are Q* itself.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .protocol import PuzzleBase, PuzzleStateError, Walks


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

    @property
    def longest_walk(self) -> int:
        """Non-backtracking walks press every cell at most once: n*n presses at most."""
        return self.size * self.size

    def walks(self, count: int, longest: int, rng: np.random.Generator, non_backtracking: bool = True) -> Walks:
        """Prefixes of walks of distinct presses (see ``PuzzleBase.walks`` for the layout), with ``back`` set to
        each prefix's pressed cells; ``non_backtracking=False`` gives the base class's walks.

        Each walk presses the first ``longest`` cells of a uniformly random order of the board, so every prefix
        of length k is a uniformly random set of k cells.
        """
        if not non_backtracking:
            return super().walks(count, longest, rng, non_backtracking=False)
        cells = self.size * self.size
        if not 1 <= longest <= cells:
            raise ValueError(f"non-backtracking {self.name} walks press each of the {cells} cells at most once, "
                             f"so their length must be in 1..{cells}, got {longest}")
        walkers = -(-count // longest)
        presses = np.argsort(rng.random((walkers, cells)), axis=1)[:, :longest]  # (walkers, longest)
        states = np.bitwise_xor.accumulate(self.toggles[presses], axis=1)  # (walkers, longest, cells)
        pressed = np.zeros((walkers, longest, cells), dtype=bool)
        pressed[np.arange(walkers)[:, None], np.arange(longest)[None], presses] = True
        pressed = np.logical_or.accumulate(pressed, axis=1)
        lengths = np.tile(np.arange(1, longest + 1), walkers)
        return Walks(states.reshape(-1, cells)[:count], lengths[:count], presses.reshape(-1)[:count],
                     pressed.reshape(-1, cells)[:count])

    def shorten_path(self, start: np.ndarray, actions: list[int]) -> list[int]:
        """Presses commute and a cell pressed twice is not pressed: the cells pressed an odd number of times, in
        the order of their first press, reach the same board."""
        odd = np.bincount(np.asarray(actions, dtype=np.int64), minlength=self.num_actions) % 2 == 1
        first = dict.fromkeys(int(a) for a in actions)  # insertion-ordered, one entry per cell
        return [cell for cell in first if odd[cell]]

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

    def optimal_presses(self, states: np.ndarray) -> np.ndarray:
        """Exact distances: the fewest presses switching each board off. (B, n*n) -> (B,) int64; -1 where the
        board cannot be switched off.

        Presses commute and cancel in pairs, so a solution is a set x with T^T x = s over GF(2) (T the toggle
        rows); every solution is one particular x0 plus a null-space vector, and the distance is the smallest
        popcount among those (2^k candidates for a k-dimensional null space: 1 on 7 x 7, 16 on 4 x 4).
        """
        particular, checks, null = self._press_system
        states = np.asarray(states, dtype=np.int64).reshape(-1, self.size * self.size)
        presses = states @ particular.T % 2  # (B, n*n): x0 per board
        unsolvable = (states @ checks.T % 2).any(axis=1)
        best = (presses[:, None, :] ^ null[None]).sum(axis=2).min(axis=1)  # over the 2^k solutions
        return np.where(unsolvable, -1, best)

    @functools.cached_property
    def _press_system(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gauss-Jordan over GF(2) on T^T, once per board: P (n*n, n*n) with (P s) mod 2 a solution x0 (free
        presses at 0), C (n*n - rank, n*n) whose parities (C s) mod 2 are all 0 exactly when s is solvable, and N
        (2^k, n*n) every null-space vector of T^T."""
        cells = self.size * self.size
        # rows [T^T | I]: row operations keep "record @ s = reduced @ x" for every solution x of T^T x = s
        system = np.concatenate([self.toggles.T.astype(np.int64), np.eye(cells, dtype=np.int64)], axis=1)
        pivots: list[int] = []
        for column in range(cells):
            rank = len(pivots)
            hits = np.flatnonzero(system[rank:, column])
            if not len(hits):
                continue
            system[[rank, rank + hits[0]]] = system[[rank + hits[0], rank]]
            others = np.flatnonzero(system[:, column])
            system[others[others != rank]] ^= system[rank]
            pivots.append(column)
        rank = len(pivots)
        reduced, record = system[:, :cells], system[:, cells:]
        particular = np.zeros((cells, cells), dtype=np.int64)
        particular[pivots] = record[:rank]
        null = np.zeros((1, cells), dtype=np.int64)
        for column in sorted(set(range(cells)) - set(pivots)):
            vector = np.zeros(cells, dtype=np.int64)
            vector[column] = 1
            vector[pivots] = reduced[:rank, column]
            null = np.concatenate([null, null ^ vector])
        return particular, record[rank:], null

    def solvable(self, state: np.ndarray) -> bool:
        """Is the board ``state`` (n*n,) a XOR of toggle rows, i.e. can it be switched off?"""
        return bool(self.optimal_presses(state)[0] >= 0)
