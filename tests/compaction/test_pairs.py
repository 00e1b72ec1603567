"""Tool call / output pairing, restored after interrupts and cuts (an API invariant)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from server.compaction.items import call_id, is_tool_call, is_tool_output
from server.compaction.pairs import detach_unreasoned_calls, ensure_call_output_pairs, mend_gaps, unpaired_call_ids

from .factories import assistant, call, output, reasoning, user


def test_a_paired_history_is_left_unchanged() -> None:
    history = [user("go"), reasoning(), call("c1"), output("c1"), assistant("done")]
    assert ensure_call_output_pairs(history) == history


def test_a_call_without_output_is_answered_aborted() -> None:
    fixed = ensure_call_output_pairs([user("go"), call("c1")])
    assert fixed == [user("go"), call("c1"), {"type": "function_call_output", "call_id": "c1", "output": "aborted"}]


def test_synthetic_outputs_come_after_the_run_of_calls_issued_together() -> None:
    fixed = ensure_call_output_pairs([reasoning(), call("c1"), call("c2"), output("c2")])
    assert [item["type"] for item in fixed] == [
        "reasoning",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    assert [call_id(item) for item in fixed[3:]] == ["c1", "c2"]


def test_an_output_whose_call_is_missing_is_dropped() -> None:
    assert ensure_call_output_pairs([user("go"), output("ghost")]) == [user("go")]


def test_an_output_before_its_call_or_a_second_output_is_dropped() -> None:
    fixed = ensure_call_output_pairs([output("c1"), call("c1"), output("c1", "first"), output("c1", "second")])
    assert fixed == [call("c1"), output("c1", "first")]


def test_a_custom_tool_call_is_answered_with_a_custom_tool_output() -> None:
    fixed = ensure_call_output_pairs([{"type": "custom_tool_call", "call_id": "k", "name": "apply_patch", "input": ""}])
    assert fixed[-1] == {"type": "custom_tool_call_output", "call_id": "k", "output": "aborted"}


def test_the_input_list_is_not_mutated() -> None:
    history = [call("c1")]
    ensure_call_output_pairs(history)
    assert history == [call("c1")]


def test_a_call_keeps_its_id_only_behind_its_reasoning() -> None:
    items = [reasoning(), call("c1", item_id="fc_1"), call("c2", item_id="fc_2"), user("u"), call("c3", item_id="fc_3")]
    detached = detach_unreasoned_calls(items)
    assert detached[1]["id"] == "fc_1" and detached[2]["id"] == "fc_2"
    assert "id" not in detached[4]
    assert items[4]["id"] == "fc_3"


def test_a_history_without_gaps_is_not_mended() -> None:
    history = [user("go"), reasoning(), call("c1", item_id="fc_1"), output("c1"), call("c2", item_id="fc_2")]
    assert mend_gaps(history, []) == history


def test_reasoning_right_before_a_lost_entry_goes_with_the_id_of_the_call_it_led_to() -> None:
    """The lost entry may be what the reasoning led to; the API refuses reasoning without its following item."""
    # Lost between the reasoning and the call: [user, reasoning, <lost>, call c1, output c1, assistant].
    history = [user("go"), reasoning(), call("c1", item_id="fc_1"), output("c1"), assistant("done")]
    assert mend_gaps(history, [2]) == [user("go"), call("c1"), output("c1"), assistant("done")]


def test_answers_and_calls_after_a_gap_lose_their_ids_until_the_next_reasoning_or_input() -> None:
    """The API refuses an item that names its response without that response's reasoning, which may be what was
    lost (or what was dropped at the gap); without the `id` the item is plain history."""
    answer = {**assistant("answer"), "id": "msg_1"}
    assert mend_gaps([user("go"), reasoning(), answer], [2]) == [user("go"), assistant("answer")]
    assert mend_gaps([user("go"), answer], [1]) == [user("go"), assistant("answer")]
    across = [user("go"), reasoning(), call("c1", item_id="fc_1"), call("c2", item_id="fc_2"), output("c2")]
    assert mend_gaps(across, [3])[3] == call("c2")  # c1 reasoned c1, not c2: the gap may have been c2's reasoning
    later = [user("go"), answer, user("next"), reasoning("rs_2"), {**assistant("fine"), "id": "msg_2"}]
    assert mend_gaps(later, [1])[4]["id"] == "msg_2"  # a later response with its own reasoning keeps its ids


def test_reasoning_left_last_by_lost_entries_goes() -> None:
    history = [user("go"), reasoning("rs_1"), reasoning("rs_2")]
    assert mend_gaps(history, [3]) == [user("go")]


def test_a_call_whose_output_was_lost_is_answered_aborted_and_an_output_whose_call_was_lost_is_dropped() -> None:
    output_lost = mend_gaps([user("go"), call("c1"), assistant("done")], [2])
    assert ensure_call_output_pairs(output_lost) == [user("go"), call("c1"), output("c1", "aborted"),
                                                     assistant("done")]
    call_lost = mend_gaps([user("go"), output("c1"), assistant("done")], [1])
    assert ensure_call_output_pairs(call_lost) == [user("go"), assistant("done")]


_ids = st.sampled_from(["a", "b", "c", "d"])
_items: st.SearchStrategy[dict[str, Any]] = st.one_of(
    _ids.map(call),
    _ids.map(output),
    _ids.map(lambda cid: {"type": "custom_tool_call", "call_id": cid, "name": "t", "input": ""}),
    _ids.map(lambda cid: {"type": "custom_tool_call_output", "call_id": cid, "output": "x"}),
    st.just(user("u")),
    st.just(reasoning()),
)


@given(st.lists(_items, max_size=12))
def test_the_result_is_always_paired_with_each_call_answered_once_after_it(items: list[dict[str, Any]]) -> None:
    fixed = ensure_call_output_pairs(items)
    assert unpaired_call_ids(fixed) == set()
    calls_seen: dict[str, str] = {}
    answered: set[str] = set()
    for item in fixed:
        cid = call_id(item)
        assert cid is not None or not (is_tool_call(item) or is_tool_output(item))
        if is_tool_call(item):
            assert cid not in calls_seen
            calls_seen[str(cid)] = item["type"]
        elif is_tool_output(item):
            assert cid in calls_seen and cid not in answered
            assert item["type"] == {"function_call": "function_call_output"}.get(
                calls_seen[str(cid)], "custom_tool_call_output"
            )
            answered.add(str(cid))
    assert answered == set(calls_seen)


@given(st.lists(_items, max_size=12))
def test_pairing_is_idempotent(items: list[dict[str, Any]]) -> None:
    once = ensure_call_output_pairs(items)
    assert ensure_call_output_pairs(once) == once
