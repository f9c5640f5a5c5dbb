"""Training: ``chores.py`` (what every loop shares, by composition), ``loop.py`` (the env loop), ``puzzle_loop.py``
(cost-to-go training on puzzles), ``checkpoint.py`` (safe, atomic checkpoints), ``evaluate.py`` (greedy evaluation,
``load_agent``), ``schedules.py`` (epsilon). ``rlkit.run`` picks the loop; the Ape-X driver is ``rlkit.distributed``."""
