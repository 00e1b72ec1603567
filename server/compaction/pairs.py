"""The Responses API's pairing invariants for tool calls, restored after history is cut or interrupted.

Contract: the API rejects an input where a tool output has no earlier call with the same `call_id`, where a
call has no output, and (for reasoning models) where a call keeps the item `id` of a response whose
reasoning item is no longer in front of it. `ensure_call_output_pairs` fixes the first two;
`detach_unreasoned_calls` the third. `mend_gaps` prepares a history that lost entries (stored rows that could not
be read) for them. All return new lists and never mutate their input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from server.compaction.items import CALL_OUTPUT_TYPES, Item, call_id, is_tool_call, is_tool_output

__all__ = [
    "ABORTED_OUTPUT",
    "aborted_outputs",
    "detach_unreasoned_calls",
    "ensure_call_output_pairs",
    "mend_gaps",
    "unpaired_call_ids",
]

# What a call whose output never arrived (interrupted turn, cut history) is answered with.
ABORTED_OUTPUT = "aborted"


def _synthetic_output(call: Mapping[str, Any]) -> Item:
    return {"type": CALL_OUTPUT_TYPES[call["type"]], "call_id": call_id(call), "output": ABORTED_OUTPUT}


def ensure_call_output_pairs(items: Sequence[Mapping[str, Any]]) -> list[Item]:
    """`items` with every tool output answering an earlier call and every call answered exactly once.

    - An output whose call is missing, comes later, or was already answered is dropped.
    - A call with no output gets a synthetic `"aborted"` output, placed after the run of consecutive calls
      it belongs to, so calls issued together in one response stay adjacent to each other.
    - A call without a `call_id` cannot be answered and is dropped.
    """
    answered: set[str] = set()
    seen_calls: dict[str, str] = {}  # call_id -> expected output type
    kept: list[Item] = []
    for item in items:
        if is_tool_call(item):
            cid = call_id(item)
            if cid is None or cid in seen_calls:
                continue
            seen_calls[cid] = CALL_OUTPUT_TYPES[item["type"]]
            kept.append(dict(item))
        elif is_tool_output(item):
            cid = call_id(item)
            if cid is None or cid in answered or seen_calls.get(cid) != item.get("type"):
                continue
            answered.add(cid)
            kept.append(dict(item))
        else:
            kept.append(dict(item))

    result: list[Item] = []
    pending: list[Item] = []  # synthetic outputs waiting for the end of the current run of calls
    for item in kept:
        if not is_tool_call(item) and pending:
            result.extend(pending)
            pending = []
        result.append(item)
        if is_tool_call(item) and call_id(item) not in answered:
            pending.append(_synthetic_output(item))
    result.extend(pending)
    return result


def aborted_outputs(items: Sequence[Mapping[str, Any]]) -> list[Item]:
    """An `"aborted"` output for every call in `items` that nothing after it answers, in call order: appended
    to `items`, they pair every call while keeping what was already there (and stored) untouched."""
    unpaired = unpaired_call_ids(items)
    return [_synthetic_output(item) for item in items if is_tool_call(item) and call_id(item) in unpaired]


def unpaired_call_ids(items: Iterable[Mapping[str, Any]]) -> set[str]:
    """The call ids of calls in `items` that no output in `items` answers (after them)."""
    calls: set[str] = set()
    answered: set[str] = set()
    for item in items:
        cid = call_id(item)
        if cid is None:
            continue
        if is_tool_call(item):
            calls.add(cid)
        elif is_tool_output(item) and cid in calls:
            answered.add(cid)
    return calls - answered


def detach_unreasoned_calls(items: Sequence[Mapping[str, Any]]) -> list[Item]:
    """`items` with the item `id` removed from every tool call not preceded by its response's reasoning.

    A call counts as reasoned when the item right before it is a reasoning item or another reasoned call
    (calls of one response follow its reasoning in a run). Only the `id` goes: the API pairs outputs by
    `call_id`, and a call without an `id` is not tied to a reasoning item it would require.
    """
    result: list[Item] = []
    reasoned = False
    for item in items:
        copy = dict(item)
        if is_tool_call(item):
            if not reasoned:
                copy.pop("id", None)
        else:
            reasoned = item.get("type") == "reasoning"
        result.append(copy)
    return result


def mend_gaps(items: Sequence[Mapping[str, Any]], gaps: Iterable[int]) -> list[Item]:
    """`items`, a history that lost entries at `gaps` (each the index in `items` a lost entry would have had),
    made safe to send once `ensure_call_output_pairs` has run over it.

    The entry lost could have been anything, so whatever may have depended on it goes:
    - reasoning right before a gap: the item it led to may be the one lost, and the API refuses reasoning
      without the item that follows it (reasoning is the model's own notes; the answer or call stays);
    - the `id` of every answer or call after a gap, up to the next reasoning item or input message: its
      response's reasoning may be the entry lost (or the one just dropped), and the API refuses an item that
      names its response ("Item 'msg_…' … was provided without its required 'reasoning' item"); without the
      `id` it is plain history, and calls still pair with their outputs by `call_id`;
    - likewise the `id` of any call not preceded by its response's reasoning (`detach_unreasoned_calls`).
    A call whose output was lost is answered "aborted", and an output whose call was lost is dropped, by
    `ensure_call_output_pairs`, which the caller runs over the result as over any history.
    """
    at = set(gaps)
    if not at:
        return [dict(item) for item in items]
    kept: list[Item] = []
    detached = False  # after a gap, until the next reasoning item or input message

    def close_gap() -> None:
        while kept and kept[-1].get("type") == "reasoning":
            kept.pop()

    for index, item in enumerate(items):
        if index in at:
            close_gap()
            detached = True
        copy = dict(item)
        if copy.get("type") == "reasoning" or copy.get("role") in _INPUT_ROLES:
            detached = False
        elif detached and (is_tool_call(copy) or copy.get("type") == "message"):
            copy.pop("id", None)
        kept.append(copy)
    if len(items) in at:  # the last entries were lost
        close_gap()
    return detach_unreasoned_calls(kept)


_INPUT_ROLES = frozenset({"user", "developer", "system"})
