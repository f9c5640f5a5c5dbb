"""``rlkit solve``: search a puzzle with a trained cost-to-go network (Q*, weighted A*, beam or greedy search).

    result = solve_puzzle("runs/cube3_qstar/checkpoints/final.pt", scramble=1000, batch_size=100, weight=0.6)
    result = solve_puzzle(None, puzzle="cube3", scramble=1000, algorithm="beam", beam_width=10000)  # shipped net
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlkit.errors import CheckpointError, RlkitError

ALGORITHMS = ("qstar", "astar", "beam", "greedy")


@dataclass
class SolveReport:
    """A search's outcome with the names of the moves it found (after shortening, unless it was turned off).
    bytes_per_node: what the search held per node (tree, closed table, open list; qstar/astar only, else 0);
    found_cost: the path's cost as the search found it, before shortening."""

    puzzle: str
    algorithm: str
    solved: bool
    moves: list[str]
    cost: float
    nodes_generated: int
    iterations: int
    seconds: float
    stop_reason: str
    bytes_per_node: float = 0.0
    found_cost: float = float("inf")


def solve_puzzle(checkpoint: str | None, puzzle: str | None = None, scramble: int | None = None,
                 state: str | None = None, batch_size: int = 100, weight: float = 0.6, algorithm: str = "qstar",
                 seed: int = 0, max_nodes: int | None = None, max_seconds: float | None = None, device: str = "cpu",
                 beam_width: int = 10_000, max_memory_mb: float | None = None, shorten: bool = True) -> SolveReport:
    """Load a Q* checkpoint and solve one instance: ``state`` (the puzzle's text form) or a seeded ``scramble``.

    checkpoint: a qstar run's checkpoint, or None for the network rlkit ships for ``puzzle``. ``puzzle``
    (optional with a checkpoint) must name the checkpoint's puzzle. algorithm: qstar / astar (batch_size,
    weight, max_memory_mb apply) or beam / greedy (beam_width applies to beam; weight is lambda on g in the
    ranking). shorten: replace the found path by the puzzle's shortened one (loops cut, cancelling moves removed;
    ``rlkit.search.shortened``). Raises RlkitError subclasses with one line on bad input: unknown algorithm,
    wrong puzzle, unparsable state, non-puzzle checkpoint, no shipped network.
    """
    from rlkit.agents.qstar import load_qstar_agent
    from rlkit.envs.puzzles.shipped import shipped_checkpoint
    from rlkit.search import astar, beam_search, qstar, shortened

    if algorithm not in ALGORITHMS:
        raise RlkitError(f"unknown search '{algorithm}'; use --algo {', '.join(ALGORITHMS[:-1])} or {ALGORITHMS[-1]}")
    if (scramble is None) == (state is None):
        raise RlkitError("give exactly one of --scramble N (a seeded random instance) or --state TEXT")
    if batch_size < 1 or not 0.0 <= weight <= 1.0:
        raise RlkitError(f"--batch must be >= 1 and --weight in [0, 1], got {batch_size} and {weight}")
    if beam_width < 1:
        raise RlkitError(f"--beam-width must be >= 1, got {beam_width}")
    if checkpoint is None:
        if puzzle is None:
            raise RlkitError("give --checkpoint CKPT, or --puzzle NAME to use the network rlkit ships for it")
        checkpoint = str(shipped_checkpoint(puzzle))
    agent = load_qstar_agent(checkpoint, device)
    trained_on = agent.puzzle_config.name
    if puzzle is not None and puzzle != trained_on:
        raise CheckpointError(f"checkpoint '{checkpoint}' was trained on {trained_on}, not {puzzle}; pass a {puzzle} "
                              f"checkpoint or --puzzle {trained_on}")
    if state is not None:
        start = agent.puzzle.parse_state(state)
    else:
        if scramble < 0:
            raise RlkitError(f"--scramble must be >= 0, got {scramble}")
        start = agent.puzzle.scramble(1, scramble, np.random.default_rng(seed))
    if algorithm in ("beam", "greedy"):
        width = 1 if algorithm == "greedy" else beam_width
        result = beam_search(agent.puzzle, start[0], agent.q_numpy, beam_width=width, weight=weight,
                             max_nodes=max_nodes, max_seconds=max_seconds)
    else:
        search = qstar if algorithm == "qstar" else astar
        score = agent.q_numpy if algorithm == "qstar" else agent.heuristic
        result = search(agent.puzzle, start[0], score, batch_size=batch_size, weight=weight, max_nodes=max_nodes,
                        max_seconds=max_seconds, max_memory_mb=max_memory_mb)
    found_cost = float(result.cost)
    if shorten:
        result = shortened(agent.puzzle, start[0], result)
    names = agent.puzzle.action_names
    return SolveReport(trained_on, algorithm, result.solved, [names[a] for a in result.actions], float(result.cost),
                       int(result.nodes_generated), int(result.iterations), float(result.seconds),
                       str(result.stop_reason), float(result.extra.get("bytes_per_node", 0.0)), found_cost)
