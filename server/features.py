"""The feature-flag registry: which switches exist, what they default to, and how overrides resolve.

Contract: `resolve_features` starts from the registry defaults and applies override layers in order — the
config `[features]` table, then `-c features.<key>=…` pairs, then `--enable/--disable` toggles — so the last
layer wins. Bad input never raises: unknown keys and non-boolean values are skipped and reported as warning
strings for the caller to log or announce. Removed features are accepted and ignored. `feature_rows` renders
the `experimentalFeature/list` page (wire contract: display fields are null unless the stage is beta).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ENABLE_REQUEST_COMPRESSION",
    "FEATURES",
    "REMOTE_COMPACTION",
    "SERVER_SIDE_COMPACTION",
    "FeaturePage",
    "FeatureRow",
    "FeatureSpec",
    "Features",
    "Stage",
    "feature_rows",
    "resolve_features",
]

Stage = Literal["underDevelopment", "beta", "stable", "deprecated", "removed"]

SERVER_SIDE_COMPACTION = "server_side_compaction"
REMOTE_COMPACTION = "remote_compaction"
ENABLE_REQUEST_COMPRESSION = "enable_request_compression"


@dataclass(frozen=True, kw_only=True)
class FeatureSpec:
    """One switch. `display_name`/`announcement` are only shown for beta features (the wire hides the rest)."""

    key: str
    stage: Stage
    default_enabled: bool
    description: str
    display_name: str | None = None
    announcement: str | None = None


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        key=SERVER_SIDE_COMPACTION,
        stage="underDevelopment",
        default_enabled=False,
        description=(
            "Let the Responses API compact long threads inline: eligible requests carry "
            "context_management with the auto-compact limit, so no separate compaction request is made."
        ),
    ),
    FeatureSpec(
        key=REMOTE_COMPACTION,
        stage="stable",
        default_enabled=True,
        description="Compact through the provider's compaction endpoint when it offers one, instead of a local summary.",
    ),
    FeatureSpec(
        key=ENABLE_REQUEST_COMPRESSION,
        stage="stable",
        default_enabled=True,
        description="Send streamed /responses bodies zstd-compressed where the resolved provider and credential accept it.",
    ),
)


@dataclass(frozen=True)
class Features:
    """The resolved state of every registered feature. Build it with `resolve_features`."""

    _state: Mapping[str, bool]
    _registry: tuple[FeatureSpec, ...] = field(default=FEATURES, repr=False)

    def enabled(self, key: str) -> bool:
        """Whether `key` is on.

        Raises:
            KeyError: `key` is not registered — a typo in code, unlike an unknown key in config, is a bug.
        """
        return self._state[key]

    def specs(self) -> tuple[FeatureSpec, ...]:
        """The registry these features were resolved against, in listing order."""
        return self._registry


def resolve_features(
    config_table: Mapping[str, object] | None = None,
    config_overrides: Iterable[tuple[str, object]] = (),
    toggles: Iterable[tuple[str, bool]] = (),
    *,
    registry: Sequence[FeatureSpec] = FEATURES,
) -> tuple[Features, list[str]]:
    """Resolve defaults plus overrides into `Features`, returning it with the warnings to report.

    `config_table` is the decoded `[features]` table; `config_overrides` are `(key, value)` pairs from
    `-c features.<key>=<value>` (values already TOML-decoded); `toggles` are `(key, True)` for `--enable key`
    and `(key, False)` for `--disable key`. Layers apply in that order, items within a layer in order.
    """
    specs = {spec.key: spec for spec in registry}
    state = {spec.key: spec.default_enabled for spec in registry}
    warnings: list[str] = []
    layers: list[tuple[str, Iterable[tuple[str, object]]]] = [
        ("config.toml [features]", (config_table or {}).items()),
        ("-c features.<key>", config_overrides),
        ("--enable/--disable", toggles),
    ]
    for source, pairs in layers:
        for key, value in pairs:
            spec = specs.get(key)
            if spec is None:
                warnings.append(f"unknown feature `{key}` in {source}; ignored")
            elif not isinstance(value, bool):
                warnings.append(f"feature `{key}` in {source} must be true or false, got {value!r}; ignored")
            elif spec.stage == "removed":
                # Old configs keep parsing: the switch no longer does anything, so there is nothing to flip.
                continue
            else:
                state[key] = value
    for spec in registry:
        if spec.stage == "underDevelopment" and state[spec.key] and not spec.default_enabled:
            warnings.append(f"feature `{spec.key}` is under development and may change or break; enabled anyway")
        elif spec.stage == "deprecated" and state[spec.key] != spec.default_enabled:
            warnings.append(f"feature `{spec.key}` is deprecated and will be removed")
    return Features(state, tuple(registry)), warnings


@dataclass(frozen=True, kw_only=True)
class FeatureRow:
    """One `ExperimentalFeature` entry; the handler maps these snake_case fields to the wire names."""

    name: str
    stage: Stage
    enabled: bool
    default_enabled: bool
    display_name: str | None
    description: str | None
    announcement: str | None


@dataclass(frozen=True, kw_only=True)
class FeaturePage:
    """A page of rows and the cursor of the next page (None on the last page)."""

    data: list[FeatureRow]
    next_cursor: str | None


def feature_rows(features: Features, *, cursor: str | None = None, limit: int | None = None) -> FeaturePage:
    """Render one page of `experimentalFeature/list`.

    `cursor` is the stringified offset returned as `next_cursor` by the previous page (None: from the start);
    `limit` caps the page size (None: everything left). Beta features carry their display name, description
    and announcement; every other stage reports them as null, as the wire contract requires.

    Raises:
        ValueError: `cursor` is not a non-negative integer string, or `limit` is below 1.
    """
    start = 0
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()):
            raise ValueError(f"invalid cursor: {cursor}")
        start = int(cursor)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    specs = features.specs()
    end = len(specs) if limit is None else min(len(specs), start + limit)
    rows = [
        FeatureRow(
            name=spec.key,
            stage=spec.stage,
            enabled=features.enabled(spec.key),
            default_enabled=spec.default_enabled,
            display_name=spec.display_name if spec.stage == "beta" else None,
            description=spec.description if spec.stage == "beta" else None,
            announcement=spec.announcement if spec.stage == "beta" else None,
        )
        for spec in specs[start:end]
    ]
    return FeaturePage(data=rows, next_cursor=str(end) if end < len(specs) else None)
