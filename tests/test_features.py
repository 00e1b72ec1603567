"""The feature registry: defaults, override order, tolerant input, and experimentalFeature/list rows."""

from __future__ import annotations

import pytest

from server.features import (
    ENABLE_REQUEST_COMPRESSION,
    FEATURES,
    REMOTE_COMPACTION,
    SERVER_SIDE_COMPACTION,
    FeatureSpec,
    feature_rows,
    resolve_features,
)

BETA = FeatureSpec(
    key="shiny",
    stage="beta",
    default_enabled=False,
    description="A shiny thing.",
    display_name="Shiny",
    announcement="Try shiny!",
)
OLD = FeatureSpec(key="old_switch", stage="removed", default_enabled=False, description="Gone.")
REGISTRY = (*FEATURES, BETA, OLD)


def test_defaults_match_the_registry() -> None:
    features, warnings = resolve_features()
    assert not features.enabled(SERVER_SIDE_COMPACTION)
    assert features.enabled(REMOTE_COMPACTION)
    assert features.enabled(ENABLE_REQUEST_COMPRESSION)
    assert warnings == []


def test_the_registry_declares_the_compaction_and_compression_stages() -> None:
    stages = {spec.key: (spec.stage, spec.default_enabled) for spec in FEATURES}
    assert stages[SERVER_SIDE_COMPACTION] == ("underDevelopment", False)
    assert stages[REMOTE_COMPACTION] == ("stable", True)
    assert stages[ENABLE_REQUEST_COMPRESSION] == ("stable", True)


def test_config_then_dash_c_then_enable_disable_the_last_layer_wins() -> None:
    features, _ = resolve_features(
        {ENABLE_REQUEST_COMPRESSION: False, REMOTE_COMPACTION: False},
        [(ENABLE_REQUEST_COMPRESSION, True)],
        [(REMOTE_COMPACTION, True), (ENABLE_REQUEST_COMPRESSION, False)],
    )
    assert features.enabled(REMOTE_COMPACTION)
    assert not features.enabled(ENABLE_REQUEST_COMPRESSION)


def test_within_a_layer_later_entries_win() -> None:
    features, _ = resolve_features(toggles=[(REMOTE_COMPACTION, False), (REMOTE_COMPACTION, True)])
    assert features.enabled(REMOTE_COMPACTION)


def test_an_unknown_key_is_a_warning_not_an_error() -> None:
    features, warnings = resolve_features({"no_such_flag": True})
    assert len(warnings) == 1 and "no_such_flag" in warnings[0]
    assert features.enabled(REMOTE_COMPACTION)


def test_a_non_boolean_value_is_ignored_with_a_warning() -> None:
    features, warnings = resolve_features(config_overrides=[(REMOTE_COMPACTION, "false")])
    assert features.enabled(REMOTE_COMPACTION)
    assert len(warnings) == 1 and REMOTE_COMPACTION in warnings[0] and "'false'" in warnings[0]


def test_a_removed_feature_is_accepted_silently_and_does_nothing() -> None:
    features, warnings = resolve_features({"old_switch": True}, registry=REGISTRY)
    assert warnings == []
    assert not features.enabled("old_switch")


def test_enabling_a_feature_under_development_warns() -> None:
    features, warnings = resolve_features(toggles=[(SERVER_SIDE_COMPACTION, True)])
    assert features.enabled(SERVER_SIDE_COMPACTION)
    assert len(warnings) == 1 and "under development" in warnings[0]


def test_asking_code_for_an_unregistered_feature_is_a_bug() -> None:
    features, _ = resolve_features()
    with pytest.raises(KeyError):
        features.enabled("typo")


def test_rows_hide_display_fields_unless_beta() -> None:
    """Wire contract: displayName, description and announcement are null unless the stage is beta."""
    features, _ = resolve_features(registry=REGISTRY)
    rows = {row.name: row for row in feature_rows(features).data}
    stable = rows[REMOTE_COMPACTION]
    assert (stable.display_name, stable.description, stable.announcement) == (None, None, None)
    assert (stable.stage, stable.enabled, stable.default_enabled) == ("stable", True, True)
    beta = rows["shiny"]
    assert (beta.display_name, beta.description, beta.announcement) == ("Shiny", "A shiny thing.", "Try shiny!")


def test_rows_report_the_resolved_state_not_the_default() -> None:
    features, _ = resolve_features({ENABLE_REQUEST_COMPRESSION: False})
    row = next(row for row in feature_rows(features).data if row.name == ENABLE_REQUEST_COMPRESSION)
    assert not row.enabled and row.default_enabled


def test_pages_follow_the_offset_cursor_until_the_end() -> None:
    features, _ = resolve_features(registry=REGISTRY)
    first = feature_rows(features, limit=2)
    assert [row.name for row in first.data] == [spec.key for spec in REGISTRY[:2]]
    assert first.next_cursor == "2"
    second = feature_rows(features, cursor=first.next_cursor, limit=2)
    assert [row.name for row in second.data] == [spec.key for spec in REGISTRY[2:4]]
    last = feature_rows(features, cursor=second.next_cursor, limit=2)
    assert [row.name for row in last.data] == [REGISTRY[4].key]
    assert last.next_cursor is None


def test_without_a_limit_one_page_holds_everything_and_past_the_end_is_empty() -> None:
    features, _ = resolve_features()
    assert len(feature_rows(features).data) == len(FEATURES)
    assert feature_rows(features).next_cursor is None
    assert feature_rows(features, cursor="99").data == []


@pytest.mark.parametrize(("cursor", "limit"), [("abc", None), ("-1", None), ("²", None), (None, 0)])
def test_a_bad_cursor_or_limit_is_a_value_error(cursor: str | None, limit: int | None) -> None:
    features, _ = resolve_features()
    with pytest.raises(ValueError):
        feature_rows(features, cursor=cursor, limit=limit)


def test_moving_a_deprecated_feature_off_its_default_warns_but_applies() -> None:
    legacy = FeatureSpec(key="legacy", stage="deprecated", default_enabled=True, description="Old way.")
    features, warnings = resolve_features({"legacy": False}, registry=(legacy,))
    assert not features.enabled("legacy")
    assert len(warnings) == 1 and "deprecated" in warnings[0]
