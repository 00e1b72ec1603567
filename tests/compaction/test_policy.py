"""Path choice, compaction triggers, the per-turn cap and the context_management field."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from server.compaction.policy import (
    CompactionBudget,
    PathInputs,
    choose_path,
    context_management_param,
    is_over_window,
    needs_mid_turn_compaction,
    needs_pre_turn_compaction,
    needs_previous_model_compaction,
)

OPENAI = PathInputs(server_side_compaction=True, remote_compaction=True, wire_api="responses", remote_capability="v1")


def inputs(**changes: Any) -> PathInputs:
    return replace(OPENAI, **changes)


def test_auto_compaction_is_inline_when_the_flag_is_on_for_a_responses_provider() -> None:
    assert choose_path(OPENAI, manual=False) == "inline"


def test_manual_compaction_never_uses_inline() -> None:
    assert choose_path(OPENAI, manual=True) == "remote_v1"


def test_a_context_over_the_window_needs_an_explicit_request_even_with_inline() -> None:
    assert choose_path(OPENAI, manual=False, over_window=True) == "remote_v1"


def test_inline_is_off_without_the_flag() -> None:
    assert choose_path(inputs(server_side_compaction=False), manual=False) == "remote_v1"


def test_inline_needs_the_responses_wire_api() -> None:
    assert choose_path(inputs(wire_api="chat"), manual=False) == "local"


def test_a_provider_opt_out_or_a_remembered_rejection_disables_inline() -> None:
    assert choose_path(inputs(inline_opt_out=True), manual=False) == "remote_v1"
    assert choose_path(inputs(inline_rejected=True), manual=False) == "remote_v1"
    assert not inputs(inline_rejected=True).inline_available


def test_a_v2_provider_gets_the_trigger_path() -> None:
    assert choose_path(inputs(remote_capability="v2"), manual=True) == "remote_v2"


def test_a_refused_trigger_falls_back_to_the_v1_endpoint_then_to_local() -> None:
    assert choose_path(inputs(remote_capability="v2", trigger_rejected=True), manual=True) == "remote_v1"
    both_refused = inputs(remote_capability="v2", trigger_rejected=True, compact_endpoint_missing=True)
    assert choose_path(both_refused, manual=True) == "local"


def test_a_remembered_404_on_the_compact_endpoint_means_local() -> None:
    assert choose_path(inputs(compact_endpoint_missing=True), manual=True) == "local"


def test_remote_needs_both_the_feature_and_the_provider_capability() -> None:
    assert choose_path(inputs(remote_compaction=False), manual=True) == "local"
    assert choose_path(inputs(remote_capability="off"), manual=True) == "local"


def test_without_inline_pre_turn_compaction_starts_at_the_limit() -> None:
    assert not needs_pre_turn_compaction(899, 900, False)
    assert needs_pre_turn_compaction(900, 900, False)


def test_with_inline_pre_turn_compaction_waits_for_the_full_window() -> None:
    assert not needs_pre_turn_compaction(950, 900, True, context_window=1_000)
    assert needs_pre_turn_compaction(1_000, 900, True, context_window=1_000)
    assert not needs_pre_turn_compaction(10**9, 900, True)  # unknown window: the server handles it


def test_without_a_limit_only_the_window_triggers() -> None:
    assert not needs_pre_turn_compaction(999, None, False, context_window=1_000)
    assert needs_pre_turn_compaction(1_000, None, False, context_window=1_000)
    assert is_over_window(1_000, 1_000) and not is_over_window(10**9, None)


def test_switching_to_a_smaller_window_over_its_limit_compacts_with_the_previous_model() -> None:
    assert needs_previous_model_compaction(400_000, 200_000, 190_000, 180_000, False)


def test_no_previous_model_compaction_when_inline_is_available() -> None:
    """Seed PR: inline availability skips this preflight so auto-compaction has one path."""
    assert not needs_previous_model_compaction(400_000, 200_000, 190_000, 180_000, True)


def test_no_previous_model_compaction_for_a_larger_window_or_a_context_under_the_new_limit() -> None:
    assert not needs_previous_model_compaction(200_000, 400_000, 390_000, 360_000, False)
    assert not needs_previous_model_compaction(400_000, 200_000, 100_000, 180_000, False)
    assert not needs_previous_model_compaction(None, 200_000, 190_000, 180_000, False)


def test_mid_turn_compaction_only_when_another_request_follows() -> None:
    assert needs_mid_turn_compaction(1_000, 900, needs_follow_up=True, inline_available=False)
    assert not needs_mid_turn_compaction(1_000, 900, needs_follow_up=False, inline_available=False)
    assert not needs_mid_turn_compaction(950, 900, needs_follow_up=True, inline_available=True, context_window=1_000)


def test_the_turn_fails_once_the_cap_is_spent_and_another_compaction_is_needed() -> None:
    budget = CompactionBudget()
    for _ in range(3):
        assert not budget.must_fail(True)
        budget = budget.spend()
    assert budget.exhausted
    assert budget.must_fail(True)
    assert not budget.must_fail(False)


def test_a_budget_is_immutable() -> None:
    budget = CompactionBudget(cap=1)
    assert budget.spend().used == 1 and budget.used == 0


def test_context_management_carries_the_limit_as_compact_threshold() -> None:
    assert context_management_param(244_800) == [{"type": "compaction", "compact_threshold": 244_800}]


@pytest.mark.parametrize("limit", [0, 1, 999])
def test_compact_threshold_is_clamped_to_the_api_minimum(limit: int) -> None:
    assert context_management_param(limit) == [{"type": "compaction", "compact_threshold": 1_000}]
