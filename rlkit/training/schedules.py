"""Schedules over training progress: the exploration epsilon (prioritised replay's beta anneals in
``PrioritizedReplay.anneal``)."""

from __future__ import annotations


def epsilon_at(step: int, start: float, end: float, decay_steps: float) -> float:
    """Linear epsilon schedule: ``start`` at step 0 to ``end`` at ``decay_steps``, constant afterwards."""
    fraction = min(1.0, step / max(decay_steps, 1.0))
    return start + fraction * (end - start)
