"""The ``Puzzle`` protocol: deterministic, batched, cost-weighted search problems for A* / Q* and cost-to-go learning.

A puzzle's states are batched numpy arrays ``(B, D)`` of small unsigned integers. Every hot-path method
(``next_states``, ``expand``, ``is_goal``, ``encode``, ``hash``) works on the whole batch with numpy / torch array
operations; nothing loops over single states in Python.

Every puzzle here has an action set closed under inversion (sliding tile: U<->D, L<->R; cube: X<->X'; lights
out: each press is its own inverse; cube meta-actions: the reversed sequence of inverses), so a *backward*
random walk from the goal has the same distribution as a forward walk with random actions. ``scramble`` relies
on that.

``PuzzleBase`` implements the protocol's shared parts; a concrete puzzle sets the attributes listed in its
docstring and implements ``next_states`` and ``encode`` (and ``parse_state`` for the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from rlkit.errors import EnvError


class PuzzleStateError(EnvError, ValueError):
    """A puzzle state given as text is malformed or unsolvable (a user error: one line naming the fix)."""


@dataclass
class Walks:
    """States from backward walks: states (B, D), lengths (B,) int64 walk lengths (each bounds its state's
    distance to the goal, in base moves), last (B,) int64 the walk's last action (its inverse leads one step back).

    back (B, A) bool, optional: every action known to lead one step back along *some* ordering of the walk, so
    to a state at most ``length - 1`` away. Puzzles whose moves commute set it (Lights Out: every press of the
    walk's set, not only the last); without it only the inverse of ``last`` is known to step back.
    """

    states: np.ndarray
    lengths: np.ndarray
    last: np.ndarray
    back: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.states)

    def take(self, count: int) -> "Walks":
        back = None if self.back is None else self.back[:count]
        return Walks(self.states[:count], self.lengths[:count], self.last[:count], back)


@runtime_checkable
class Puzzle(Protocol):
    """What search and the Q* agent need from a puzzle. States: (B, D) numpy arrays (``state_dtype``)."""

    name: str
    num_actions: int
    action_costs: np.ndarray  # (A,) float32, every cost > 0
    action_names: list[str]
    state_size: int  # D
    encoded_size: int  # width of encode(states)

    def goal_states(self, n: int) -> np.ndarray: ...
    def scramble(self, n: int, steps: int | np.ndarray, rng: np.random.Generator) -> np.ndarray: ...
    def next_states(self, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
    def expand(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
    def is_goal(self, states: np.ndarray) -> np.ndarray: ...
    def encode(self, states: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor: ...
    def hash(self, states: np.ndarray) -> np.ndarray: ...
    def parse_state(self, text: str) -> np.ndarray: ...


class PuzzleBase:
    """Shared implementation. Subclasses set ``name``, ``goal`` (D,), ``action_costs`` (A,), ``action_names``,
    ``encoded_size``, ``key_bits`` (bits per state entry for ``hash``) and implement ``next_states``, ``encode``.
    """

    name: str
    goal: np.ndarray
    action_costs: np.ndarray
    action_names: list[str]
    encoded_size: int
    key_bits: int
    state_dtype = np.dtype(np.uint8)

    @property
    def num_actions(self) -> int:
        return len(self.action_costs)

    @property
    def state_size(self) -> int:
        return len(self.goal)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(actions={self.num_actions}, state_size={self.state_size})"

    # -- the protocol ---------------------------------------------------------------------------------------------
    def goal_states(self, n: int) -> np.ndarray:
        """n copies of the goal. -> (n, D)."""
        return np.repeat(self.goal[None], n, axis=0)

    def is_goal(self, states: np.ndarray) -> np.ndarray:
        """states: (B, D) -> (B,) bool."""
        return (np.asarray(states) == self.goal).all(axis=1)

    def scramble(self, n: int, steps: int | np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Backward random walks from the goal. steps: an int or (n,) per-state walk lengths. -> (n, D).

        Loops over walk steps (not states): at step t every state whose walk is longer than t takes a random
        action from ``random_actions`` (legal moves only, where a puzzle has illegal ones).
        """
        lengths = np.broadcast_to(np.asarray(steps, dtype=np.int64), (n,))
        if (lengths < 0).any():
            raise ValueError(f"scramble steps must be >= 0, got min {lengths.min()}")
        states = self.goal_states(n)
        for t in range(int(lengths.max(initial=0))):
            walking = np.flatnonzero(lengths > t)
            moved, _ = self.next_states(states[walking], self.random_actions(states[walking], rng))
            states[walking] = moved
        return states

    def random_actions(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random action per state (a puzzle with illegal moves draws among the legal ones). -> (B,)."""
        return rng.integers(self.num_actions, size=len(states))

    # -- walks with their lengths (cost-to-go targets without child evaluations) ----------------------------------
    @property
    def inverse_actions(self) -> np.ndarray:
        """(W,) int64: the action that undoes each walk action 0..W-1 (W = the moves ``scramble`` walks with)."""
        raise NotImplementedError(f"{type(self).__name__} does not name its actions' inverses")

    @property
    def longest_walk(self) -> int | None:
        """The longest non-backtracking walk ``walks`` can draw (None: unbounded)."""
        return None

    def walk_moves(self, states: np.ndarray) -> np.ndarray:
        """(B, D) -> (B, W) bool: the walk actions that really move each state (all of them unless overridden)."""
        return np.ones((len(states), len(self.inverse_actions)), dtype=bool)

    def walks(self, count: int, longest: int, rng: np.random.Generator,
              non_backtracking: bool = True) -> "Walks":
        """``count`` states from backward walks, each with its walk's length and last action.

        ceil(count / longest) walks of ``longest`` steps run side by side and every prefix of length 1..longest is
        kept (DeepCubeA's scheme: one walk step yields a state for each walk, so drawing a batch costs ``longest``
        batched steps of count / longest states, not count * longest / 2 state-steps); the first ``count`` are
        returned, lengths uniform over 1..longest. ``non_backtracking``: no step undoes the previous one, so a
        walk's length is a tighter bound on its state's distance. Each step draws uniformly among the allowed
        moves (``walk_moves``, minus the previous move's inverse).
        """
        if longest < 1:
            raise ValueError(f"walk length must be >= 1, got {longest}")
        walkers = -(-count // longest)
        inverse = self.inverse_actions
        states = self.goal_states(walkers)
        last = np.full(walkers, -1, dtype=np.int64)
        kept_states, kept_last = [], []
        for _ in range(longest):
            allowed = self.walk_moves(states)
            if non_backtracking:
                undo = np.flatnonzero(last >= 0)
                allowed[undo, inverse[last[undo]]] = False
            actions = np.argmax(rng.random(allowed.shape) * allowed, axis=1)
            states, _ = self.next_states(states, actions)
            last = actions
            kept_states.append(states)
            kept_last.append(last)
        lengths = np.repeat(np.arange(1, longest + 1), walkers)
        # walk-major order: the first ``count`` rows are whole walks (and part of one), every length equally often
        order = np.arange(walkers * longest).reshape(longest, walkers).T.ravel()[:count]
        return Walks(np.concatenate(kept_states)[order], lengths[order], np.concatenate(kept_last)[order])

    def expand(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All children of every state. states: (B, D) -> children (B*A, D) parent-major, costs (B, A) float32."""
        count, actions = len(states), self.num_actions
        children, costs = self.next_states(np.repeat(states, actions, axis=0), np.tile(np.arange(actions), count))
        return children, costs.reshape(count, actions)

    def shorten_path(self, start: np.ndarray, actions: list[int]) -> list[int]:
        """A path from ``start`` (D,) to the same end state no longer (in cost) than ``actions``: here, every loop
        (a state visited twice) cut out. Puzzles with move algebra (commuting or cancelling moves) do more."""
        state = np.asarray(start)[None]
        kept: list[int] = []
        where = {self.hash(state).tolist()[0]: 0}  # state key -> its position on the kept path
        for action in actions:
            state, _ = self.next_states(state, np.asarray([action]))
            key = self.hash(state).tolist()[0]
            if key in where:  # back at a state already on the path: drop the loop
                position = where[key]
                kept = kept[:position]
                where = {k: i for k, i in where.items() if i <= position}
            else:
                kept.append(int(action))
                where[key] = len(kept)
        return kept

    def hash(self, states: np.ndarray) -> np.ndarray:
        """Exact keys for the closed table: (B, D) -> (B,) int64 when the state fits 64 bits, else (B,) bytes_.

        Both are collision-free (an injective packing, not a digest); ``.tolist()`` gives dict-ready keys.
        """
        return pack_keys(states, self.key_bits)

    def check_states(self, states: np.ndarray) -> np.ndarray:
        """Coerce one state (D,) or a batch (B, D) to a (B, D) array of ``state_dtype``; ValueError on a misfit."""
        states = np.asarray(states)
        if states.ndim == 1:
            states = states[None]
        if states.ndim != 2 or states.shape[1] != self.state_size:
            raise ValueError(f"{self.name} states must have shape (B, {self.state_size}), got {states.shape}")
        return states.astype(self.state_dtype, copy=False)


def pack_keys(states: np.ndarray, bits: int) -> np.ndarray:
    """Pack rows of small ints (< 2**bits) into exact keys: (B, D) -> (B,) int64 if D*bits <= 64, else (B,) S<k>.

    int64 keys are the bit fields side by side (computed in uint64, viewed as int64: still injective). Wider
    states become fixed-width byte strings (nibble- or bit-packed when the values allow); numpy drops trailing
    NUL bytes when it hands them out, which keeps them injective because every key has the same width.
    """
    states = np.ascontiguousarray(states, dtype=np.uint8)
    count, width = states.shape
    if width * bits <= 64:
        shifts = (np.arange(width, dtype=np.uint64) * np.uint64(bits))
        packed = (states.astype(np.uint64) << shifts).sum(axis=1, dtype=np.uint64)
        return packed.view(np.int64)
    if bits == 1:
        packed = np.packbits(states, axis=1)
    elif bits <= 4:
        if width % 2:
            states = np.concatenate([states, np.zeros((count, 1), np.uint8)], axis=1)
        packed = (states[:, 0::2] << 4) | states[:, 1::2]
    else:
        packed = states
    packed = np.ascontiguousarray(packed)
    return packed.view(f"S{packed.shape[1]}").ravel()


def one_hot(states: np.ndarray, classes: int, device: torch.device | str | None) -> torch.Tensor:
    """(B, D) ints < classes -> (B, D*classes) float32 on ``device``; built there, so only 1 byte per entry moves."""
    tensor = torch.as_tensor(np.ascontiguousarray(states), device=device).long()
    return torch.nn.functional.one_hot(tensor, classes).flatten(1).float()


def parse_tokens(text: str, puzzle_name: str, count: int) -> list[int]:
    """'1 2 3, 4 ...' -> list of ``count`` ints; PuzzleStateError naming the puzzle otherwise."""
    tokens = text.replace(",", " ").split()
    try:
        values = [int(token) for token in tokens]
    except ValueError:
        raise PuzzleStateError(f"{puzzle_name} state '{text}' must be {count} integers separated by spaces") from None
    if len(values) != count:
        raise PuzzleStateError(f"{puzzle_name} state needs {count} entries, got {len(values)}")
    return values


def permutation_parity(permutation: Sequence[int]) -> int:
    """0 for an even permutation of range(n), 1 for an odd one (cycle decomposition; used only on parsed input)."""
    seen = [False] * len(permutation)
    parity = 0
    for start in range(len(permutation)):
        length = 0
        position = start
        while not seen[position]:
            seen[position] = True
            position = permutation[position]
            length += 1
        if length:
            parity ^= (length - 1) & 1
    return parity
