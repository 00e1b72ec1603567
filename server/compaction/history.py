"""History rewriting for compaction: one import point for every pure item-list transformation.

Contract: every function here takes item lists and returns new ones; none mutates its input or does I/O.
The rules live in focused modules and are re-exported here: item vocabulary (`items`), tool-call pairing
(`pairs`), inline checkpoints (`inline`), remote output (`remote`) and local summaries (`local`).
`insert_initial_context` re-seeds a rewritten history with the session's context messages, and
`CheckpointStats` measures what a rewrite did, for the checkpoint notification and the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from server.compaction.estimate import estimate_history
from server.compaction.inline import (
    InlineCheckpointBuffer,
    apply_inline_checkpoint,
    current_turn_inputs,
    strip_leading_compaction_items,
)
from server.compaction.items import Item, is_compaction, is_real_user_message, is_summary_message
from server.compaction.local import (
    DEFAULT_USER_BUDGET_TOKENS,
    build_local_replacement,
    recent_user_messages,
    trim_for_summary_request,
)
from server.compaction.pairs import ensure_call_output_pairs
from server.compaction.remote import InvalidCompactionOutput, process_remote_output

__all__ = [
    "DEFAULT_USER_BUDGET_TOKENS",
    "CheckpointStats",
    "InlineCheckpointBuffer",
    "InvalidCompactionOutput",
    "Item",
    "apply_inline_checkpoint",
    "build_local_replacement",
    "current_turn_inputs",
    "ensure_call_output_pairs",
    "insert_initial_context",
    "is_real_user_message",
    "process_remote_output",
    "recent_user_messages",
    "strip_leading_compaction_items",
    "trim_for_summary_request",
]

_encoder = msgspec.json.Encoder(order="sorted")


def _fingerprints(items: Sequence[Mapping[str, Any]]) -> Counter[bytes]:
    # Items are dicts (unhashable); their canonical JSON identifies them, key order aside.
    return Counter(_encoder.encode(item) for item in items)


@dataclass(frozen=True, kw_only=True)
class CheckpointStats:
    """What one checkpoint did to the history.

    `items_kept` counts items of `after` that appear unchanged in `before` (counted as a multiset, so a
    repeated item is matched at most as often as it occurred); `items_replaced` is the rest of `before`,
    the items the checkpoint summarised away or rewrote. Tokens are estimates (`estimate_history`).
    """

    tokens_before: int
    tokens_after: int
    items_before: int
    items_after: int
    items_kept: int
    items_replaced: int

    @classmethod
    def compute(cls, before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> CheckpointStats:
        """The figures for replacing `before` with `after`."""
        kept = sum((_fingerprints(before) & _fingerprints(after)).values())
        return cls(
            tokens_before=estimate_history(before),
            tokens_after=estimate_history(after),
            items_before=len(before),
            items_after=len(after),
            items_kept=kept,
            items_replaced=len(before) - kept,
        )

    @property
    def tokens_saved(self) -> int:
        """How many estimated tokens the checkpoint freed (negative if the history grew)."""
        return self.tokens_before - self.tokens_after


def insert_initial_context(history: Sequence[Mapping[str, Any]], context: Sequence[Mapping[str, Any]]) -> list[Item]:
    """`history` with the `context` items (instructions, environment) inserted for a turn that goes on.

    A checkpoint in the middle of a turn removes the context injected when the thread began, and the turn's
    next request still needs it. It goes just before the last real user message, so the message the model
    answers stays last among the inputs; failing that, before the last summary message, then before the last
    compaction item (the summary or checkpoint keeps its place at the end, the shape the model was trained
    on); with none of those, at the end. Between turns this is unnecessary: the next turn injects afresh.
    """
    items = [dict(item) for item in history]
    for matches in (is_real_user_message, is_summary_message, is_compaction):
        index = next((i for i in range(len(items) - 1, -1, -1) if matches(items[i])), None)
        if index is not None:
            return [*items[:index], *(dict(item) for item in context), *items[index:]]
    return [*items, *(dict(item) for item in context)]
