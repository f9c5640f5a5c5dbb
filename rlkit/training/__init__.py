"""Training machinery shared by every loop: ``chores.py`` (run directory, evaluation cadence, checkpoints, wrap-up)."""
