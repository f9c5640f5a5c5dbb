"""Batched weighted A* and Q* over the ``Puzzle`` protocol (rlkit.envs.puzzles.protocol).

    from rlkit.search import astar, qstar
    result = qstar(puzzle, start_state, agent.q_numpy, batch_size=100, weight=0.6, max_seconds=60)
    result.solved, result.actions, result.cost, result.nodes_generated, result.seconds

``astar`` takes ``heuristic_fn(states) -> (N,)`` (e.g. ``agent.heuristic``, min_a Q); ``qstar`` takes
``q_fn(states) -> (N, A)`` (e.g. ``agent.q_numpy``). Both return a ``SearchResult`` whose path has been replayed
on the puzzle. ``beam_search`` / ``greedy_search`` (the incomplete baselines) take the same ``q_fn``.
``shortened(puzzle, start, result)`` replaces a found path by the puzzle's shortened one (``shorten_path``: loops
cut, cancelling moves removed), keeping the path as found in ``extra``.
"""

from .astar import astar
from .beam import beam_search, greedy_search
from .common import SearchError, SearchResult, shortened, validate_path
from .qstar import qstar

__all__ = ["astar", "qstar", "beam_search", "greedy_search", "SearchResult", "SearchError", "shortened",
           "validate_path"]
