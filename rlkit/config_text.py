"""Config text: YAML preset files (UTF-8, no duplicate keys, a mapping) and ``key=value`` dotted overrides, read
into nested dicts for ``rlkit.config`` to validate. ConfigError with one line naming the file or override."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rlkit.errors import ConfigError


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found; pass a YAML preset such as configs/cartpole_dqn.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file '{path}' is not UTF-8 text (byte {error.start}); save it as UTF-8 YAML") from None
    except OSError as error:
        raise ConfigError(f"config file '{path}' cannot be read ({error.strerror}); check the path") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as error:
        raise ConfigError(f"config file '{path}': {error}; keep one") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file '{path}' is not valid YAML{where}; fix the syntax") from None
    if data is None:
        raise ConfigError(f"config file '{path}' is empty; write at least the env and agent sections (see "
                          "configs/cartpole_dqn.yaml)")
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of sections, got {type(data).__name__}")
    return data


class _DuplicateKey(yaml.YAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load that refuses a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(f"key '{key}' appears twice (lines {seen[key]} and {key_node.start_mark.line + 1})")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{text}' is not of the form key=value (e.g. agent.lr=0.001)")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    # PyYAML reads '1e-3' as a string (YAML 1.1); numbers are what users mean.
    if isinstance(parsed, str):
        try:
            parsed = float(parsed) if any(c in parsed for c in ".eE") else int(parsed)
        except ValueError:
            pass
    return key.strip(), parsed


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override '{key}': '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value
