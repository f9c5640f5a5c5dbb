"""Batched weighted A* (as in DeepCubeA, Agostinelli et al. 2019).

Each iteration pops the B open nodes of lowest f = weight * g + h, generates ALL their children (B * A states),
tests them for the goal on generation, drops duplicates against the closed table, and scores the new children
with ONE batched ``heuristic_fn`` call. With a learned Q-network, h(s) = min_a Q(s, a).
"""

from __future__ import annotations

import heapq
import math
import sys
from typing import Any, Callable

import numpy as np

from .common import SearchResult, goal_reached
from .tree import SearchTree
from .loop import Popped, run_search


def astar(
    puzzle: Any,
    start_state: np.ndarray,
    heuristic_fn: Callable[[np.ndarray], np.ndarray],
    batch_size: int = 1,
    weight: float = 1.0,
    max_nodes: int | None = None,
    max_seconds: float | None = None,
    max_iterations: int | None = None,
    max_memory_mb: float | None = None,
) -> SearchResult:
    """Batched weighted A* from ``start_state`` (D,) to the puzzle's goal.

    heuristic_fn: states (N, D) -> (N,) cost-to-go estimates (numpy or anything np.asarray takes); never called
    on goal states. batch_size: nodes popped per iteration (B). weight: lambda on g (1: A*; < 1: greedier).
    max_nodes / max_seconds / max_iterations: budgets; when one runs out the best goal found so far (if any) is
    returned with ``stop_reason`` naming the budget; max_memory_mb bounds the tree, closed table and open list
    ('max_memory'; ``result.extra["bytes_per_node"]`` reports their size per node). Stops early by
    ``common.goal_reached`` (shortest paths at weight 1 with an admissible heuristic). The loop is
    ``search.loop.run_search``; this module is its strategy.
    """
    return run_search(puzzle, start_state, NodeStrategy(heuristic_fn), batch_size, weight, max_nodes, max_seconds,
                      max_iterations, max_memory_mb=max_memory_mb)


class NodeStrategy:
    """A*'s open list: nodes by f = weight * g + h; a popped node has all its children generated."""

    def __init__(self, heuristic_fn: Callable[[np.ndarray], np.ndarray]):
        self.heuristic_fn = heuristic_fn
        self.open_list: list[tuple[float, int]] = []  # (f, node id): ties go to the older node
        self.network_calls = 0
        self.weight = 1.0

    def start(self, tree: SearchTree) -> None:
        h_start = float(np.asarray(self.heuristic_fn(tree.states[:1]), dtype=np.float64).reshape(-1)[0])
        self.network_calls += 1
        self.open_list.append((h_start, 0))

    def pop(self, tree: SearchTree, batch_size: int, weight: float, best_cost: float) -> Popped | None:
        """Up to B live node ids in f order; None once the stopping rule holds (the list's minimum >= weight * C)."""
        self.weight = weight
        batch: list[int] = []
        open_list = self.open_list
        while open_list and len(batch) < batch_size:
            f, node = open_list[0]
            if goal_reached(weight, best_cost, f):
                return None if not batch else Popped(np.asarray(batch, dtype=np.int64))
            heapq.heappop(open_list)
            if not tree.is_stale(node):
                batch.append(node)
        if not batch and best_cost < math.inf:
            return None  # nothing left to beat the goal we have
        return Popped(np.asarray(batch, dtype=np.int64))

    def push(self, tree: SearchTree, popped: Popped, fresh: np.ndarray) -> None:
        """Score the new nodes with one heuristic call and open them."""
        if not len(fresh):
            return
        h = np.asarray(self.heuristic_fn(tree.states[fresh]), dtype=np.float64).reshape(-1)
        self.network_calls += 1
        _push_all(self.open_list, self.weight * tree.g[fresh] + h, fresh)

    def memory_bytes(self) -> int:
        """Bytes of the open list: the list's slots and, per entry, its tuple, float and int objects (small ints
        are shared by CPython, so this slightly over-counts)."""
        per_entry = sys.getsizeof((0.0, 0)) + sys.getsizeof(0.5) + sys.getsizeof(10**6)
        return sys.getsizeof(self.open_list) + len(self.open_list) * per_entry


def _push_all(open_list: list, priorities: np.ndarray, ids: np.ndarray) -> None:
    """Push (f, id) pairs: heappush one by one, or extend + heapify when the batch is large against the heap."""
    entries = list(zip(priorities.tolist(), ids.tolist()))
    if len(entries) > len(open_list):
        open_list.extend(entries)
        heapq.heapify(open_list)
    else:
        for entry in entries:
            heapq.heappush(open_list, entry)
