"""Applying a checkpoint to a running turn: history, store, notifications and counters, in one step.

Contract (`apply_checkpoint`): the replacement becomes the thread's whole model-visible history; the turn's
not-yet-written history entries are dropped (the replacement already holds what survives of them); one
`WriteBatch` carries the turn's step, the completed `contextCompaction` item and a `PutCheckpoint` whose
replacement is that history, so a restart resumes from the checkpoint or from before it, never from half of
it. Then, in Codex's order: `thread/tokenUsage/updated` with the recomputed estimate, the item's
`item/completed` (once it is written, as every item of a running turn, so a read never misses an announced
item), `thread/compaction/applied` with the figures, and a `warning` that summaries lose detail. An explicit
compaction first adds its own request's usage to the thread's total. The step runs shielded, so an interrupt
lands before it or after it. `compact_now` wraps an explicit (remote or local) compaction: item started →
replacement computed → applied, or on failure the item completes alone and the error propagates. Either way
there is exactly one `item/completed` per compaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import msgspec

from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.types import (
    CompactionMode,
    ContextCompactionThreadItem,
    ThreadCompactionAppliedNotification,
    WarningNotification,
)

from ..compaction import CheckpointStats, Item, apply_inline_checkpoint, strip_leading_compaction_items
from ..compaction.items import is_compaction
from ..ids import now_s, uuid7
from ..metrics import COMPACTION, COMPACTION_CHECKPOINT_APPLIED, METRICS
from ..store.batch import PutCheckpoint
from .compaction_context import Trigger, mode_of
from .compaction_paths import compute_replacement
from .services import TurnServices
from .turn import ActiveTurn
from .usage import account_usage, announce_usage, usage_after_compaction

__all__ = ["apply_checkpoint", "begin_item", "compact_now", "inline_replacement"]

_encoder = msgspec.json.Encoder()
# Sent after every checkpoint, as Codex sends its own: a summary loses detail, and each one compounds it.
COMPACTION_WARNING = ("Earlier context in this thread was replaced by a summary, and each compaction loses some "
                      "detail. For a long task, a new thread with a short brief keeps the model accurate.")


def inline_replacement(history_before_request: Sequence[Mapping[str, Any]], turn_start_index: int,
                       outputs: Sequence[Mapping[str, Any]]) -> list[Item]:
    """The history after a completed request that streamed a compaction item (pure).

    `apply_inline_checkpoint`, and for a turn that started from an empty history (`turn_start_index` 0:
    everything in it belongs to the turn) the items kept in front of the new compaction item lose any
    leading compaction item, so checkpoints never nest however often the turn compacts.
    """
    replacement = apply_inline_checkpoint(history_before_request, turn_start_index, outputs)
    if turn_start_index != 0:
        return replacement
    # The new checkpoint is the last compaction item; only what precedes it is stripped.
    at = max(index for index, item in enumerate(replacement) if is_compaction(item))
    return [*strip_leading_compaction_items(replacement[:at]), *replacement[at:]]


async def begin_item(turn: ActiveTurn) -> ContextCompactionThreadItem:
    item = ContextCompactionThreadItem(id=uuid7())
    await turn.item_started(item)
    return item


async def apply_checkpoint(turn: ActiveTurn, services: TurnServices, item: ContextCompactionThreadItem, *,
                           replacement: list[Item], mode: CompactionMode, trigger: Trigger) -> CheckpointStats:
    """Install `replacement` as the thread's history and announce it (see the module docstring)."""
    session = turn.session
    assert session.history is not None
    with anyio.CancelScope(shield=True):
        stats = CheckpointStats.compute(session.history, replacement)
        before = (list(session.history), list(turn.unsaved_history), session.meta)  # if the write fails
        session.history[:] = replacement
        turn.unsaved_history.clear()
        turn.compactions += 1
        window = services.model(session.meta.settings.model).effective_context_window
        usage = usage_after_compaction(session.meta.token_usage, stats.tokens_after, window)
        session.meta = msgspec.structs.replace(session.meta, last_response_tokens=0, token_usage=usage)
        note = turn.complete_item(item)  # written in the checkpoint's batch below, not in a write of its own
        checkpoint = PutCheckpoint(
            turn_id=turn.turn_id, item_id=item.id, mode=mode, trigger=trigger, tokens_before=stats.tokens_before,
            tokens_after=stats.tokens_after, items_replaced=stats.items_replaced, items_kept=stats.items_kept,
            created_at=now_s(), replacement=_encoder.encode(replacement))
        batch = turn.batch("inProgress", turn.turn_struct("inProgress")).put_checkpoint(checkpoint)
        try:
            await session.persist(batch)
        except Exception:
            # Rolled back: memory goes back to what the store holds, or later turns would build on a history
            # the store never saw (and a restart would show the model another one).
            session.history[:], turn.unsaved_history[:], session.meta = before
            turn.compactions -= 1
            await turn.announce(note)  # the item still completes, once (the ending writes it)
            raise
        turn.unsaved_items.clear()
        METRICS.add(COMPACTION, {"mode": mode, "trigger": trigger, "outcome": "applied"})
        METRICS.add(COMPACTION_CHECKPOINT_APPLIED, {"mode": mode, "trigger": trigger})
        await announce_usage(turn, usage)
        await turn.announce(note)
        await session.emit(N.THREAD_COMPACTION_APPLIED, ThreadCompactionAppliedNotification(
            thread_id=turn.thread_id, turn_id=turn.turn_id, item_id=item.id, mode=mode, trigger=trigger,
            tokens_before=stats.tokens_before, tokens_after=stats.tokens_after,
            items_replaced=stats.items_replaced, items_kept=stats.items_kept))
        await session.emit(N.WARNING, WarningNotification(thread_id=turn.thread_id, message=COMPACTION_WARNING))
    return stats


async def compact_now(turn: ActiveTurn, services: TurnServices, *, trigger: Trigger, manual: bool = False,
                      over_window: bool = False, model: str | None = None,
                      keep_turn_inputs: bool = False) -> CheckpointStats:
    """Compact the thread with an explicit request (remote or local) and apply the result.

    With `keep_turn_inputs` (the pre-turn check) only the history before the running turn is compacted and
    the turn's own inputs follow the result unchanged, so the message being answered stays last; otherwise
    (mid-turn, manual) the whole history is. Raises `TurnFailed` when it cannot be done.
    """
    session = turn.session
    assert session.history is not None
    turn.lane.release()  # a compaction is long upstream work, not start-up: it holds no place in the lane
    history = list(session.history)
    split = turn.turn_start_index if keep_turn_inputs and turn.turn_start_index > 0 else len(history)
    item = await begin_item(turn)
    try:
        produced = await compute_replacement(turn, services, history[:split], trigger=trigger, manual=manual,
                                             over_window=over_window, model=model)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await turn.item_completed(item)  # the one completion signal of a compaction that did not happen
        raise
    # The compaction request is paid for like any other: its usage joins the thread's total first.
    window = services.model(session.meta.settings.model).effective_context_window
    with anyio.CancelScope(shield=True):  # an interrupt lands before the compaction or after it, never inside
        await announce_usage(turn, account_usage(turn, produced.usage, window))
    replacement = [*produced.items, *history[split:]]
    stats = await apply_checkpoint(turn, services, item, replacement=replacement, mode=mode_of(produced.path),
                                   trigger=trigger)
    turn.turn_start_index = len(produced.items) if split < len(history) else 0
    return stats
