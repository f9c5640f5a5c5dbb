"""Batched weighted A* (as in DeepCubeA, Agostinelli et al. 2019).

Each iteration pops the B open nodes of lowest f = weight * g + h, generates ALL their children (B * A states),
tests them for the goal on generation, drops duplicates against the closed table, and scores the new children
with ONE batched ``heuristic_fn`` call. With a learned Q-network, h(s) = min_a Q(s, a).
"""

from __future__ import annotations

import heapq
import math
import time
from typing import Any, Callable

import numpy as np

from .common import SearchResult, SearchTree, check_arguments, finish, goal_reached, out_of_budget


def astar(
    puzzle: Any,
    start_state: np.ndarray,
    heuristic_fn: Callable[[np.ndarray], np.ndarray],
    batch_size: int = 1,
    weight: float = 1.0,
    max_nodes: int | None = None,
    max_seconds: float | None = None,
    max_iterations: int | None = None,
) -> SearchResult:
    """Batched weighted A* from ``start_state`` (D,) to the puzzle's goal.

    heuristic_fn: states (N, D) -> (N,) cost-to-go estimates (numpy or anything np.asarray takes); never called
    on goal states. batch_size: nodes popped per iteration (B). weight: lambda on g (1: A*; < 1: greedier).
    max_nodes / max_seconds / max_iterations: budgets; when one runs out the best goal found so far (if any) is
    returned with ``stop_reason`` naming the budget. Stops early by ``common.goal_reached`` (shortest paths at
    weight 1 with an admissible heuristic).
    """
    check_arguments(batch_size, weight)
    start_time = time.perf_counter()
    tree = SearchTree(puzzle, start_state)
    stats = dict(nodes_generated=1, iterations=0, network_calls=0, expansions=0)
    if puzzle.is_goal(tree.states[:1])[0]:
        return finish(tree, 0, start_time, **stats, stop_reason="proved")
    h_start = float(np.asarray(heuristic_fn(tree.states[:1]), dtype=np.float64).reshape(-1)[0])
    stats["network_calls"] += 1
    open_list: list[tuple[float, int]] = [(h_start, 0)]  # (f, node id): ties go to the older node
    best_cost, best_node = math.inf, -1
    num_actions = puzzle.num_actions
    while True:
        stop_reason = out_of_budget(stats["nodes_generated"], stats["iterations"], start_time,
                                    max_nodes, max_iterations, max_seconds)
        if stop_reason:
            break
        batch = _pop_nodes(open_list, tree, batch_size, weight, best_cost)
        if batch is None:
            stop_reason = "proved"
            break
        if not batch:
            stop_reason = "exhausted"  # every reachable state was expanded and none is a goal
            break
        stats["iterations"] += 1
        stats["expansions"] += len(batch)
        parents = np.asarray(batch, dtype=np.int64)
        children, costs = puzzle.expand(tree.states[parents])
        g = (tree.g[parents][:, None] + costs).reshape(-1)
        stats["nodes_generated"] += len(children)
        goal = puzzle.is_goal(children)
        ids = tree.add(children, g, np.repeat(parents, num_actions), np.tile(np.arange(num_actions), len(parents)))
        accepted = ids >= 0
        found = np.flatnonzero(accepted & goal)
        if len(found):
            winner = found[np.argmin(g[found])]
            if g[winner] < best_cost:
                best_cost, best_node = float(g[winner]), int(ids[winner])
        fresh = np.flatnonzero(accepted & ~goal)  # goals are never expanded: no path through one is cheaper
        if len(fresh):
            h = np.asarray(heuristic_fn(children[fresh]), dtype=np.float64).reshape(-1)
            stats["network_calls"] += 1
            _push_all(open_list, weight * g[fresh] + h, ids[fresh])
    return finish(tree, best_node, start_time, **stats, stop_reason=stop_reason)


def _pop_nodes(open_list: list, tree: SearchTree, batch_size: int, weight: float, best_cost: float) -> list[int] | None:
    """Up to B live node ids in f order; None once the stopping rule holds (the list's minimum is >= weight * C)."""
    batch: list[int] = []
    while open_list and len(batch) < batch_size:
        f, node = open_list[0]
        if goal_reached(weight, best_cost, f):
            return None if not batch else batch
        heapq.heappop(open_list)
        if not tree.is_stale(node):
            batch.append(node)
    if not batch and best_cost < math.inf:
        return None  # nothing left to beat the goal we have
    return batch


def _push_all(open_list: list, priorities: np.ndarray, ids: np.ndarray) -> None:
    """Push (f, id) pairs: heappush one by one, or extend + heapify when the batch is large against the heap."""
    entries = list(zip(priorities.tolist(), ids.tolist()))
    if len(entries) > len(open_list):
        open_list.extend(entries)
        heapq.heapify(open_list)
    else:
        for entry in entries:
            heapq.heappush(open_list, entry)
