"""The model catalog: per-model facts with config overrides, and the paged model/list rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.config import ConfigError, Settings
from server.models import CATALOG, DEFAULT_MODEL, list_models, model_info


def settings(**config: Any) -> Settings:
    return Settings(home=Path("/nonexistent"), env={}, config=config, user_config=config)


VISIBLE = [entry.slug for entry in CATALOG if not entry.hidden]
HIDDEN = [entry.slug for entry in CATALOG if entry.hidden]


def test_the_default_model_is_in_the_catalog_and_visible() -> None:
    assert DEFAULT_MODEL in VISIBLE
    assert HIDDEN, "the catalog keeps at least one hidden model so includeHidden means something"


def test_model_info_for_the_default_model_comes_from_the_catalog() -> None:
    info = model_info(settings())
    assert info.slug == DEFAULT_MODEL and info.known
    assert info.context_window == 272_000
    assert info.auto_compact_token_limit is None
    assert info.effective_auto_compact_limit == 244_800, "90% of the window when nothing is configured"
    assert info.default_reasoning_effort == "medium"
    assert "high" in [option.reasoning_effort for option in info.supported_reasoning_efforts]


def test_model_info_follows_the_configured_model() -> None:
    assert model_info(settings(model="gpt-5.1")).slug == "gpt-5.1"


def test_config_overrides_the_catalog_window_and_limit() -> None:
    info = model_info(settings(model_context_window=100_000, model_auto_compact_token_limit=50_000))
    assert info.context_window == 100_000
    assert info.auto_compact_token_limit == 50_000
    assert info.effective_auto_compact_limit == 50_000


def test_clients_are_told_ninety_five_percent_of_the_window_as_codex_tells_them() -> None:
    assert model_info(settings(), "gpt-5.1").effective_context_window == 258_400  # what codex-cli 0.163.0 reports
    assert model_info(settings(model_context_window=100_000)).effective_context_window == 95_000
    assert model_info(settings(), "my-local-model").effective_context_window is None


def test_a_configured_limit_above_ninety_percent_of_the_window_is_capped() -> None:
    info = model_info(settings(model_context_window=100_000, model_auto_compact_token_limit=99_000))
    assert info.effective_auto_compact_limit == 90_000


def test_a_non_positive_configured_value_counts_as_unset() -> None:
    info = model_info(settings(model_auto_compact_token_limit=0))
    assert info.auto_compact_token_limit is None


def test_an_unknown_model_has_a_window_only_when_config_gives_one() -> None:
    bare = model_info(settings(), "my-local-model")
    assert not bare.known
    assert bare.context_window is None and bare.effective_auto_compact_limit is None
    configured = model_info(settings(model_context_window=32_000), "my-local-model")
    assert configured.context_window == 32_000
    assert configured.effective_auto_compact_limit == 28_800


def test_a_non_integer_window_in_config_is_an_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="model_context_window"):
        model_info(settings(model_context_window="big"))
    with pytest.raises(ConfigError, match="model_auto_compact_token_limit"):
        model_info(settings(model_auto_compact_token_limit=True))


def test_the_default_page_lists_every_visible_model_and_no_hidden_one() -> None:
    rows, next_cursor = list_models(settings())
    assert [row.id for row in rows] == VISIBLE
    assert next_cursor is None
    assert [row.id for row in rows if row.is_default] == [DEFAULT_MODEL]
    assert all(row.model == row.id and row.description and row.supported_reasoning_efforts for row in rows)


def test_include_hidden_adds_the_hidden_models() -> None:
    rows, _ = list_models(settings(), include_hidden=True)
    assert [row.id for row in rows] == [entry.slug for entry in CATALOG]
    assert all(row.hidden for row in rows if row.id in HIDDEN)


def test_paging_walks_the_catalog_once_with_stringified_offsets() -> None:
    seen: list[str] = []
    cursors: list[str | None] = []
    cursor: str | None = None
    while True:
        rows, cursor = list_models(settings(), cursor, 2)
        seen += [row.id for row in rows]
        cursors.append(cursor)
        if cursor is None:
            break
    assert seen == VISIBLE
    assert cursors[0] == "2"


def test_a_limit_of_zero_still_advances_by_one() -> None:
    rows, cursor = list_models(settings(), None, 0)
    assert len(rows) == 1 and cursor == "1"


def test_the_configured_model_is_the_one_flagged_default() -> None:
    rows, _ = list_models(settings(model="gpt-5.1"))
    assert [row.id for row in rows if row.is_default] == ["gpt-5.1"]


def test_an_unknown_configured_model_leaves_the_catalog_default_flagged() -> None:
    rows, _ = list_models(settings(model="my-local-model"))
    assert [row.id for row in rows if row.is_default] == [DEFAULT_MODEL]


@pytest.mark.parametrize("cursor", ["abc", "-1", "", "1.5"])
def test_a_malformed_cursor_is_rejected(cursor: str) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        list_models(settings(), cursor)


def test_a_cursor_past_the_end_is_rejected_but_the_end_itself_is_an_empty_last_page() -> None:
    assert list_models(settings(), str(len(VISIBLE))) == ([], None)
    with pytest.raises(ValueError, match="exceeds total models"):
        list_models(settings(), str(len(VISIBLE) + 1))
