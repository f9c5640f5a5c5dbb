"""Korf's 100 random 15-puzzle instances with their published optimal solution lengths (Korf, 1985).

    states, optimal = korf100()   # (100, 16) uint8 states in rlkit's convention, (100,) int64 lengths

The file (``data/korf100.txt``) keeps Korf's own notation: goal 0 1 ... 15 with the blank top-left. rlkit's
``SlidingTile(4)`` has the blank bottom-right (1 2 ... 15 0), so each instance is rotated by 180 degrees and its
tiles relabelled t -> 16 - t: the rotation maps Korf's goal onto rlkit's and every move onto a move (U <-> D,
L <-> R), so every optimal length is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).with_name("data") / "korf100.txt"


def korf_to_rlkit(tiles: np.ndarray) -> np.ndarray:
    """(..., 16) boards in Korf's convention -> the same instances for rlkit's goal (blank bottom-right)."""
    tiles = np.asarray(tiles, dtype=np.uint8)
    rotated = tiles[..., ::-1]
    return np.where(rotated == 0, 0, 16 - rotated).astype(np.uint8)


def korf100() -> tuple[np.ndarray, np.ndarray]:
    """-> states (100, 16) uint8 for ``SlidingTile(4)``, optimal solution lengths (100,) int64."""
    rows = [line.split() for line in DATA.read_text().splitlines() if line and not line.startswith("#")]
    optimal = np.asarray([int(row[1]) for row in rows], dtype=np.int64)
    tiles = np.asarray([[int(v) for v in row[2:]] for row in rows], dtype=np.uint8)
    return korf_to_rlkit(tiles), optimal
