"""What A* and Q* share: the search tree (node store + closed table), the stopping rule, path reconstruction and
validation, and the result record.

Nodes live in growable numpy arrays (state, g, parent, action); a node id is a row. The closed table maps a state's
exact key (``puzzle.hash``) to ``(best g, node id)``. A child whose state is already known with g <= its own is a
duplicate and is dropped (``closed_hits``); one with a strictly smaller g becomes a NEW node that replaces the old
one in the table (``reopened``), which keeps optimality with inconsistent heuristics. The open list never deletes:
an entry whose node is no longer its state's best ("stale") is skipped when popped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class SearchError(RuntimeError):
    """A returned path failed its replay check: a bug in search or in the puzzle, never a user error."""


@dataclass
class SearchResult:
    """What a search returns.

    solved: a goal was reached; actions: the path's actions (len L); cost: its total cost (inf if unsolved);
    nodes_generated: states generated including the start (A*: every child of every expanded node; Q*: one child
    per popped edge); iterations: batches popped; network_calls: heuristic / Q calls; seconds: wall time;
    states: (L+1, D) the path's states from the start to the goal; expansions: nodes (A*) or edges (Q*) popped;
    closed_hits: generated children dropped as duplicates; reopened: children that improved a known state's g;
    stop_reason: 'proved' (stopping rule met), 'exhausted' (open list empty), 'max_nodes', 'max_seconds' or
    'max_iterations'.
    """

    solved: bool
    actions: list[int]
    cost: float
    nodes_generated: int
    iterations: int
    network_calls: int
    seconds: float
    states: np.ndarray | None = None
    expansions: int = 0
    closed_hits: int = 0
    reopened: int = 0
    stop_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class SearchTree:
    """Node store and closed table for one search. start: (D,) or (1, D) state of ``puzzle``."""

    def __init__(self, puzzle: Any, start: np.ndarray, capacity: int = 4096):
        start = np.asarray(start, dtype=getattr(puzzle, "state_dtype", None))
        start = start[None] if start.ndim == 1 else start
        if start.shape != (1, puzzle.state_size):
            raise ValueError(f"start state must have shape ({puzzle.state_size},), got {tuple(np.shape(start))}")
        self.puzzle = puzzle
        self.states = np.empty((capacity, puzzle.state_size), dtype=start.dtype)
        self.g = np.empty(capacity, dtype=np.float64)
        self.parent = np.empty(capacity, dtype=np.int64)
        self.action = np.empty(capacity, dtype=np.int64)
        self.keys: list[Any] = []
        self.closed: dict[Any, tuple[float, int]] = {}
        self.size = 0
        self.closed_hits = 0
        self.reopened = 0
        self.add(start, np.zeros(1), np.full(1, -1), np.full(1, -1))

    def add(self, states: np.ndarray, g: np.ndarray, parents: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Insert generated children. states (M, D), g (M,), parents (M,), actions (M,) -> ids (M,), -1 = dropped.

        The loop is over dict look-ups only (the one per-state Python operation search needs). Of several copies
        of one state in the batch only the cheapest (the first of equals) is considered; the others count as
        closed hits, so no worse copy becomes a node (and gets scored) only to be reopened at once.
        """
        keys = self.puzzle.hash(states).tolist()
        g_list = g.tolist()
        ids = np.full(len(keys), -1, dtype=np.int64)
        next_id = self.size
        closed = self.closed
        cheapest: dict[Any, int] = {}
        for i, key in enumerate(keys):
            best = cheapest.get(key)
            if best is None or g_list[i] < g_list[best]:
                cheapest[key] = i
        for i, key in enumerate(keys):
            if cheapest[key] != i:
                self.closed_hits += 1
                continue
            known = closed.get(key)
            if known is not None:
                if known[0] <= g_list[i]:
                    self.closed_hits += 1
                    continue
                self.reopened += 1
            closed[key] = (g_list[i], next_id)
            ids[i] = next_id
            next_id += 1
        accepted = ids >= 0
        count = int(accepted.sum())
        self._reserve(self.size + count)
        rows = slice(self.size, self.size + count)
        self.states[rows] = states[accepted]
        self.g[rows] = g[accepted]
        self.parent[rows] = parents[accepted]
        self.action[rows] = actions[accepted]
        self.keys.extend(key for key, keep in zip(keys, accepted.tolist()) if keep)
        self.size += count
        return ids

    def is_stale(self, node: int) -> bool:
        """True when a better path to this node's state has been found since it was pushed."""
        return self.closed[self.keys[node]][1] != node

    def path(self, node: int) -> tuple[list[int], np.ndarray]:
        """Actions (L,) and states (L+1, D) from the start to ``node`` (walks parent links: O(L) Python steps)."""
        nodes = []
        while node >= 0:
            nodes.append(node)
            node = int(self.parent[node])
        nodes.reverse()
        return [int(self.action[n]) for n in nodes[1:]], self.states[nodes].copy()

    def _reserve(self, size: int) -> None:
        capacity = len(self.g)
        if size <= capacity:
            return
        capacity = max(size, 2 * capacity)
        for name in ("states", "g", "parent", "action"):
            old = getattr(self, name)
            new = np.empty((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)


def goal_reached(weight: float, best_goal_cost: float, open_min: float) -> bool:
    """The stopping rule: stop once weight * C <= the smallest priority on the open list (C: best goal cost found).

    A goal node's own priority is weight * C + h(goal) = weight * C, so this is exactly the textbook "stop when the
    goal is popped", only with the goal detected at generation. At weight 1 with an admissible heuristic (or Q with
    Q(s, a) <= c(s, a) + h*(s')), every open entry's priority is a lower bound on the cost of any path through it,
    so no open entry can lead to a goal cheaper than C: the returned path is a shortest one.
    """
    return weight * best_goal_cost <= open_min


def finish(tree: SearchTree, goal_node: int, start_time: float, **stats: Any) -> SearchResult:
    """Build the result; a found path is replayed on the puzzle and must reach the goal at the recorded cost."""
    seconds = time.perf_counter() - start_time
    if goal_node < 0:
        return SearchResult(False, [], math.inf, seconds=seconds, closed_hits=tree.closed_hits,
                            reopened=tree.reopened, **stats)
    actions, states = tree.path(goal_node)
    cost = float(tree.g[goal_node])
    validate_path(tree.puzzle, states[0], actions, cost, states)
    return SearchResult(True, actions, cost, seconds=seconds, states=states, closed_hits=tree.closed_hits,
                        reopened=tree.reopened, **stats)


def validate_path(puzzle: Any, start: np.ndarray, actions: list[int], cost: float,
                  states: np.ndarray | None = None) -> None:
    """Replay ``actions`` from ``start`` (D,); raise SearchError unless it ends at a goal with total ``cost`` and
    (when given) passes through ``states`` (L+1, D)."""
    state = np.asarray(start)[None]
    total = 0.0
    for step, action in enumerate(actions):
        state, step_cost = puzzle.next_states(state, np.asarray([action]))
        total += float(step_cost[0])
        if states is not None and not np.array_equal(state[0], states[step + 1]):
            raise SearchError(f"path replay diverges from the search tree at step {step + 1} of {len(actions)}")
    if not puzzle.is_goal(state)[0]:
        raise SearchError(f"path of {len(actions)} actions does not reach the goal of {puzzle.name}")
    if not math.isclose(total, cost, rel_tol=1e-9, abs_tol=1e-6):
        raise SearchError(f"path costs {total} when replayed but search recorded {cost}")


def check_arguments(batch_size: int, weight: float) -> None:
    """ValueError naming the argument when the batch size or the weight on g is out of range."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0.0 <= weight:
        raise ValueError(f"weight (lambda on g) must be >= 0, got {weight}")


def out_of_budget(nodes: int, iterations: int, start_time: float, max_nodes: int | None,
                  max_iterations: int | None, max_seconds: float | None) -> str:
    """The name of the exhausted budget, or '' while there is budget left."""
    if max_nodes is not None and nodes >= max_nodes:
        return "max_nodes"
    if max_iterations is not None and iterations >= max_iterations:
        return "max_iterations"
    if max_seconds is not None and time.perf_counter() - start_time >= max_seconds:
        return "max_seconds"
    return ""
