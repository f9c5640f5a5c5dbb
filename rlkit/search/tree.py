"""The search tree: node store and closed table of one search.

Nodes live in growable numpy arrays (state, g, parent, action); a node id is a row. The closed table maps a state's
exact key (``puzzle.hash``) to the id of its best node (whose g is in the g array). A child whose state is already
known with g <= its own is a duplicate and is dropped (``closed_hits``); one with a strictly smaller g becomes a NEW
node that replaces the old one in the table (``reopened``), which keeps optimality with inconsistent heuristics.
The open list never deletes: an entry whose node is no longer its state's best ("stale") is skipped when popped.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


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
        self.closed: dict[Any, int] = {}  # key -> id of the state's best node (its g is in self.g)
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
                if self.g[known] <= g_list[i]:  # known < self.size: written by an earlier batch
                    self.closed_hits += 1
                    continue
                self.reopened += 1
            closed[key] = next_id
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
        return self.closed[self.keys[node]] != node

    def memory_bytes(self) -> int:
        """Bytes the tree holds: its arrays at capacity, the key list, the closed table and the key and id objects
        (one of each per node; ``sys.getsizeof`` of a sample key, so an estimate for keys of varying size)."""
        arrays = self.states.nbytes + self.g.nbytes + self.parent.nbytes + self.action.nbytes
        per_node = sys.getsizeof(self.keys[0]) + sys.getsizeof(10**6)  # the key object and its node id's int
        return arrays + sys.getsizeof(self.keys) + sys.getsizeof(self.closed) + self.size * per_node

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
