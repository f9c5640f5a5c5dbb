"""Models from other libraries, read without unpickling: ``sb3.py`` (Stable-Baselines3 DQN zips)."""
