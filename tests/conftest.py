import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))

# Tests check behaviour, not speed: one torch thread keeps them fast and steady when other processes (CI jobs,
# ale-py's threads, a subprocess under test) share the cores; torch's spinning worker threads do badly there.
torch.set_num_threads(1)
