"""``rlkit solve``: search a puzzle with a trained cost-to-go network (Q* or weighted A*).

    result = solve_puzzle("runs/cube3_qstar/checkpoints/final.pt", scramble=1000, batch_size=100, weight=0.6)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlkit.errors import CheckpointError, RlkitError

ALGORITHMS = ("qstar", "astar")


@dataclass
class SolveReport:
    """A search's outcome with the names of the moves it found."""

    puzzle: str
    algorithm: str
    solved: bool
    moves: list[str]
    cost: float
    nodes_generated: int
    iterations: int
    seconds: float
    stop_reason: str


def solve_puzzle(checkpoint: str, puzzle: str | None = None, scramble: int | None = None, state: str | None = None,
                 batch_size: int = 100, weight: float = 0.6, algorithm: str = "qstar", seed: int = 0,
                 max_nodes: int | None = None, max_seconds: float | None = None, device: str = "cpu") -> SolveReport:
    """Load a Q* checkpoint and solve one instance: ``state`` (the puzzle's text form) or a seeded ``scramble``.

    ``puzzle`` (optional) must name the checkpoint's puzzle. Raises RlkitError subclasses with one line on bad
    input: unknown algorithm, wrong puzzle, unparsable state, non-puzzle checkpoint.
    """
    from rlkit.agents.qstar import load_qstar_agent
    from rlkit.search import astar, qstar

    if algorithm not in ALGORITHMS:
        raise RlkitError(f"unknown search '{algorithm}'; use --algo qstar or --algo astar")
    if (scramble is None) == (state is None):
        raise RlkitError("give exactly one of --scramble N (a seeded random instance) or --state TEXT")
    if batch_size < 1 or not 0.0 <= weight <= 1.0:
        raise RlkitError(f"--batch must be >= 1 and --weight in [0, 1], got {batch_size} and {weight}")
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
    search = qstar if algorithm == "qstar" else astar
    score = agent.q_numpy if algorithm == "qstar" else agent.heuristic
    result = search(agent.puzzle, start[0], score, batch_size=batch_size, weight=weight, max_nodes=max_nodes,
                    max_seconds=max_seconds)
    names = agent.puzzle.action_names
    return SolveReport(trained_on, algorithm, result.solved, [names[a] for a in result.actions], float(result.cost),
                       int(result.nodes_generated), int(result.iterations), float(result.seconds),
                       str(result.stop_reason))
