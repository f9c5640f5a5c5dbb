"""The trained cost-to-go networks that ship inside the package (``networks/*.pt``), by puzzle.

    path = shipped_checkpoint("cube3")            # -> .../rlkit/envs/puzzles/networks/cube3.pt
    rlkit solve --puzzle cube3 --scramble 1000    # uses it when no --checkpoint is given
    rlkit train --resume shipped:cube3 run_dir=runs/cube3_more train.total_steps=20000

Each file is an ordinary rlkit checkpoint (loaded with ``weights_only=True``) holding the online network, the
config it was trained with and its trainer counters, without the target network and optimiser state (a
continued run starts Adam afresh and copies the target from the online network). ``scripts/ship_network.py``
writes them from a finished run; docs/qstar_at_scale.md records each one's training budget.
"""

from __future__ import annotations

from pathlib import Path

from rlkit.errors import CheckpointError

NETWORKS = Path(__file__).with_name("networks")
# puzzle name (as in puzzle.name) -> file; sliding_tile is the 4x4 board (15-puzzle)
SHIPPED = {"cube3": "cube3.pt", "sliding_tile": "sliding_tile_4x4.pt", "lights_out": "lights_out_7x7.pt"}
# the board each shipped file is for (puzzle.size); a puzzle without a size here has one size
SIZES = {"sliding_tile": 4, "lights_out": 7}
PREFIX = "shipped:"


def shipped_checkpoint(puzzle: str) -> Path:
    """The shipped network of ``puzzle``; CheckpointError naming the ones there are when it has none."""
    name = SHIPPED.get(puzzle)
    path = NETWORKS / name if name else None
    if path is None or not path.is_file():
        available = sorted(p for p, file in SHIPPED.items() if (NETWORKS / file).is_file())
        raise CheckpointError(f"rlkit ships no trained network for '{puzzle}' (it ships {', '.join(available) or 'none'}"
                              "); train one with `rlkit train configs/<puzzle>_qstar*.yaml` and pass --checkpoint")
    return path


def resolve_checkpoint(source: str | Path) -> Path:
    """``shipped:PUZZLE`` -> that network's path; anything else is taken as a path."""
    text = str(source)
    return shipped_checkpoint(text[len(PREFIX):]) if text.startswith(PREFIX) else Path(source)
