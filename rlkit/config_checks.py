"""Config checks that speak the user's language: an unknown key gets a did-you-mean (other libraries' names
included), a pydantic validation error becomes one line naming the dotted field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from rlkit.errors import ConfigError, did_you_mean


# Other libraries' names for rlkit's fields (SB3's DQN above all), suggested when a user types them.
_ALIASES = {"learning_rate": "lr", "buffer_size": "capacity", "target_update_interval": "target_period",
            "exploration_fraction": "fraction", "exploration_initial_eps": "start", "exploration_final_eps": "end",
            "n_steps": "n_step", "double_q": "double", "net_arch": "hidden", "num_steps": "total_steps"}


def check_keys(raw: Any, model: type[BaseModel], prefix: str = "") -> None:
    """ConfigError for the first key of the nested dict `raw` that `model` (or a section model below it) does not
    have, with a did-you-mean, checked before pydantic sees the dict (its message has no suggestion)."""
    if not isinstance(raw, dict):
        return
    fields = model.model_fields
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            candidates = [f"{prefix}{name}" for name in fields]
            guess = _ALIASES.get(str(key)) or did_you_mean(str(key), fields)
            hint = (f"; did you mean '{prefix}{guess}'?" if guess in fields else
                    f"; valid keys here: {', '.join(candidates)}")
            raise ConfigError(f"unknown config key '{dotted}'{hint}")
        annotation = fields[key].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            check_keys(value, annotation, prefix=f"{dotted}.")


def describe_validation_error(error: ValidationError) -> str:
    """Pydantic's first complaint as one line naming the dotted field, the input and how many more there were."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    got = first.get("input")
    shown = "" if isinstance(got, dict) or first["type"] == "value_error" else f" (got {got!r})"
    more = len(error.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    where = f"config field '{location}'" if location else "config"
    return f"{where}: {message}{shown}{tail}"
