"""Named agent presets: ``agent.name`` in a config picks a class and the flags it implies.

| name               | class    | implies                    |
|--------------------|----------|----------------------------|
| dqn                | DQNAgent |                            |
| double_dqn         | DQNAgent | double: true               |
| dueling_dqn        | DQNAgent | dueling: true              |
| double_dueling_dqn | DQNAgent | double: true, dueling: true|
| qstar              | QStarAgent | (needs puzzle.name)      |

The DQN family acts in Gymnasium envs; ``qstar`` learns cost-to-go Q-values on a search puzzle (``puzzle`` config
section) and is built with ``build_puzzle_agent``.
"""

from __future__ import annotations

import difflib
from typing import Any, Sequence

import numpy as np
import torch

from rlkit.config import Config
from rlkit.errors import ConfigError

from .dqn import DQNAgent
from .qstar import QStarAgent, build_puzzle

PRESETS: dict[str, tuple[type, dict[str, Any]]] = {
    "dqn": (DQNAgent, {}),
    "double_dqn": (DQNAgent, {"double": True}),
    "dueling_dqn": (DQNAgent, {"dueling": True}),
    "double_dueling_dqn": (DQNAgent, {"double": True, "dueling": True}),
    "qstar": (QStarAgent, {}),
}
PUZZLE_AGENTS = ("qstar",)
PRESET_FLAGS = ("double", "dueling")  # None in an unresolved config: the preset decides (False when it says nothing)


def resolve_preset(config: Config) -> Config:
    """Apply the flags ``agent.name`` implies; a flag the config sets to the opposite value is an error.

    Idempotent, and a config dumped before or after resolution resolves to the same flags.

    Returns a new Config (the input is not modified).
    """
    name = config.agent.name
    if name not in PRESETS:
        guess = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"choose one of {', '.join(PRESETS)}"
        raise ConfigError(f"config field 'agent.name': unknown agent '{name}'; {hint}")
    if (name in PUZZLE_AGENTS) != (config.puzzle.name is not None):
        if name in PUZZLE_AGENTS:
            raise ConfigError(f"config field 'puzzle.name': agent '{name}' learns on a search puzzle; set "
                              "puzzle.name to sliding_tile, cube3 or lights_out")
        raise ConfigError(f"config field 'agent.name': puzzle.name is set ({config.puzzle.name}) but agent "
                          f"'{name}' acts in envs; use agent.name=qstar or drop the puzzle section")
    implied = PRESETS[name][1]
    agent = config.agent.model_copy()
    for field in PRESET_FLAGS:
        value, wanted = getattr(config.agent, field), implied.get(field)
        if value is not None and wanted is not None and value != wanted:
            raise ConfigError(
                f"config field 'agent.{field}': agent '{name}' implies {field}={str(wanted).lower()}, but the config "
                f"sets {field}={str(value).lower()}; drop agent.{field} or pick another agent.name"
            )
        setattr(agent, field, bool(wanted if value is None else value))
    if agent.munchausen is not None and agent.double:
        raise ConfigError(f"config field 'agent.munchausen': agent '{name}' uses Double DQN, whose argmax the "
                          "Munchausen target's soft value replaces; use agent.name=dqn or dueling_dqn")
    return config.model_copy(update={"agent": agent})


def build_agent(
    config: Config, obs_shape: Sequence[int], obs_dtype: np.dtype | str, num_actions: int, device: torch.device
) -> DQNAgent:
    """Build the agent a (preset-resolved) config names, for the given spaces, on ``device``."""
    config = resolve_preset(config)
    if config.agent.name in PUZZLE_AGENTS:
        return build_puzzle_agent(config, device)
    agent_class = PRESETS[config.agent.name][0]
    try:
        return agent_class(config.agent, obs_shape, obs_dtype, num_actions, device=device, seed=config.seed)
    except ValueError as error:
        raise ConfigError(f"config field 'agent.net': {error}") from None


def build_puzzle_agent(config: Config, device: torch.device) -> QStarAgent:
    """The cost-to-go agent for ``config.puzzle`` (obs and action spaces come from the puzzle)."""
    config = resolve_preset(config)
    return QStarAgent(config, build_puzzle(config.puzzle), device=device)
