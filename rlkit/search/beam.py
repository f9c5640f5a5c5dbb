"""Beam search and greedy search with a Q-network: the baselines heuristic-search papers compare Q* with.

Each step scores the whole beam with ONE ``q_fn`` call: Q(s, a) ranks every child of every beam state without
evaluating the children (the same saving as Q*'s). All W x A children are generated and goal-tested (cheap array
work next to the network call), so a goal one move away is never missed however the network ranks it. The next
beam is the ``beam_width`` best new children by weight * g(s) + Q(s, a) (with unit costs every state of a layer has
the same g, so the ranking is by Q alone), after dropping duplicates within the layer and states already seen in
earlier layers (``puzzle.hash``, exact keys). Beam search is incomplete and returns the first path it finds, not a
shortest one: ``stop_reason`` is 'found'. Greedy search is beam search with width 1 (never revisiting a state).

Memory: the beam's states, one (parent, action) pair per beam slot per layer for the path, and the seen keys
(``max_seen`` bounds them: the oldest layers are forgotten first).
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any, Callable

import numpy as np

from .common import SearchResult, out_of_budget, validate_path


def beam_search(
    puzzle: Any,
    start_state: np.ndarray,
    q_fn: Callable[[np.ndarray], np.ndarray],
    beam_width: int = 1000,
    weight: float = 1.0,
    max_depth: int | None = None,
    max_nodes: int | None = None,
    max_seconds: float | None = None,
    max_seen: int | None = 50_000_000,
) -> SearchResult:
    """Beam search from ``start_state`` (D,) to the puzzle's goal with Q-values ranking the children.

    q_fn: states (N, D) -> (N, A) estimates of c(s, a) + cost-to-go(child); beam_width: states kept per layer
    (W; 1 is greedy search); weight: lambda on g in the ranking; max_depth: layers (default: unlimited);
    max_nodes / max_seconds: budgets, checked before each layer (a layer's network call is not interrupted, so
    the overshoot is at most one layer). max_seen: keys kept for duplicate detection (None: all). The result's
    ``nodes_generated`` counts every generated child, ``expansions`` the beam states scored, ``iterations`` the
    layers; ``extra`` holds ``beam_width`` and ``seen`` (keys held at the end).
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    if weight < 0:
        raise ValueError(f"weight (lambda on g) must be >= 0, got {weight}")
    started = time.perf_counter()
    start = np.asarray(start_state, dtype=getattr(puzzle, "state_dtype", None)).reshape(1, -1)
    if start.shape[1] != puzzle.state_size:
        raise ValueError(f"start state must have shape ({puzzle.state_size},), got {np.shape(start_state)}")
    beam, g = start, np.zeros(1)
    layers: list[tuple[np.ndarray, np.ndarray]] = []  # per layer: (parent slot in the previous beam, action)
    seen = _SeenKeys(max_seen)
    seen.add(puzzle.hash(beam))
    nodes, calls, expansions, stop_reason = 1, 0, 0, "exhausted"
    num_actions = puzzle.num_actions
    extra = {"beam_width": beam_width}
    if puzzle.is_goal(beam)[0]:
        return _result(puzzle, start[0], [], 0.0, nodes, 0, 0, 0, started, "found", extra | {"seen": len(seen)})
    while len(beam):
        reason = out_of_budget(nodes, len(layers), started, max_nodes, max_depth, max_seconds)
        if reason:
            stop_reason = "max_depth" if reason == "max_iterations" else reason
            break
        q = np.asarray(q_fn(beam), dtype=np.float64)
        if q.shape != (len(beam), num_actions):
            raise ValueError(f"q_fn must return shape ({len(beam)}, {num_actions}), got {q.shape}")
        calls += 1
        expansions += len(beam)
        children, costs = puzzle.expand(beam)  # (W*A, D) parent-major, (W, A)
        nodes += len(children)
        child_g = g[:, None] + costs  # (W, A)
        goal = np.flatnonzero(puzzle.is_goal(children))
        if len(goal):
            best = goal[np.argmin(child_g.reshape(-1)[goal])]
            layers.append((np.array([best // num_actions]), np.array([best % num_actions])))
            actions = _path(layers)
            return _result(puzzle, start[0], actions, float(child_g.reshape(-1)[best]), nodes, len(layers), calls,
                           expansions, started, "found", extra | {"seen": len(seen)})
        priority = (weight * g[:, None] + q).reshape(-1)
        # rank all edges, then walk down the ranking until W new states are kept (duplicates skipped)
        order = _best_first(priority, beam_width)
        keys = puzzle.hash(children[order])
        fresh = _first_unique(keys) & ~seen.contains(keys)
        kept = order[fresh][:beam_width]
        if len(kept) < beam_width and len(order) < len(priority):  # too many duplicates: rank the rest too
            rest = np.setdiff1d(np.arange(len(priority)), order, assume_unique=True)
            rest = rest[np.argsort(priority[rest], kind="stable")]
            keys_rest = puzzle.hash(children[rest])
            fresh_rest = _first_unique(np.concatenate([keys[fresh], keys_rest]))[fresh.sum():]
            fresh_rest &= ~seen.contains(keys_rest)
            kept = np.concatenate([kept, rest[fresh_rest][: beam_width - len(kept)]])
        if not len(kept):
            break  # every child was seen before: the beam is stuck
        layers.append((kept // num_actions, kept % num_actions))
        beam, g = children[kept], child_g.reshape(-1)[kept]
        seen.add(puzzle.hash(beam))
    return _result(puzzle, start[0], [], math.inf, nodes, len(layers), calls, expansions, started, stop_reason,
                   extra | {"seen": len(seen)})


def greedy_search(puzzle: Any, start_state: np.ndarray, q_fn: Callable[[np.ndarray], np.ndarray],
                  max_depth: int | None = None, max_nodes: int | None = None,
                  max_seconds: float | None = None) -> SearchResult:
    """Follow the lowest-Q action that leads to a state not visited before: ``beam_search`` with width 1."""
    return beam_search(puzzle, start_state, q_fn, 1, 1.0, max_depth, max_nodes, max_seconds)


class _SeenKeys:
    """Keys of earlier layers, for duplicate detection; forgets whole layers, oldest first, beyond ``limit``."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.keys: set = set()
        self.layers: deque[list] = deque()

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, keys: np.ndarray) -> None:
        layer = keys.tolist()
        self.keys.update(layer)
        self.layers.append(layer)
        while self.limit is not None and len(self.keys) > self.limit and len(self.layers) > 1:
            self.keys.difference_update(self.layers.popleft())

    def contains(self, keys: np.ndarray) -> np.ndarray:
        known = self.keys
        return np.fromiter((key in known for key in keys.tolist()), dtype=bool, count=len(keys))


def _best_first(priority: np.ndarray, width: int) -> np.ndarray:
    """Indices of the ~2 * width lowest priorities in ascending order (all of them when there are fewer)."""
    count = min(len(priority), 2 * width)
    if count < len(priority):
        chosen = np.argpartition(priority, count - 1)[:count]
    else:
        chosen = np.arange(len(priority))
    return chosen[np.argsort(priority[chosen], kind="stable")]


def _first_unique(keys: np.ndarray) -> np.ndarray:
    """(N,) keys -> (N,) bool: True at the first occurrence of each key."""
    _, first = np.unique(keys, return_index=True)
    mask = np.zeros(len(keys), dtype=bool)
    mask[first] = True
    return mask


def _path(layers: list[tuple[np.ndarray, np.ndarray]]) -> list[int]:
    """Actions from the start to slot 0 of the last layer, following parent slots backwards."""
    actions = []
    slot = 0
    for parents, layer_actions in reversed(layers):
        actions.append(int(layer_actions[slot]))
        slot = int(parents[slot])
    return actions[::-1]


def _result(puzzle: Any, start: np.ndarray, actions: list[int], cost: float, nodes: int, layers: int, calls: int,
            expansions: int, started: float, stop_reason: str, extra: dict) -> SearchResult:
    solved = bool(actions) or (cost == 0.0)
    # the beam keeps no states per layer: the path's states are those of the validating replay
    states = validate_path(puzzle, start, actions, cost) if solved else None
    return SearchResult(solved, actions, cost, nodes, layers, calls, time.perf_counter() - started, states=states,
                        expansions=expansions, stop_reason=stop_reason, extra=extra)

