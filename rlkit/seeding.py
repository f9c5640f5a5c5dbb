"""Seeds for the independent random streams of one run, derived from ``config.seed`` so they never overlap.

A vector env reset with seed s seeds env i with s + i, and evaluation episode k is reset with s + k. Offsets such
as ``seed + step`` (training envs after a resume) and ``seed + 1_000_000`` (evaluation) collide once a run passes
step 1,000,000, and ``seed + 1000 * actor`` collides once an actor has more than 1,000 envs. Each stream here
instead gets a base drawn by ``numpy.random.SeedSequence`` from (seed, stream, index): bases are spread over
[0, 2^31 - 2^20), so the runs of consecutive seeds that start at them (up to 2^20 envs or episodes) stay below
2^31 (what every env accepts) and two streams overlap with probability about (run lengths) / 2^31.
"""

from __future__ import annotations

import numpy as np

TRAIN_ENVS, EVALUATION, ACTOR_ENVS, PUZZLE_EVALUATION = 0, 1, 2, 3
_SPAN = 2**31 - 2**20


def derive_seed(seed: int, stream: int, index: int = 0) -> int:
    """A base seed in [0, 2^31 - 2^20) for ``stream`` (one of the constants above) and ``index`` (a step, an actor)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32 & 0xFFFFFFFF, stream, int(index)])
    return int(state.generate_state(1, np.uint64)[0] % _SPAN)


def train_env_seed(seed: int, step: int) -> int:
    """Seed of the training envs' reset at ``step`` (0 for a new run, the checkpoint's step after a resume)."""
    return derive_seed(seed, TRAIN_ENVS, step)


def eval_seed(seed: int) -> int:
    """Seed of evaluation episode 0 (episode k uses this + k; the same episodes at every evaluation)."""
    return derive_seed(seed, EVALUATION)


def actor_seed(seed: int, index: int) -> int:
    """Seed of Ape-X actor ``index``'s envs (env i uses this + i) and of its exploration RNG."""
    return derive_seed(seed, ACTOR_ENVS, index)
