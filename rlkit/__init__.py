"""rlkit: value-based deep reinforcement learning in PyTorch.

    from rlkit import load_agent
    agent = load_agent("runs/cartpole_dqn/checkpoints/final.pt")
    action = agent.act(obs)

Importing rlkit is cheap: submodules (and torch) load on first use, and no optional extra is ever imported here.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load_agent", "load_config", "train", "resume", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import rlkit` (and `rlkit --help`) fast.
    if name == "load_agent":
        from rlkit.training.evaluate import load_agent

        return load_agent
    if name == "load_config":
        from rlkit.config import load_config

        return load_config
    if name in ("train", "resume"):
        from rlkit import run

        return getattr(run, name)
    raise AttributeError(f"module 'rlkit' has no attribute '{name}'")
