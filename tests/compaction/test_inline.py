"""Inline (server-side) checkpoints: buffered during the stream, applied only on response.completed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.compaction.inline import (
    InlineCheckpointBuffer,
    apply_inline_checkpoint,
    current_turn_inputs,
    strip_leading_compaction_items,
)
from server.compaction.items import count_compactions, is_compaction, is_message, role
from server.compaction.pairs import unpaired_call_ids
from server.compaction.prompts import summary_message_text

from .factories import (
    assistant,
    call,
    compaction,
    developer,
    env_context,
    output,
    reasoning,
    user,
)

EARLIER_TURN = [user("first task"), reasoning("rs_0"), assistant("first answer")]


def test_the_replacement_is_current_turn_inputs_then_the_compaction_then_what_followed_it() -> None:
    history = [*EARLIER_TURN, env_context(), user("second task"), reasoning(), call("c1", item_id="fc_1"), output("c1")]
    outputs = [compaction(), reasoning("rs_2"), assistant("done")]
    assert apply_inline_checkpoint(history, 3, outputs) == [
        env_context(),
        user("second task"),
        call("c1"),  # kept for its output, without the item id tying it to the dropped reasoning
        output("c1"),
        compaction(),
        reasoning("rs_2"),
        assistant("done"),
    ]


def test_earlier_turns_are_gone_from_the_model_visible_history() -> None:
    history = [*EARLIER_TURN, user("second task")]
    result = apply_inline_checkpoint(history, 3, [compaction()])
    assert user("first task") not in result and assistant("first answer") not in result


def test_steered_messages_and_injected_developer_messages_of_the_turn_are_kept_in_order() -> None:
    history = [user("task"), assistant("working"), call("c1"), output("c1"), user("also do X"), developer("note")]
    assert current_turn_inputs(history, 0) == [
        user("task"),
        call("c1"),
        output("c1"),
        user("also do X"),
        developer("note"),
    ]


def test_an_output_whose_call_lies_before_the_turn_start_is_not_kept() -> None:
    history = [call("c0"), user("task"), output("c0")]
    assert current_turn_inputs(history, 1) == [user("task")]


def test_a_tool_call_streamed_before_the_compaction_is_kept_because_its_output_is_still_to_come() -> None:
    outputs = [reasoning(), assistant("thinking aloud"), call("c9", item_id="fc_9"), compaction(), assistant("after")]
    result = apply_inline_checkpoint([user("task")], 0, outputs)
    assert result == [user("task"), call("c9"), compaction(), assistant("after")]


def test_a_second_checkpoint_in_the_same_turn_replaces_the_first() -> None:
    history = [user("task")]
    first = apply_inline_checkpoint(history, 0, [compaction("cmp_1"), call("c1")])
    first += [output("c1")]
    second = apply_inline_checkpoint(first, 0, [compaction("cmp_2"), assistant("done")])
    assert second == [user("task"), call("c1"), output("c1"), compaction("cmp_2"), assistant("done")]
    assert count_compactions(second) == 1


def test_a_local_summary_written_earlier_in_the_turn_is_not_carried_into_the_checkpoint() -> None:
    # The turn was compacted locally mid-way (its history became the user's messages and the bridge message),
    # then a later request of the same turn streamed a checkpoint: that checkpoint already summarises the
    # bridge, and a copy beside it would nest one summary inside the next.
    bridge = user(summary_message_text("The user wants X; step 1 is done."))
    after_local = [user("task"), bridge, call("c1"), output("c1")]
    result = apply_inline_checkpoint(after_local, 0, [compaction("cmp_1"), assistant("done")])
    assert result == [user("task"), call("c1"), output("c1"), compaction("cmp_1"), assistant("done")]


def test_the_last_compaction_of_a_stream_wins() -> None:
    result = apply_inline_checkpoint([user("t")], 0, [compaction("cmp_a"), assistant("x"), compaction("cmp_b")])
    assert result == [user("t"), compaction("cmp_b")]


def test_codex_private_items_in_the_stream_are_never_kept() -> None:
    outputs = [{"type": "compaction_summary", "encrypted_content": "E"}, {"type": "context_compaction"}]
    result = apply_inline_checkpoint([user("t")], 0, outputs)
    assert result == [user("t"), {"type": "compaction", "encrypted_content": "E"}]


def test_outputs_without_a_compaction_item_are_refused() -> None:
    with pytest.raises(ValueError, match="compaction item"):
        apply_inline_checkpoint([user("t")], 0, [assistant("plain answer")])


def test_inputs_are_not_mutated() -> None:
    history = [user("t"), call("c1", item_id="fc_1"), output("c1")]
    apply_inline_checkpoint(history, 0, [compaction()])
    assert history[1]["id"] == "fc_1"


def test_the_buffer_releases_items_until_a_compaction_arrives_then_holds_them() -> None:
    buffer = InlineCheckpointBuffer()
    assert buffer.record(reasoning()) is True
    assert not buffer.has_checkpoint
    assert buffer.record(compaction()) is False
    assert buffer.record(assistant("after")) is False
    assert buffer.has_checkpoint
    assert buffer.held == [compaction(), assistant("after")]
    assert buffer.outputs == [reasoning(), compaction(), assistant("after")]


def test_a_failed_or_retried_stream_discards_the_buffer_so_nothing_is_committed() -> None:
    buffer = InlineCheckpointBuffer()
    buffer.record(compaction())
    buffer.discard()
    assert not buffer.has_checkpoint and buffer.outputs == [] and buffer.held == []
    assert buffer.record(assistant("retry")) is True


def test_leading_compaction_items_are_stripped_and_later_ones_kept() -> None:
    items = [compaction("a"), compaction("b"), user("t"), compaction("c")]
    assert strip_leading_compaction_items(items) == [user("t"), compaction("c")]
    assert strip_leading_compaction_items([compaction()]) == []


# Properties: any history, any turn start, any stream holding a compaction.

_ids = st.sampled_from(["a", "b", "c"])
_texts = st.sampled_from(["t1", "t2", "t3", "t4"])
_history_item: st.SearchStrategy[dict[str, Any]] = st.one_of(
    _texts.map(user),
    _texts.map(assistant),
    _texts.map(developer),
    st.just(reasoning()),
    st.just(compaction("old")),
    _ids.map(lambda cid: call(cid, item_id=f"fc_{cid}")),
    _ids.map(output),
)
_output_item: st.SearchStrategy[dict[str, Any]] = st.one_of(
    _texts.map(assistant),
    st.just(reasoning("rs_new")),
    _ids.map(lambda cid: call(f"n{cid}")),
    st.just(compaction("new")),
)


@st.composite
def _scenario(draw: st.DrawFn) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]]]:
    history = draw(st.lists(_history_item, max_size=10))
    start = draw(st.integers(min_value=0, max_value=len(history)))
    before = draw(st.lists(_output_item, max_size=4))
    after = draw(st.lists(_output_item.filter(lambda item: not is_compaction(item)), max_size=4))
    return history, start, [*before, compaction("new"), *after]


@given(_scenario())
def test_the_result_always_holds_exactly_one_compaction_item(scenario: Any) -> None:
    history, start, outputs = scenario
    result = apply_inline_checkpoint(history, start, outputs)
    assert count_compactions(result) == 1
    again = apply_inline_checkpoint(result, 0, [compaction("next")])
    assert count_compactions(again) == 1


@given(_scenario())
def test_every_current_turn_message_is_kept_in_order_before_the_compaction(scenario: Any) -> None:
    history, start, outputs = scenario
    result = apply_inline_checkpoint(history, start, outputs)
    position = next(index for index, item in enumerate(result) if is_compaction(item))
    expected = [item for item in history[start:] if is_message(item) and role(item) != "assistant"]
    assert [item for item in result[:position] if is_message(item)] == expected


@given(_scenario())
def test_what_followed_the_compaction_ends_the_result_unchanged(scenario: Any) -> None:
    history, start, outputs = scenario
    result = apply_inline_checkpoint(history, start, outputs)
    tail = outputs[len(outputs) - 1 - outputs[::-1].index(compaction("new")) :]
    assert result[len(result) - len(tail) :] == tail


@given(_scenario())
def test_every_kept_output_has_its_call_before_it(scenario: Any) -> None:
    history, start, outputs = scenario
    result = apply_inline_checkpoint(history, start, outputs)
    prefix = result[: next(index for index, item in enumerate(result) if is_compaction(item))]
    kept_outputs = {item["call_id"] for item in prefix if item["type"] == "function_call_output"}
    seen_calls: set[str] = set()
    for item in prefix:
        if item["type"] == "function_call":
            seen_calls.add(item["call_id"])
        elif item["type"] == "function_call_output":
            assert item["call_id"] in seen_calls
    # Calls without outputs in the prefix are only the ones streamed before the compaction.
    assert unpaired_call_ids(prefix) <= {item["call_id"] for item in outputs if item["type"] == "function_call"}
    assert kept_outputs <= seen_calls


def test_a_negative_turn_start_is_refused() -> None:
    with pytest.raises(ValueError, match="turn_start_index"):
        apply_inline_checkpoint([user("t")], -1, [compaction()])
