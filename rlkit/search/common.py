"""What A* and Q* share besides the loop (``loop.py``) and the tree (``tree.py``): the stopping rule, path
validation, budgets and the result record.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .tree import SearchTree


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
    stop_reason: 'proved' (stopping rule met), 'exhausted' (open list empty), 'max_nodes', 'max_seconds',
    'max_iterations' or 'max_memory' (A*/Q*); beam and greedy search: 'found', 'max_depth', 'exhausted' or a budget.
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
                  states: np.ndarray | None = None) -> np.ndarray:
    """Replay ``actions`` from ``start`` (D,); raise SearchError unless it ends at a goal with total ``cost`` and
    (when given) passes through ``states`` (L+1, D). Returns the replayed states (L+1, D)."""
    state = np.asarray(start)[None]
    replayed = [state]
    total = 0.0
    for step, action in enumerate(actions):
        state, step_cost = puzzle.next_states(state, np.asarray([action]))
        replayed.append(state)
        total += float(step_cost[0])
        if states is not None and not np.array_equal(state[0], states[step + 1]):
            raise SearchError(f"path replay diverges from the search tree at step {step + 1} of {len(actions)}")
    if not puzzle.is_goal(state)[0]:
        raise SearchError(f"path of {len(actions)} actions does not reach the goal of {puzzle.name}")
    if not math.isclose(total, cost, rel_tol=1e-9, abs_tol=1e-6):
        raise SearchError(f"path costs {total} when replayed but search recorded {cost}")
    return np.concatenate(replayed)


def shortened(puzzle: Any, start: np.ndarray, result: SearchResult) -> SearchResult:
    """``result`` with its path replaced by ``puzzle.shorten_path``'s (replayed and validated; never longer).

    The path as found stays in ``extra``: ``found_actions`` and ``found_cost``. An unsolved result is returned as is.
    """
    if not result.solved:
        return result
    actions = puzzle.shorten_path(np.asarray(start), list(result.actions))
    cost = float(np.asarray(puzzle.action_costs, dtype=np.float64)[np.asarray(actions, dtype=np.int64)].sum())
    if cost > result.cost + 1e-6:
        raise SearchError(f"shortening made a path of cost {result.cost} longer ({cost})")
    states = validate_path(puzzle, start, actions, cost)  # the one replay: the goal, and the cost step by step
    extra = {**result.extra, "found_actions": list(result.actions), "found_cost": float(result.cost)}
    return dataclasses.replace(result, actions=actions, cost=cost, states=states, extra=extra)


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
