"""User-facing errors.

Every error a user can cause (a config typo, an unknown env id, a corrupt checkpoint) is raised as a subclass of
`RlkitError` with a one-line message that names the problem and the fix. The CLI prints that line to stderr and
exits with status 2; library users catch `RlkitError`.
"""


class RlkitError(Exception):
    """Base class of errors caused by user input; the message is one line naming the problem and the fix."""


class ConfigError(RlkitError):
    """A config file or override is invalid (unknown key, wrong type, value out of range, incompatible options)."""


class EnvError(RlkitError):
    """An environment id is unknown or its spaces are not supported (rlkit needs Discrete actions, Box obs)."""


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
