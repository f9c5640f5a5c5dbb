"""Write a finished Q* run's network as a shipped network (envs/puzzles/networks/), small and self-describing.

    python scripts/ship_network.py runs/cube3_qstar_mixed/checkpoints/final.pt
    python scripts/ship_network.py runs/st/checkpoints/latest.pt --out envs/puzzles/networks/sliding_tile_4x4.pt

Keeps the config it was trained with (``run_dir`` cleared: the file's home is the package, and a continued run
picks its own directory), the spaces, the trainer counters (step, updates, evaluations) and the agent's online
network and update count; drops the target network, the optimiser state and the RNG states (a continued run starts
Adam afresh and copies its target from the online network). Refuses a non-puzzle checkpoint and a result over the
package's 20 MB limit. The file is written atomically and loads with ``weights_only=True`` like any checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlkit.envs.puzzles import shipped
from rlkit.errors import RlkitError
from rlkit.training.checkpoint import load_checkpoint, save_checkpoint

LIMIT_BYTES = 20 * 2**20


def ship(source: Path, out: Path | None = None) -> Path:
    """Write ``source``'s shipped form to ``out`` (default: the puzzle's file in NETWORKS) -> the path written."""
    payload = load_checkpoint(source)
    config = dict(payload["config"])
    puzzle = (config.get("puzzle") or {}).get("name")
    if not puzzle or puzzle not in shipped.SHIPPED:
        raise RlkitError(f"'{source}' is not a checkpoint of a shipped puzzle ({', '.join(shipped.SHIPPED)}); pass "
                         "a qstar run's checkpoint")
    size = (config.get("puzzle") or {}).get("size")
    if puzzle in shipped.SIZES and size != shipped.SIZES[puzzle]:
        raise RlkitError(f"rlkit ships the size-{shipped.SIZES[puzzle]} {puzzle}; '{source}' is size {size}")
    config["run_dir"] = None
    trainer = payload.get("trainer", {})
    agent = payload["agent"]
    out = out or shipped.NETWORKS / shipped.SHIPPED[puzzle]
    save_checkpoint(out, {
        "config": config,
        "spaces": payload.get("spaces", {}),
        "agent": {"online": agent["online"], "updates": int(agent.get("updates", trainer.get("updates", 0)))},
        "trainer": {key: int(trainer.get(key, 0)) for key in ("step", "updates", "episodes", "evaluations")},
        "shipped_from": {"checkpoint": str(source)},
    })
    written = out.stat().st_size
    if written > LIMIT_BYTES:
        out.unlink()
        raise RlkitError(f"'{out}' would be {written / 2**20:.1f} MB, over the 20 MB a shipped network "
                         "may take; train a smaller network")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a qstar run's checkpoint (final.pt or latest.pt)")
    parser.add_argument("--out", type=Path, help="where to write (default: the puzzle's file in the package)")
    args = parser.parse_args()
    try:
        out = ship(args.checkpoint, args.out)
    except RlkitError as error:
        sys.stderr.write(f"ship_network: error: {error}\n")
        return 2
    print(f"wrote {out} ({out.stat().st_size / 2**20:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
