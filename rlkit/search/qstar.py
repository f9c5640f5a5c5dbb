"""Batched weighted Q* search (Agostinelli et al., 2021, "A* Search Without Expansions", arXiv 2102.04518).

The open list holds EDGES (node, action) with priority weight * g(node) + Q(node, action), where Q(s, a) estimates
the transition cost plus the child's cost-to-go. One forward pass of a node scores all A of its children, so an
iteration pops the B best edges, generates only those B children (goal test on generation, duplicates dropped
against the closed table) and scores all the new children's edges with ONE batched ``q_fn`` call.

Lazy edge pushing (why: with 1884 meta-actions, pushing every edge of every child would put A heap entries per
generated state on the heap, and popping a few of them is all the search ever does). Each node keeps its actions
ranked by Q; only its best not-yet-popped edge is on the heap. Popping edge number r of a node pushes edge r + 1,
whose priority is >= edge r's, so edges still leave the heap in priority order. A node stores its first K ranks
(K = max(``ranked_edges``, 2 B), at most A); a node left with fewer than B stored ranks after a batch has its
Q-values recomputed in that iteration's network call and its remaining A - K actions ranked once and kept beside
it ("refill"). So at the start of every batch each node has at least B stored ranks or all of them, a batch (at
most B pops of one node) never runs out, and the popped edges are exactly those of a batched Q* that pushes every
edge (``tests/test_search.py`` compares the two iteration by iteration). For A <= K nothing is recomputed.
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


def qstar(
    puzzle: Any,
    start_state: np.ndarray,
    q_fn: Callable[[np.ndarray], np.ndarray],
    batch_size: int = 1,
    weight: float = 1.0,
    max_nodes: int | None = None,
    max_seconds: float | None = None,
    max_iterations: int | None = None,
    ranked_edges: int = 16,
    trace: list | None = None,
    max_memory_mb: float | None = None,
) -> SearchResult:
    """Batched weighted Q* from ``start_state`` (D,) to the puzzle's goal.

    q_fn: states (N, D) -> (N, A) estimates of c(s, a) + cost-to-go(child) (numpy or anything np.asarray takes);
    never called on goal states. batch_size: edges popped per iteration (B). weight: lambda on g. max_nodes /
    max_seconds / max_iterations: budgets (the best goal found so far is returned when one runs out).
    ranked_edges: ranked actions stored per node before a refill (raised to 2 B, capped at A). Stops by
    ``common.goal_reached``: shortest paths at weight 1 when Q(s, a) <= c(s, a) + h*(child) for every edge.
    trace: when a list, each iteration appends its popped edges as (parent ids (M,), actions (M,)).
    max_memory_mb: stop ('max_memory') once the tree, closed table, open list and edge rankings hold that many MB;
    ``result.extra["bytes_per_node"]`` reports their size per node.
    """
    strategy = EdgeStrategy(q_fn, puzzle.num_actions, ranked_edges, batch_size)
    return run_search(puzzle, start_state, strategy, batch_size, weight, max_nodes, max_seconds, max_iterations, trace,
                      max_memory_mb)


class EdgeStrategy:
    """Q*'s open list: (node, action) edges by weight * g(node) + Q(node, action), pushed lazily from ``EdgeRanks``
    (see the module docstring); a popped edge generates one child."""

    def __init__(self, q_fn: Callable[[np.ndarray], np.ndarray], num_actions: int, ranked_edges: int, batch_size: int):
        self.q_fn, self.num_actions = q_fn, num_actions
        self.ranks = EdgeRanks(num_actions, min(num_actions, max(1, ranked_edges, 2 * batch_size)))
        self.open_list: list[tuple[float, int, int]] = []  # (priority, node id, rank of the node's edge)
        self.network_calls = 0
        self.weight = 1.0

    def start(self, tree: SearchTree) -> None:
        self.ranks.store(np.zeros(1, dtype=np.int64), _q_array(self.q_fn, tree.states[:1], self.num_actions))
        self.network_calls += 1
        heapq.heappush(self.open_list, (float(self.ranks.ranked_q[0, 0]), 0, 0))

    def pop(self, tree: SearchTree, batch_size: int, weight: float, best_cost: float) -> Popped | None:
        self.weight = weight
        popped = _pop_edges(self.open_list, tree, self.ranks, batch_size, weight, best_cost)
        if popped is None:
            return None
        parents, actions, refill, unpushed = popped
        return Popped(parents, actions, (refill, unpushed))

    def push(self, tree: SearchTree, popped: Popped, fresh: np.ndarray) -> None:
        """One network call scores the new children and the nodes to refill together."""
        refill, unpushed = popped.extra
        if not len(fresh) and not len(refill):
            return
        q = _q_array(self.q_fn, tree.states[np.concatenate([fresh, refill])], self.num_actions)
        self.network_calls += 1
        weight, ranks = self.weight, self.ranks
        if len(fresh):
            ranks.store(fresh, q[: len(fresh)])
            _push_all(self.open_list, weight * tree.g[fresh] + ranks.ranked_q[fresh, 0], fresh,
                      np.zeros(len(fresh), dtype=np.int64))
        if len(refill):
            first = ranks.refill(refill, q[len(fresh):])
            # Only a node whose last stored edge was popped has no heap entry; the others have one already.
            waiting = np.isin(refill, unpushed)
            _push_all(self.open_list, weight * tree.g[refill[waiting]] + first[waiting], refill[waiting],
                      np.full(int(waiting.sum()), ranks.kept, dtype=np.int64))

    def memory_bytes(self) -> int:
        """Bytes of the open list (slots plus each entry's tuple, float and two ints; small ints are shared by
        CPython, so this over-counts slightly) and of the edge rankings."""
        per_entry = sys.getsizeof((0.0, 0, 0)) + sys.getsizeof(0.5) + 2 * sys.getsizeof(10**6)
        return sys.getsizeof(self.open_list) + len(self.open_list) * per_entry + self.ranks.memory_bytes()


class EdgeRanks:
    """Per-node actions ranked by Q (ascending). ranked_actions (N, K) int64, ranked_q (N, K) float64 for the
    first K ranks; ``overflow[node] = (actions (A-K,), q (A-K,))`` for ranks K.. of refilled nodes."""

    def __init__(self, num_actions: int, kept: int):
        self.num_actions, self.kept = num_actions, kept
        self.ranked_actions = np.zeros((0, kept), dtype=np.int64)
        self.ranked_q = np.zeros((0, kept), dtype=np.float64)
        self.overflow: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.overflow_bytes = 0  # the overflow arrays' bytes, kept as nodes are refilled (memory_bytes is per batch)

    def store(self, nodes: np.ndarray, q: np.ndarray) -> None:
        """Rank the K best actions of each node. nodes (M,) ids, q (M, A)."""
        self._reserve(int(nodes.max()) + 1)
        if self.kept < self.num_actions:
            best = np.argpartition(q, self.kept - 1, axis=1)[:, : self.kept]
            order = np.take_along_axis(best, np.argsort(np.take_along_axis(q, best, 1), axis=1, kind="stable"), 1)
        else:
            order = np.argsort(q, axis=1, kind="stable")
        self.ranked_actions[nodes] = order
        self.ranked_q[nodes] = np.take_along_axis(q, order, axis=1)

    def refill(self, nodes: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Rank the remaining A - K actions of nodes whose K-th edge was popped. q (M, A) -> priorities' Q at rank K.

        The remaining set is the complement of the stored K actions (not a re-sort of all A), so no action is
        skipped or repeated even if a recomputed Q differs from the first in the last bit.
        """
        rest = np.ones((len(nodes), self.num_actions), dtype=bool)
        rest[np.arange(len(nodes))[:, None], self.ranked_actions[nodes]] = False
        actions = np.nonzero(rest)[1].reshape(len(nodes), self.num_actions - self.kept)
        actions = np.take_along_axis(actions, np.argsort(np.take_along_axis(q, actions, 1), 1, kind="stable"), 1)
        values = np.take_along_axis(q, actions, 1).astype(np.float64)
        for i, node in enumerate(nodes.tolist()):
            self.overflow[node] = (actions[i], values[i])
        self.overflow_bytes += len(nodes) * (actions.itemsize + values.itemsize) * (self.num_actions - self.kept)
        return values[:, 0]

    def refilled(self, node: int) -> bool:
        """True once every rank of ``node`` is stored (refilled, or K = A)."""
        return self.kept == self.num_actions or node in self.overflow

    def action(self, node: int, rank: int) -> int:
        if rank < self.kept:
            return int(self.ranked_actions[node, rank])
        return int(self.overflow[node][0][rank - self.kept])

    def q(self, node: int, rank: int) -> float | None:
        """Q of the node's edge at ``rank``; None when that rank needs a refill first."""
        if rank < self.kept:
            return float(self.ranked_q[node, rank])
        extra = self.overflow.get(node)
        return None if extra is None else float(extra[1][rank - self.kept])

    def memory_bytes(self) -> int:
        """Bytes of the rank arrays at capacity and of the refilled nodes' overflow arrays."""
        per_item = sys.getsizeof(10**6) + sys.getsizeof((0, 0)) + 2 * sys.getsizeof(np.zeros(0))
        return (self.ranked_actions.nbytes + self.ranked_q.nbytes + sys.getsizeof(self.overflow)
                + self.overflow_bytes + len(self.overflow) * per_item)

    def _reserve(self, size: int) -> None:
        if size <= len(self.ranked_q):
            return
        capacity = max(size, 2 * len(self.ranked_q), 1024)
        for name in ("ranked_actions", "ranked_q"):
            old = getattr(self, name)
            new = np.zeros((capacity, self.kept), dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)


def _pop_edges(open_list: list, tree: SearchTree, ranks: EdgeRanks, batch_size: int, weight: float,
               best_cost: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Pop up to B live edges in priority order -> (parent ids (M,), actions (M,), nodes to refill, the refill
    nodes with no edge on the heap); None once the stopping rule holds before any edge was popped.

    Each popped edge's successor in its node's ranking is pushed at once (it may be popped in the same batch); a
    node left with fewer than B stored ranks is refilled in this iteration's network call, so it can serve the
    next batch in full (see the module docstring).
    """
    parents: list[int] = []
    actions: list[int] = []
    next_rank: dict[int, int] = {}
    unpushed: list[int] = []
    while open_list and len(parents) < batch_size:
        priority, node, rank = open_list[0]
        if goal_reached(weight, best_cost, priority):
            break
        heapq.heappop(open_list)
        if tree.is_stale(node):
            continue  # a cheaper path to this state was found: its new node carries the edges now
        parents.append(node)
        actions.append(ranks.action(node, rank))
        next_rank[node] = rank + 1
        if rank + 1 < ranks.num_actions:
            q_next = ranks.q(node, rank + 1)
            if q_next is None:
                unpushed.append(node)  # its last stored edge: the batch is full now (a refill pushes the next)
            else:
                heapq.heappush(open_list, (weight * float(tree.g[node]) + q_next, node, rank + 1))
    if not parents and best_cost < math.inf:
        return None
    refill = [node for node, rank in next_rank.items()
              if rank < ranks.num_actions and ranks.kept - rank < batch_size and not ranks.refilled(node)]
    as_ids = lambda values: np.asarray(values, dtype=np.int64)  # noqa: E731
    return as_ids(parents), as_ids(actions), as_ids(refill), as_ids(unpushed)


def _q_array(q_fn: Callable, states: np.ndarray, num_actions: int) -> np.ndarray:
    q = np.asarray(q_fn(states), dtype=np.float64)
    if q.shape != (len(states), num_actions):
        raise ValueError(f"q_fn must return shape ({len(states)}, {num_actions}), got {q.shape}")
    return q


def _push_all(open_list: list, priorities: np.ndarray, nodes: np.ndarray, ranks: np.ndarray) -> None:
    for entry in zip(priorities.tolist(), nodes.tolist(), ranks.tolist()):
        heapq.heappush(open_list, entry)
