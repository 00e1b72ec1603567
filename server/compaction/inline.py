"""Inline (server-side) checkpoints: buffering a streamed `compaction` item and applying it on completion.

Contract: during one sampling request the turn loop feeds every `response.output_item.done` item to an
`InlineCheckpointBuffer`. Items before the first `compaction` item may be recorded into history as usual;
the compaction item and everything after it are held. Only on `response.completed` does the caller pass
the buffered outputs to `apply_inline_checkpoint`; a failed or retried stream discards the buffer, so a
partial checkpoint is never committed. The replacement has exactly one compaction item, whatever the
history held before, so a second checkpoint in one turn replaces the first instead of stacking on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from server.compaction.items import (
    Item,
    call_id,
    canonical_item,
    is_compaction,
    is_message,
    is_summary_message,
    is_tool_call,
    is_tool_output,
    role,
)
from server.compaction.pairs import detach_unreasoned_calls

__all__ = ["InlineCheckpointBuffer", "apply_inline_checkpoint", "current_turn_inputs", "strip_leading_compaction_items"]


class InlineCheckpointBuffer:
    """The output items of one sampling request, in stream order. No I/O; one buffer per request attempt."""

    def __init__(self) -> None:
        self._outputs: list[Item] = []
        self._checkpoint_seen = False

    def record(self, item: Mapping[str, Any]) -> bool:
        """Add one streamed output item. Returns True when it may be recorded into history right away.

        False means a checkpoint is pending: the item is held until `response.completed`. Released items stay
        in `outputs` too, so on completion pass the history as it was *before* the request (without them) to
        `apply_inline_checkpoint`.
        """
        self._outputs.append(dict(item))
        if is_compaction(item):
            self._checkpoint_seen = True
        return not self._checkpoint_seen

    @property
    def has_checkpoint(self) -> bool:
        """Whether a compaction item arrived, so completion must go through `apply_inline_checkpoint`."""
        return self._checkpoint_seen

    @property
    def outputs(self) -> list[Item]:
        """Every recorded item, in order (a copy)."""
        return list(self._outputs)

    @property
    def held(self) -> list[Item]:
        """The items not yet recorded into history: the first compaction item and everything after it."""
        for index, item in enumerate(self._outputs):
            if is_compaction(item):
                return self._outputs[index:]
        return []

    def discard(self) -> None:
        """Forget everything: the stream failed or is being retried, so nothing from it is committed."""
        self._outputs.clear()
        self._checkpoint_seen = False


def current_turn_inputs(history: Sequence[Mapping[str, Any]], turn_start_index: int) -> list[Item]:
    """The items of the running turn that survive a checkpoint, in order.

    These are, from `history[turn_start_index:]`:
    - every non-assistant message: what the user typed to start the turn, input steered into it, and
      context or developer messages injected for it;
    - every tool output, together with the tool call it answers (the API rejects an output whose call is
      missing; the call loses its item `id` when its reasoning is dropped, see `detach_unreasoned_calls`).
    Dropped, because the checkpoint summarises them: assistant messages, reasoning, calls whose output is not
    kept, earlier compaction items, the bridge message of a local compaction earlier in the turn (a summary
    the model wrote, in the user's role) and any other model-generated item. Items before the turn are all dropped.
    """
    turn = history[turn_start_index:]
    answered: set[str] = set()  # calls of this turn answered by a later output of this turn
    calls: set[str] = set()
    for item in turn:
        cid = call_id(item)
        if cid is not None and is_tool_call(item):
            calls.add(cid)
        elif cid is not None and is_tool_output(item) and cid in calls:
            answered.add(cid)
    kept: list[Item] = []
    emitted_calls: set[str] = set()
    emitted_outputs: set[str] = set()
    for item in turn:
        cid = call_id(item)
        if is_message(item) and role(item) != "assistant" and not is_summary_message(item):
            kept.append(dict(item))
        elif is_tool_call(item) and cid in answered and cid not in emitted_calls:
            emitted_calls.add(cid)
            kept.append(dict(item))
        # An output is kept once, after its call; one whose call lies before the turn (or nowhere) is
        # dropped, because the API rejects an output without its call.
        elif is_tool_output(item) and cid in emitted_calls and cid not in emitted_outputs:
            emitted_outputs.add(cid)
            kept.append(dict(item))
    return kept


def apply_inline_checkpoint(
    history_before_request: Sequence[Mapping[str, Any]],
    turn_start_index: int,
    outputs: Sequence[Mapping[str, Any]],
) -> list[Item]:
    """The model-visible history after a request that streamed a compaction item completed.

    `history_before_request` is the history sent as the request's input (without any of its outputs);
    `turn_start_index` is where the running turn begins in it; `outputs` are all the request's output items
    in stream order (`InlineCheckpointBuffer.outputs`). The result is `current_turn_inputs(...)`, then any
    tool call streamed before the compaction item (its output is still to come), then the last compaction
    item of the stream, then the items streamed after it, unchanged and in order — the shape
    `/responses/compact` itself returns. Afterwards the whole result belongs to the running turn: the caller
    sets the turn's start index to 0, so a later checkpoint in the same turn keeps the same inputs.

    Raises:
        ValueError: `outputs` holds no compaction item (nothing to apply; record the outputs normally), or
            `turn_start_index` is negative.
    """
    if turn_start_index < 0:
        raise ValueError(f"turn_start_index must be >= 0, got {turn_start_index}")
    stream = [clean for item in outputs if (clean := canonical_item(item)) is not None]
    last = max((index for index, item in enumerate(stream) if is_compaction(item)), default=None)
    if last is None:
        raise ValueError("apply_inline_checkpoint needs an output stream that holds a compaction item")
    pending_calls = [item for item in stream[:last] if is_tool_call(item)]
    prefix = detach_unreasoned_calls(current_turn_inputs(history_before_request, turn_start_index) + pending_calls)
    return [*prefix, stream[last], *stream[last + 1 :]]


def strip_leading_compaction_items(items: Sequence[Mapping[str, Any]]) -> list[Item]:
    """`items` without the compaction items that open it.

    A turn that started from an empty history has nothing for a compaction item in front of its own inputs
    to summarise except an earlier checkpoint of the same thread; dropping such leading items keeps repeated
    inline compactions from nesting one checkpoint inside the next.
    """
    start = 0
    while start < len(items) and is_compaction(items[start]):
        start += 1
    return [dict(item) for item in items[start:]]
