"""User-facing errors.

Every error a user can cause (a config typo, an unknown env id, a corrupt checkpoint) is raised as a subclass of
`RlkitError` with a one-line message that names the problem and the fix. The CLI prints that line to stderr and
exits with status 2; library users catch `RlkitError`.
"""

from __future__ import annotations

import difflib
import re
from typing import Iterable


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = 0.75) -> str | None:
    """The candidate a user most likely meant by ``word``, or None when none is close (say nothing rather than
    something misleading). Case-insensitive; a candidate that ``word`` extends (``lr`` for ``lr_rate``) counts."""
    candidates = list(candidates)
    folded = {candidate.lower(): candidate for candidate in candidates}
    key = word.lower()
    if key in folded:
        return folded[key]
    extended = [c for c in folded if key.startswith(c + "_") or key.startswith(c + ".")]
    if extended:
        return folded[max(extended, key=len)]
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=cutoff)
    return folded[close[0]] if close else None


def did_you_mean_id(env_id: str, ids: Iterable[str]) -> str | None:
    """``did_you_mean`` for versioned ids (``Name-vN``): names are compared without their version, and a match
    returns that name's newest registered version."""
    by_name: dict[str, str] = {}
    for candidate in ids:
        name = re.sub(r"-v\d+$", "", candidate)
        if name not in by_name or _version(candidate) > _version(by_name[name]):
            by_name[name] = candidate
    name = did_you_mean(re.sub(r"-v\d+$", "", env_id), by_name)
    return None if name is None else by_name[name]


def _version(env_id: str) -> int:
    match = re.search(r"-v(\d+)$", env_id)
    return int(match.group(1)) if match else -1


class RlkitError(Exception):
    """Base class of errors caused by user input; the message is one line naming the problem and the fix."""


class ConfigError(RlkitError):
    """A config file or override is invalid (unknown key, wrong type, value out of range, incompatible options)."""


class EnvError(RlkitError):
    """An environment id is unknown or its spaces are not supported (rlkit needs Discrete actions, Box obs)."""


class ActionMaskError(RlkitError):
    """An env offered no legal action where the agent has to act."""


class CheckpointError(RlkitError):
    """A checkpoint is missing, corrupt, foreign, unsafe, or does not match the architecture it is loaded into."""


class RunDirError(RlkitError):
    """A run directory cannot be created, written, or would be overwritten."""


class TrainingError(RlkitError):
    """Training cannot go on (for example a NaN or infinite loss); the last good checkpoint is kept."""


class Interrupted(RlkitError):
    """Training stopped on SIGINT or SIGTERM after writing a checkpoint at the current step; ``exit_status`` is
    128 + the signal number, as a shell reports a process killed by it."""

    def __init__(self, message: str, exit_status: int = 130):
        super().__init__(message)
        self.exit_status = exit_status
