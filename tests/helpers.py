"""Shared test helpers: a tiny, fast training config."""

from pathlib import Path

from rlkit.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CARTPOLE = ROOT / "configs" / "cartpole_dqn.yaml"

FAST = [
    "agent.net.hidden=[32]", "agent.lr=0.001", "agent.target_period=100",
    "replay.capacity=5000", "replay.batch_size=32",
    "train.total_steps=600", "train.learning_starts=100", "train.train_freq=4", "train.gradient_steps=1",
    "train.eval_every=300", "train.eval_episodes=2", "train.checkpoint_every=300", "train.log_every=100",
    "threads=1",
]


def fast_config(run_dir: Path, *overrides: str):
    """CartPole DQN that trains 600 steps in about a second; overrides come last and win."""
    return load_config(CARTPOLE, [*FAST, f"run_dir={run_dir}", *overrides])


def fast_overrides(run_dir: Path, *overrides: str) -> list[str]:
    """The same as CLI override strings."""
    return [*FAST, f"run_dir={run_dir}", *overrides]


QSTAR_SMALL_NET = ["agent.net.torso=resmlp", "agent.net.hidden=[64]", "agent.net.blocks=1", "agent.lr=0.003",
                   "agent.critic.loss=mse", "puzzle.batch_size=100"]


def small_qstar_agent(*overrides: str, name: str = "sliding_tile", size: int = 3, max_scramble: int = 6):
    """A Q* agent with a small residual MLP on a small puzzle (8-puzzle by default) -> (agent, config)."""
    from rlkit.agents.qstar import QStarAgent, build_puzzle

    config = load_config(None, [*QSTAR_SMALL_NET, f"puzzle.name={name}", f"puzzle.size={size}",
                                f"puzzle.max_scramble={max_scramble}", *overrides])
    return QStarAgent(config, build_puzzle(config.puzzle), device="cpu"), config
