"""Rubik's cube 3x3x3 with quarter-turn moves, optionally with meta-actions (all sequences of 1 to 3 quarter turns).

State: (B, 54) uint8 sticker colours. Faces are stored in the order U, D, L, R, F, B, 9 stickers each (row-major
as the face is seen from outside); the goal colours sticker i with i // 9, so colour c is face c's centre.

Actions (12, cost 1): U U' D D' L L' R R' F F' B B'; X turns face X clockwise as seen from outside, X' back. Each
is a precomputed sticker permutation ``perm`` with ``new[:, i] = old[:, perm[i]]``, so a batch moves with one
fancy index. The permutations are derived geometrically (each sticker is a cubie position plus an outward normal;
a turn rotates the stickers of one layer by -90 degrees about the face normal) instead of typed in by hand.

``meta_actions=True`` gives every sequence of 1, 2 or 3 quarter turns as one action: 12 + 144 + 1728 = 1884
actions, each composed into a single permutation and costing its number of turns (as the issue asks; sequences
like U U' compose to the identity at cost 2: search discards such a child as a duplicate of its parent).
Scrambles walk quarter turns with either action set, so a scramble depth (and ``puzzle.max_scramble``) always
counts quarter turns; the quarter turns are the first 12 meta-actions, in the same order.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from .protocol import PuzzleBase, PuzzleStateError, one_hot

FACES = "UDLRFB"
# outward normal, then the in-plane "right" and "down" axes of the face as seen from outside
_FACE_FRAMES = {
    "U": ((0, 1, 0), (1, 0, 0), (0, 0, 1)),
    "D": ((0, -1, 0), (1, 0, 0), (0, 0, -1)),
    "L": ((-1, 0, 0), (0, 0, 1), (0, -1, 0)),
    "R": ((1, 0, 0), (0, 0, -1), (0, -1, 0)),
    "F": ((0, 0, 1), (1, 0, 0), (0, -1, 0)),
    "B": ((0, 0, -1), (-1, 0, 0), (0, -1, 0)),
}
QUARTER_TURNS = [name for face in FACES for name in (face, face + "'")]


class Cube3(PuzzleBase):
    """The 3x3x3 cube; see the module docstring. encode: one-hot 54 x 6 = 324 floats."""

    def __init__(self, meta_actions: bool = False):
        self.meta_actions = meta_actions
        self.name = "cube3_meta" if meta_actions else "cube3"
        self.goal = (np.arange(54) // 9).astype(np.uint8)
        self.encoded_size = 54 * 6
        self.key_bits = 3
        quarter = quarter_turn_permutations()
        if meta_actions:
            perms, names, costs = [], [], []
            for length in (1, 2, 3):
                for sequence in itertools.product(range(12), repeat=length):
                    perm = np.arange(54)
                    for move in sequence:
                        perm = perm[quarter[move]]  # apply perm, then quarter[move]
                    perms.append(perm)
                    names.append(" ".join(QUARTER_TURNS[move] for move in sequence))
                    costs.append(length)
            self.perms = np.stack(perms)
            self.action_names = names
            self.action_costs = np.asarray(costs, dtype=np.float32)
        else:
            self.perms = quarter
            self.action_names = list(QUARTER_TURNS)
            self.action_costs = np.ones(12, dtype=np.float32)
        self.quarter_perms = quarter

    def next_states(self, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """states: (B, 54) uint8, actions: (B,) int -> (next states (B, 54) uint8, costs (B,) float32)."""
        actions = np.asarray(actions, dtype=np.int64)
        return np.take_along_axis(states, self.perms[actions], axis=1), self.action_costs[actions]

    def random_actions(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random quarter turn per state (actions 0..11 in both action sets): scramble depth = quarter turns."""
        return rng.integers(12, size=len(states))

    @property
    def inverse_actions(self) -> np.ndarray:
        """X <-> X' for the 12 quarter turns (the walk moves of both action sets)."""
        return np.arange(12) ^ 1

    def expand(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All children at once: (B, 54) -> children (B*A, 54) parent-major, costs (B, A) float32."""
        children = states[:, self.perms].reshape(-1, 54)  # (B, A, 54) in one gather
        return children, np.broadcast_to(self.action_costs, (len(states), self.num_actions)).copy()

    def shorten_path(self, start: np.ndarray, actions: list[int]) -> list[int]:
        """Quarter turns of one face combine (X X X -> X', X X' -> nothing) also across turns of the opposite face,
        which commute with them (U D U' -> D); then loops are cut. Meta-action paths get the loop cut only."""
        if self.meta_actions:
            return super().shorten_path(start, actions)
        stack: list[list[int]] = []  # [face, quarter turns clockwise 1..3]
        for action in actions:
            face, turns = int(action) // 2, 1 if int(action) % 2 == 0 else 3
            position = len(stack) - 1
            while position >= 0 and stack[position][0] // 2 == face // 2 and stack[position][0] != face:
                position -= 1  # the opposite face's turns commute with this one
            if position >= 0 and stack[position][0] == face:
                stack[position][1] = (stack[position][1] + turns) % 4
                if stack[position][1] == 0:
                    del stack[position]
            else:
                stack.append([face, turns])
        merged = [2 * face + (1 if turns == 3 else 0) for face, turns in stack for _ in range(1 if turns != 2 else 2)]
        return super().shorten_path(start, merged)

    def encode(self, states: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
        """(B, 54) -> (B, 324) float32 one-hot on ``device``."""
        return one_hot(states, 6, device)

    def apply_moves(self, states: np.ndarray, moves: str) -> np.ndarray:
        """Apply a quarter-turn sequence such as "R U R' U'" to every state. (B, 54) -> (B, 54)."""
        for token in moves.split():
            if token not in QUARTER_TURNS:
                raise PuzzleStateError(f"unknown cube move '{token}'; use {' '.join(QUARTER_TURNS)}")
            states = states[:, self.quarter_perms[QUARTER_TURNS.index(token)]]
        return states

    def parse_state(self, text: str) -> np.ndarray:
        """A cube from text -> (1, 54) uint8: either quarter turns applied to the solved cube ("R U R' U'"; no
        half turns like "F2"), or 54 stickers in face order U D L R F B, each a face letter (the face whose centre
        has that colour) or a digit 0-5. Sticker input is checked for colour counts and centres only.
        """
        tokens = text.split()
        if tokens and all(token in QUARTER_TURNS for token in tokens):
            return self.apply_moves(self.goal_states(1), text)
        stickers = "".join(tokens).replace(",", "")
        if len(stickers) != 54:
            raise PuzzleStateError(f"cube state must be a quarter-turn sequence like \"R U R' U'\" or 54 stickers "
                                   f"(letters {FACES} or digits 0-5), got {len(stickers)} characters")
        lookup = {**{letter: i for i, letter in enumerate(FACES)}, **{str(i): i for i in range(6)}}
        if any(ch not in lookup for ch in stickers):
            raise PuzzleStateError(f"cube stickers must be letters {FACES} or digits 0-5, got '{stickers}'")
        state = np.asarray([lookup[ch] for ch in stickers], dtype=np.uint8)
        if (np.bincount(state, minlength=6) != 9).any():
            raise PuzzleStateError("cube state must hold exactly 9 stickers of each of the 6 colours")
        if (state[4::9] != np.arange(6)).any():
            raise PuzzleStateError(f"cube centres (stickers 4, 13, ..., 49) must read {FACES} in order")
        return state[None]


def quarter_turn_permutations() -> np.ndarray:
    """(12, 54) int64 sticker permutations in QUARTER_TURNS order (new[:, i] = old[:, perm[i]])."""
    positions, normals = sticker_geometry()
    index = {(tuple(p), tuple(n)): i for i, (p, n) in enumerate(zip(positions, normals))}
    perms = []
    for face in FACES:
        normal = np.asarray(_FACE_FRAMES[face][0])
        rotation = _clockwise(normal)
        layer = positions @ normal == 1
        perm = np.arange(54)
        for source in np.flatnonzero(layer):
            destination = index[(tuple(rotation @ positions[source]), tuple(rotation @ normals[source]))]
            perm[destination] = source
        perms += [perm, np.argsort(perm)]  # X, then X' = the inverse permutation
    return np.stack(perms)


def sticker_geometry() -> tuple[np.ndarray, np.ndarray]:
    """Cubie position (54, 3) and outward normal (54, 3) of every sticker, in state order."""
    positions, normals = [], []
    for face in FACES:
        normal, right, down = (np.asarray(v) for v in _FACE_FRAMES[face])
        for row in range(3):
            for col in range(3):
                positions.append(normal + right * (col - 1) + down * (row - 1))
                normals.append(normal)
    return np.asarray(positions), np.asarray(normals)


def _clockwise(axis: np.ndarray) -> np.ndarray:
    """Integer rotation matrix of -90 degrees about a unit axis (clockwise seen from the axis tip): -[n]x + n n^T."""
    x, y, z = axis
    cross = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return -cross + np.outer(axis, axis)
