"""The one batched best-first search loop that A* and Q* share; each brings a strategy for what it pops and scores.

    result = run_search(puzzle, start_state, strategy, batch_size, weight, max_nodes, max_seconds, max_iterations)

An iteration: check the budgets; ``strategy.pop`` the batch (None once the stopping rule holds: the best goal
cannot be beaten; empty once nothing is left); generate the children it names; add them to the ``SearchTree``
(duplicates dropped, better paths reopened); keep the cheapest goal found on generation; ``strategy.push`` the new
non-goal children (one network call). The loop owns the tree, the stopping rule's bookkeeping, the statistics and
the result; a strategy owns its open list.

A strategy has ``start(tree) -> None`` (score the root and open it), ``pop(tree, batch_size, weight, best_cost) ->
Popped | None`` and ``push(tree, popped, fresh) -> None`` (``fresh``: ids of the new non-goal nodes), and counts
its network calls in ``network_calls``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .common import SearchResult, check_arguments, finish, out_of_budget
from .tree import SearchTree


@dataclass
class Popped:
    """One iteration's batch. parents: (M,) node ids; actions: (M,) their actions to take (Q*: one per popped
    edge), or None to expand every action of every parent (A*)."""

    parents: np.ndarray
    actions: np.ndarray | None = None
    extra: Any = None  # the strategy's own bookkeeping for push (Q*: nodes to refill)


def run_search(puzzle: Any, start_state: np.ndarray, strategy: Any, batch_size: int, weight: float,
               max_nodes: int | None, max_seconds: float | None, max_iterations: int | None,
               trace: list | None = None, max_memory_mb: float | None = None) -> SearchResult:
    """Search from ``start_state`` (D,) with ``strategy``; see the module docstring. ``trace``, when a list, gets
    each iteration's (parents (M,), actions (M,)) for A*/Q* comparisons and tests. ``max_memory_mb``: stop
    ('max_memory') once the tree, the closed table and the strategy's open list hold that many MB; the result's
    ``extra["bytes_per_node"]`` reports what they held per node at the end either way."""
    check_arguments(batch_size, weight)
    start_time = time.perf_counter()
    tree = SearchTree(puzzle, start_state)
    stats = dict(nodes_generated=1, iterations=0, expansions=0)
    if puzzle.is_goal(tree.states[:1])[0]:
        return finish(tree, 0, start_time, **stats, network_calls=0, stop_reason="proved")
    strategy.start(tree)
    best_cost, best_node = math.inf, -1
    num_actions = puzzle.num_actions
    while True:
        stop_reason = out_of_budget(stats["nodes_generated"], stats["iterations"], start_time,
                                    max_nodes, max_iterations, max_seconds)
        if not stop_reason and max_memory_mb is not None and _memory(tree, strategy) >= max_memory_mb * 2**20:
            stop_reason = "max_memory"
        if stop_reason:
            break
        popped = strategy.pop(tree, batch_size, weight, best_cost)
        if popped is None:
            stop_reason = "proved"
            break
        if not len(popped.parents):
            stop_reason = "exhausted"  # every reachable state was expanded and none is a goal
            break
        stats["iterations"] += 1
        stats["expansions"] += len(popped.parents)
        if popped.actions is None:  # every child of every parent
            children, costs = puzzle.expand(tree.states[popped.parents])
            g = (tree.g[popped.parents][:, None] + costs).reshape(-1)
            parents = np.repeat(popped.parents, num_actions)
            actions = np.tile(np.arange(num_actions), len(popped.parents))
        else:
            children, costs = puzzle.next_states(tree.states[popped.parents], popped.actions)
            g = tree.g[popped.parents] + costs
            parents, actions = popped.parents, popped.actions
        if trace is not None:
            trace.append((parents, actions))
        stats["nodes_generated"] += len(children)
        goal = puzzle.is_goal(children)
        ids = tree.add(children, g, parents, actions)
        accepted = ids >= 0
        found = np.flatnonzero(accepted & goal)
        if len(found):
            winner = found[np.argmin(g[found])]
            if g[winner] < best_cost:
                best_cost, best_node = float(g[winner]), int(ids[winner])
        strategy.push(tree, popped, ids[accepted & ~goal])  # goals are never expanded: no path through one is cheaper
    result = finish(tree, best_node, start_time, **stats, network_calls=strategy.network_calls,
                    stop_reason=stop_reason)
    result.extra["bytes_per_node"] = _memory(tree, strategy) / tree.size
    return result


def _memory(tree: SearchTree, strategy: Any) -> int:
    """Bytes held by the search: the tree and closed table, and the strategy's open list and rankings."""
    return tree.memory_bytes() + strategy.memory_bytes()
