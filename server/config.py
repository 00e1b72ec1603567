"""Settings: the one frozen object every part of the daemon reads, and the only place that reads the environment.

Layers, lowest first: built-in defaults, ``$THREADLINE_HOME/config.toml``, ``-c key=value`` session flags (the
value is parsed as TOML, falling back to a plain string as Codex does), then ``--enable/--disable FEATURE``
(recorded as ``features.<key>``). Keys follow Codex's ``config.toml``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Settings", "default_home", "parse_override"]


class ConfigError(Exception):
    """A config file or override that cannot be used; the message says which and why."""


def default_home(env: Mapping[str, str]) -> Path:
    explicit = env.get("THREADLINE_HOME")
    return Path(explicit).expanduser() if explicit else Path.home() / ".threadline"


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value`` into (``["a","b","c"]``, value), the value read as TOML when it parses."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"invalid override {text!r}: expected key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return [part.strip() for part in key.split(".")], value


def _set_path(target: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = target
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Settings:
    home: Path
    env: Mapping[str, str] = field(repr=False)  # the whole environment, keys included: never in a repr or a log
    config: Mapping[str, Any]
    """The merged config table (snake_case keys, as in config.toml)."""
    user_config: Mapping[str, Any] = field(default_factory=dict)
    session_flags: Mapping[str, Any] = field(default_factory=dict)
    config_path: Path | None = None

    @classmethod
    def load(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        overrides: Sequence[str] = (),
        enable: Sequence[str] = (),
        disable: Sequence[str] = (),
        home: Path | None = None,
    ) -> Settings:
        env = dict(os.environ if env is None else env)
        home = home or default_home(env)
        path = home / "config.toml"
        user: dict[str, Any] = {}
        if path.is_file():
            try:
                user = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"{path}: {exc}") from exc
        flags: dict[str, Any] = {}
        for text in overrides:
            key_path, value = parse_override(text)
            _set_path(flags, key_path, value)
        for key in enable:
            _set_path(flags, ["features", key], True)
        for key in disable:
            _set_path(flags, ["features", key], False)
        merged = _merge(user, flags)
        return cls(home=home, env=env, config=merged, user_config=user, session_flags=flags, config_path=path)

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)
