"""Named agent presets: ``agent.name`` in a config picks a class and the flags it implies.

| name               | class      | implies                                                                  |
|--------------------|------------|--------------------------------------------------------------------------|
| dqn                | DQNAgent   |                                                                          |
| double_dqn         | DQNAgent   | double: true                                                             |
| dueling_dqn        | DQNAgent   | dueling: true                                                            |
| double_dueling_dqn | DQNAgent   | double: true, dueling: true                                              |
| rainbow            | DQNAgent   | double, dueling, critic.type c51, net.noisy, replay.prioritized; n_step 3 by default |
| pqn                | PQNAgent   | defaults: env.num_envs 128, net.norm layer (no replay, no target network) |
| qstar              | QStarAgent | (needs puzzle.name)                                                      |

``rainbow`` is Hessel et al. (2018)'s combination of six components (C51 distributional critic, Double DQN, dueling
head, 3-step returns, prioritised replay, noisy nets); its hyperparameters (atoms, v_min/v_max, PER alpha, lr, ...)
are a config's, e.g. configs/cartpole_rainbow.yaml and configs/atari100k_der_*.yaml. A preset fills the fields it
implies where the config leaves them unset; a config that sets one to another value is an error (an ablation such
as "Rainbow without n-step" is written as agent.name=dqn plus the components it keeps). Defaults are filled where
unset and may be overridden (``pqn``'s envs and LayerNorm). ``pqn`` trains with its own data flow
(rlkit/training/pqn_loop.py, settings in the ``pqn`` config section).

The DQN family acts in Gymnasium envs; ``qstar`` learns cost-to-go Q-values on a search puzzle (``puzzle`` config
section) and is built with ``build_puzzle_agent``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from rlkit.config import Config, config_from_dict, config_to_dict
from rlkit.errors import ConfigError, did_you_mean
from rlkit.spaces import ObsSpace

from .dqn import DQNAgent
from .pqn import PQNAgent
from .qstar import QStarAgent, build_puzzle

# What each name implies, as dotted config fields (a conflicting explicit value is an error).
PRESETS: dict[str, tuple[type, dict[str, Any]]] = {
    "dqn": (DQNAgent, {}),
    "double_dqn": (DQNAgent, {"agent.double": True}),
    "dueling_dqn": (DQNAgent, {"agent.dueling": True}),
    "double_dueling_dqn": (DQNAgent, {"agent.double": True, "agent.dueling": True}),
    "rainbow": (DQNAgent, {"agent.double": True, "agent.dueling": True, "agent.critic.type": "c51",
                           "agent.net.noisy": True, "replay.prioritized": True}),
    "pqn": (PQNAgent, {}),
    "qstar": (QStarAgent, {}),
}
# Fields a preset fills where the config leaves them unset, and that a config may set otherwise.
PRESET_DEFAULTS: dict[str, dict[str, Any]] = {
    "rainbow": {"agent.n_step": 3},  # multi-step is the component; how many steps is a hyperparameter (DER: 20)
    "pqn": {"env.num_envs": 128, "agent.net.norm": "layer"},
}
PUZZLE_AGENTS = ("qstar",)
PRESET_FLAGS = ("double", "dueling")  # None in an unresolved config: the preset decides (False when it says nothing)


def resolve_preset(config: Config) -> Config:
    """Apply the fields ``agent.name`` implies (PRESETS); a field the config sets to another value is an error.

    Idempotent, and a config dumped before or after resolution resolves to the same flags.

    Returns a new Config (the input is not modified).
    """
    name = config.agent.name
    if name not in PRESETS:
        guess = did_you_mean(name, PRESETS, cutoff=0.6)
        hint = f"did you mean '{guess}'?" if guess else f"choose one of {', '.join(PRESETS)}"
        raise ConfigError(f"config field 'agent.name': unknown agent '{name}'; {hint}")
    if (name in PUZZLE_AGENTS) != (config.puzzle.name is not None):
        if name in PUZZLE_AGENTS:
            raise ConfigError(f"config field 'puzzle.name': agent '{name}' learns on a search puzzle; set "
                              "puzzle.name to sliding_tile, cube3 or lights_out")
        raise ConfigError(f"config field 'agent.name': puzzle.name is set ({config.puzzle.name}) but agent "
                          f"'{name}' acts in envs; use agent.name=qstar or drop the puzzle section")
    resolved = config.model_copy(deep=True)
    for dotted, wanted in PRESETS[name][1].items():
        section, field = _section(resolved, dotted)
        value = getattr(section, field)
        # None (double/dueling) or a field the config never set: the preset decides
        if value is not None and field in section.model_fields_set and value != wanted:
            raise ConfigError(
                f"config field '{dotted}': agent '{name}' implies {dotted}={_shown(wanted)}, but the config sets "
                f"{dotted}={_shown(value)}; drop {dotted} or pick another agent.name"
            )
        if field == "double" and wanted and config.agent.munchausen is not None:
            raise ConfigError(f"config field 'agent.munchausen': agent '{name}' uses Double DQN, whose argmax the "
                              "Munchausen target's soft value replaces; use agent.name=dqn or dueling_dqn")
        object.__setattr__(section, field, wanted)  # validated with the whole config below
    for dotted, value in PRESET_DEFAULTS.get(name, {}).items():
        section, field = _section(resolved, dotted)
        if field not in section.model_fields_set:
            object.__setattr__(section, field, value)
    for field in PRESET_FLAGS:
        if getattr(resolved.agent, field) is None:
            object.__setattr__(resolved.agent, field, False)
    # the whole-config checks again, for what the preset filled in (e.g. Munchausen needs the scalar critic)
    resolved = config_from_dict(config_to_dict(resolved))
    if name == "pqn":
        _check_pqn(resolved)
    return resolved


def _section(config: Config, dotted: str) -> tuple[Any, str]:
    """The config section holding the dotted field, and the field's name in it ('agent.critic.type')."""
    *path, field = dotted.split(".")
    section: Any = config
    for part in path:
        section = getattr(section, part)
    return section, field


def _check_pqn(config: Config) -> None:
    """PQN has no replay and no target network: the settings that only make sense with them are errors."""
    agent = config.agent
    problems = [("agent.double", agent.double, "there is no target network to score the online argmax"),
                ("agent.munchausen", agent.munchausen is not None, "its target needs a target network"),
                ("replay.prioritized", config.replay.prioritized, "PQN has no replay buffer"),
                ("agent.n_step", agent.n_step != 1, "PQN's returns are lambda-returns (set pqn.lam)"),
                ("distributed.num_actors", config.distributed.num_actors > 0, "PQN's envs are its actors")]
    for field, wrong, why in problems:
        if wrong:
            raise ConfigError(f"config field '{field}': agent 'pqn' does not use it ({why}); drop {field}")
    pqn, envs = config.pqn, config.env.num_envs
    if pqn.rollout_steps * envs < pqn.minibatches:  # counted after the preset's env.num_envs default
        raise ConfigError(f"config field 'pqn.minibatches': {pqn.minibatches} is more than a rollout's "
                          f"{pqn.rollout_steps * envs} transitions (pqn.rollout_steps x env.num_envs); lower "
                          "pqn.minibatches or raise the others")


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def build_agent(
    config: Config, obs_shape: Sequence[int], obs_dtype: np.dtype | str, num_actions: int, device: torch.device,
    obs_space: ObsSpace | None = None,
) -> DQNAgent:
    """Build the agent a (preset-resolved) config names, for the given spaces, on ``device``; ``obs_space`` when
    the observations are not one Box of obs_shape/obs_dtype (rlkit/spaces.py)."""
    config = resolve_preset(config)
    if config.agent.name in PUZZLE_AGENTS:
        return build_puzzle_agent(config, device)
    agent_class = PRESETS[config.agent.name][0]
    try:
        return agent_class(config.agent, obs_shape, obs_dtype, num_actions, device=device, seed=config.seed,
                           obs_space=obs_space)
    except ValueError as error:
        raise ConfigError(f"config field 'agent.net': {error}") from None


def build_puzzle_agent(config: Config, device: torch.device) -> QStarAgent:
    """The cost-to-go agent for ``config.puzzle`` (obs and action spaces come from the puzzle)."""
    config = resolve_preset(config)
    return QStarAgent(config, build_puzzle(config.puzzle), device=device)
