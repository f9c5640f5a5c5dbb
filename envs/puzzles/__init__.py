"""Search puzzles behind the batched-numpy ``Puzzle`` protocol (``protocol.py``): ``sliding_tile.py``, ``cube3.py``
(with meta-actions), ``lights_out.py``, and ``gym_env.py`` (a puzzle as a Gymnasium env)."""
