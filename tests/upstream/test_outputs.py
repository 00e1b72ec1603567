"""Reconciling a response's output items with the list `response.completed` ends with: nothing lost, nothing
twice, intact copies preferred, the response's order kept. Pure functions over item lists."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from server.upstream.outputs import in_output_order, reconcile, same_item

MESSAGE = {"type": "message", "id": "msg_1", "status": "completed", "content": [{"type": "output_text", "text": "a"}]}
CALL = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup", "arguments": "{}"}
REASONING = {"type": "reasoning", "id": "rs_1", "summary": []}


def test_nothing_is_added_when_every_listed_item_was_taken() -> None:
    assert reconcile([(0, REASONING), (1, MESSAGE), (2, CALL)], [], [REASONING, MESSAGE, CALL], listed_intact=True) == []


def test_a_lost_item_is_added_from_the_list_with_its_output_index() -> None:
    assert reconcile([(0, REASONING), (2, CALL)], [], [REASONING, MESSAGE, CALL], listed_intact=True) == [(1, MESSAGE)]


def test_a_repaired_item_is_replaced_by_its_intact_copy_and_not_added_twice() -> None:
    damaged = {**CALL, "status": "completed\ufffd"}
    assert reconcile([(0, MESSAGE)], [(1, damaged)], [MESSAGE, {**CALL, "status": "completed"}],
                     listed_intact=True) == [(1, {**CALL, "status": "completed"})]


def test_a_repaired_item_stays_as_repaired_when_the_list_was_repaired_too() -> None:
    damaged = {**MESSAGE, "status": "completed\ufffd"}
    assert reconcile([], [(0, damaged)], [damaged], listed_intact=False) == [(0, damaged)]


def test_an_absent_or_empty_list_adds_only_the_repaired_items() -> None:
    assert reconcile([(0, MESSAGE)], [], None, listed_intact=True) == []
    assert reconcile([(0, MESSAGE)], [(1, CALL)], [], listed_intact=True) == [(1, CALL)]


def test_copies_are_one_item_at_one_place_in_the_response_or_under_one_id() -> None:
    bare = {"type": "message", "content": []}
    assert same_item((0, bare), (0, {**bare, "status": "completed"}))
    assert not same_item((0, bare), (1, bare))
    assert not same_item((0, bare), (0, {"type": "function_call"}))
    assert same_item((0, MESSAGE), (3, {**MESSAGE}))  # an id follows the item wherever a server puts it
    assert same_item((0, MESSAGE), (0, {**MESSAGE, "id": "msg_fresh"}))  # a fresh or damaged id at its place
    assert same_item((0, CALL), (2, {**CALL, "id": "fc_fresh"}))  # a call keeps its call_id
    assert not same_item((0, MESSAGE), (1, {**MESSAGE, "id": "msg_2"}))


def test_a_repaired_item_whose_id_was_damaged_is_replaced_once_by_its_intact_copy() -> None:
    damaged = {**CALL, "id": "fc_\ufffd"}
    assert reconcile([], [(0, damaged)], [CALL], listed_intact=True) == [(0, CALL)]


def test_a_list_that_names_every_item_afresh_adds_nothing_already_taken() -> None:
    taken = [(0, MESSAGE), (1, CALL)]
    renamed = [{**MESSAGE, "id": "msg_fresh"}, {**CALL, "id": "fc_fresh"}]
    assert reconcile(taken, [], renamed, listed_intact=True) == []


def test_output_order_follows_output_indexes_and_keeps_ties_as_they_came() -> None:
    first, second = {"type": "message", "id": "a"}, {"type": "message", "id": "b"}
    assert in_output_order([(2, CALL), (0, first), (1, MESSAGE), (0, second)]) == [first, second, MESSAGE, CALL]


def _listing(count: int) -> list[dict[str, Any]]:
    kinds = ["reasoning", "message", "function_call"]
    return [{"type": kinds[i % 3], "id": f"item_{i}"} for i in range(count)]


@given(data=st.data(), count=st.integers(min_value=0, max_value=8))
def test_whatever_was_lost_or_repaired_the_outputs_are_the_listed_items_once_each_in_order(
    data: st.DataObject, count: int
) -> None:
    listed = _listing(count)
    fates = data.draw(st.lists(st.sampled_from(["taken", "lost", "repaired"]), min_size=count, max_size=count))
    taken = [(i, item) for i, (item, fate) in enumerate(zip(listed, fates, strict=True)) if fate == "taken"]
    repaired = [(i, {**item, "damaged": True}) for i, (item, fate) in enumerate(zip(listed, fates, strict=True))
                if fate == "repaired"]
    added = reconcile(taken, repaired, listed, listed_intact=True)
    assert in_output_order([*taken, *added]) == listed
