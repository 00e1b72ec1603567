"""`threadline features list`, and the one adapter from `Settings` to resolved feature flags.

Contract: `features_from_settings` resolves the registry against the settings' layers in Codex's order —
`[features]` from config.toml, then the session flags (`-c features.<key>=…`, `--enable`, `--disable`, which
`Settings` has already folded into one table, last one winning) — and returns the warnings instead of raising.
`list_features` is a CLI command, not the daemon: it writes a table to stdout (name, stage, enabled, default),
one row per registered feature in registry order, and the warnings to stderr; it returns the exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

from .config import Settings
from .features import Features, resolve_features

__all__ = ["features_from_settings", "format_feature_table", "list_features"]

_HEADERS = ("name", "stage", "enabled", "default")


def _table(layer: Mapping[str, object], source: str, warnings: list[str]) -> Mapping[str, object]:
    table = layer.get("features")
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        warnings.append(f"`features` in {source} must be a table of true/false values; ignored")
        return {}
    return table


def features_from_settings(settings: Settings) -> tuple[Features, list[str]]:
    """The resolved feature flags for `settings` and the warnings (unknown keys, non-booleans, unstable)."""
    warnings: list[str] = []
    from_file = _table(settings.user_config, "config.toml", warnings)
    from_flags = _table(settings.session_flags, "the command line", warnings)
    features, more = resolve_features(from_file, from_flags.items())
    return features, warnings + more


def format_feature_table(features: Features) -> str:
    """The aligned text table `features list` prints, header first, one line per feature."""
    rows = [_HEADERS] + [
        (spec.key, spec.stage, _flag(features.enabled(spec.key)), _flag(spec.default_enabled))
        for spec in features.specs()
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(len(_HEADERS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def list_features(settings: Settings, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the feature table to `out` (stdout) and any warnings to `err` (stderr); returns 0."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    features, warnings = features_from_settings(settings)
    for warning in warnings:
        err.write(f"threadline: warning: {warning}\n")
    out.write(format_feature_table(features))
    out.flush()
    return 0
