"""Local compaction: budgeted user messages plus the summary bridge, and trimming an overflowing request."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from server.compaction.estimate import estimate_history, estimate_item_tokens
from server.compaction.items import is_real_user_message, message_texts
from server.compaction.local import (
    TRUNCATION_MARKER,
    build_local_replacement,
    recent_user_messages,
    trim_for_summary_request,
)
from server.compaction.pairs import unpaired_call_ids
from server.compaction.prompts import EMPTY_SUMMARY, SUMMARY_BRIDGE_PREFIX

from .factories import (
    assistant,
    call,
    developer,
    env_context,
    image_message,
    output,
    reasoning,
    user,
)


def test_the_replacement_is_the_real_user_messages_then_one_summary_message() -> None:
    history = [env_context(), user("a"), assistant("x"), call("c1"), output("c1"), developer("d"), user("b")]
    result = build_local_replacement(history, "the summary")
    assert result[:-1] == [user("a"), user("b")]
    assert result[-1]["role"] == "user"
    assert message_texts(result[-1]) == [f"{SUMMARY_BRIDGE_PREFIX}\n\nthe summary"]


def test_an_empty_summary_gets_a_placeholder() -> None:
    result = build_local_replacement([user("a")], "   ")
    assert message_texts(result[-1])[0].endswith(EMPTY_SUMMARY)


def test_an_earlier_summary_is_not_carried_over_as_a_user_message() -> None:
    first = build_local_replacement([user("a")], "one")
    second = build_local_replacement([*first, user("b")], "two")
    assert second[:-1] == [user("a"), user("b")]


def test_the_newest_messages_are_kept_within_the_budget_in_chronological_order() -> None:
    history = [user("old " * 50), user("mid"), user("new")]
    budget = estimate_item_tokens(user("mid")) + estimate_item_tokens(user("new"))
    assert recent_user_messages(history, budget_tokens=budget) == [user("mid"), user("new")]


def test_the_first_message_that_does_not_fit_is_cut_in_the_middle_and_the_walk_stops() -> None:
    long_text = "HEAD " + "x" * 40_000 + " TAIL"
    history = [user("oldest"), user(long_text), user("new")]
    budget = estimate_item_tokens(user("new")) + 2_000
    kept = recent_user_messages(history, budget_tokens=budget)
    assert kept[-1] == user("new") and len(kept) == 2
    text = message_texts(kept[0])[0]
    assert text.startswith("HEAD") and text.endswith("TAIL") and TRUNCATION_MARKER in text
    assert estimate_history(kept) <= budget


def test_a_message_with_an_image_that_does_not_fit_is_dropped_not_cut() -> None:
    kept = recent_user_messages([image_message(), user("new")], budget_tokens=estimate_item_tokens(user("new")) + 10)
    assert kept == [user("new")]


def test_a_message_that_would_keep_almost_nothing_is_dropped() -> None:
    kept = recent_user_messages([user("y" * 10_000)], budget_tokens=30)
    assert kept == []


@given(
    st.lists(st.text(min_size=1, max_size=3_000).map(user), max_size=8),
    st.integers(min_value=0, max_value=3_000),
)
def test_kept_user_messages_never_exceed_the_budget(history: list[dict[str, Any]], budget: int) -> None:
    kept = recent_user_messages(history, budget_tokens=budget)
    assert estimate_history(kept) <= budget
    assert all(is_real_user_message(item) for item in kept)


def test_trimming_drops_the_oldest_item() -> None:
    assert trim_for_summary_request([user("a"), assistant("b"), user("c")]) == [assistant("b"), user("c")]


def test_trimming_a_call_drops_its_output_too() -> None:
    history = [call("c1"), user("u"), output("c1"), user("v")]
    assert trim_for_summary_request(history) == [user("u"), user("v")]


def test_trimming_to_a_target_removes_oldest_items_until_it_fits() -> None:
    history = [user("a" * 400), user("b" * 400), user("c")]
    trimmed = trim_for_summary_request(history, target_tokens=estimate_item_tokens(user("c")))
    assert trimmed == [user("c")]


def test_trimming_away_a_reasoning_item_detaches_the_call_that_followed_it() -> None:
    history = [reasoning(), call("c1", item_id="fc_1"), output("c1")]
    assert trim_for_summary_request(history) == [call("c1"), output("c1")]


def test_trimming_nothing_left_gives_an_empty_history() -> None:
    assert trim_for_summary_request([user("only")]) == []
    assert trim_for_summary_request([]) == []


_ids = st.sampled_from(["a", "b", "c"])
_items: st.SearchStrategy[dict[str, Any]] = st.one_of(
    _ids.map(call), _ids.map(output), st.just(user("u")), st.just(reasoning()), st.just(assistant("x"))
)


@given(st.lists(_items, max_size=12), st.one_of(st.none(), st.integers(min_value=0, max_value=200)))
def test_trimmed_histories_never_hold_an_output_without_its_call(
    items: list[dict[str, Any]], target: int | None
) -> None:
    trimmed = trim_for_summary_request(items, target_tokens=target)
    seen: set[str] = set()
    for item in trimmed:
        if item["type"] == "function_call":
            seen.add(item["call_id"])
        elif item["type"] == "function_call_output":
            assert item["call_id"] in seen
    assert unpaired_call_ids(trimmed) == set()
