"""Wire views of stored threads and turns: every key present, ``null`` where there is no value.

Pure functions from store records (plus the session's live status) to generated protocol Structs, so every
method that returns a Thread or a Turn returns the same shape.

A stored blob that does not decode (``server.sessions.damage``) never fails a read: an item is left out, a turn is
shown from its columns (id and status; the blob held only its timestamps and error), with its items. Pages keep
their cursors, which the store issues from seqs, never from decoded data: a page may hold fewer entries than its
limit, and its ``nextCursor`` still goes on past the record left out. A thread's metadata is the caller's to
decode (``Sessions.meta_of``), since what replaces it comes from the daemon's config.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import get_args

import msgspec

from protocol._generated.types import (
    ActiveThreadStatus,
    AgentMessageThreadItem,
    CollaborationMode,
    CollaborationModeSettings,
    IdleThreadStatus,
    NotLoadedThreadStatus,
    SystemErrorThreadStatus,
    Thread,
    ThreadItem,
    ThreadItemEntry,
    ThreadStatus,
    Turn,
    TurnItemsView,
    TurnStatus,
    UserMessageThreadItem,
)
from protocol._generated.types import ThreadSettings as ThreadSettingsView  # not the stored ThreadSettings

from ..store.base import ItemRecord, ThreadRecord, TurnRecord
from . import git_info
from .damage import DAMAGE, decoded
from .meta import ThreadMeta, ThreadSettings

__all__ = [
    "ACTIVE",
    "IDLE",
    "NOT_LOADED",
    "SYSTEM_ERROR",
    "collaboration_mode",
    "encode_turn_data",
    "item_entries",
    "settings_view",
    "thread_view",
    "turn_view",
]

IDLE: ThreadStatus = IdleThreadStatus()
NOT_LOADED: ThreadStatus = NotLoadedThreadStatus()
SYSTEM_ERROR: ThreadStatus = SystemErrorThreadStatus()
ACTIVE: ThreadStatus = ActiveThreadStatus(active_flags=[])

_item_decoder: msgspec.json.Decoder[ThreadItem] = msgspec.json.Decoder(ThreadItem)
_turn_decoder = msgspec.json.Decoder(Turn)
_TURN_STATUSES = frozenset(get_args(TurnStatus))


def _item_or_none(record: ItemRecord) -> ThreadItem | None:
    return decoded(_item_decoder, record.data, record.thread_id, f"item {record.item_id} (items seq {record.seq})",
                   "it is left out")


def _decode_items(records: Sequence[ItemRecord]) -> list[ThreadItem]:
    """Every item that decodes, in order. All at once first: the loop that can skip runs only after a failure."""
    try:
        return [_item_decoder.decode(record.data) for record in records]
    except DAMAGE:
        return [item for record in records if (item := _item_or_none(record)) is not None]


def _turn_of(record: TurnRecord) -> Turn:
    """The stored turn; when its blob cannot be read, the turn its columns describe (the blob held only timestamps
    and an error): shown rather than left out, since its items are rows of their own and may all be intact."""
    turn = decoded(_turn_decoder, record.data, record.thread_id, f"turn {record.turn_id} (turns seq {record.seq})",
                   "it is shown with its id and status only")
    if turn is not None:
        return turn
    status: TurnStatus = record.status if record.status in _TURN_STATUSES else "failed"  # type: ignore[assignment]
    return Turn(id=record.turn_id, items=[], items_view="notLoaded", status=status, error=None, started_at=None,
                completed_at=None, duration_ms=None, root_turn_id=record.turn_id)


def encode_turn_data(turn: Turn) -> bytes:
    """The stored form of a turn: the wire Turn without its items (items live in their own rows)."""
    return msgspec.json.encode(msgspec.structs.replace(turn, items=[], items_view="notLoaded"))


def thread_view(
    record: ThreadRecord,
    *,
    status: ThreadStatus,
    meta: ThreadMeta,
    turns: Sequence[Turn] = (),
    ephemeral: bool = False,
    store_path: Path | None = None,
) -> Thread:
    """The wire ``Thread``. ``path`` names where a persisted thread is kept — the store's file, then ``#`` and the
    thread id: one per thread, like Codex's rollout file, but not a file of its own to open, move or delete —
    so a client can tell a persisted thread from an ephemeral one (None). ``meta`` is the session's, or
    ``Sessions.meta_of`` the record's."""
    settings = meta.settings
    return Thread(
        id=record.id,
        session_id=meta.session_id,
        forked_from_id=record.forked_from_id,
        parent_thread_id=None,
        preview=record.preview,
        ephemeral=ephemeral,
        section=None,
        section_entered_at=None,
        project_id=None,
        history_mode=meta.history_mode,  # type: ignore[arg-type]
        model_provider=record.model_provider,
        model=settings.model,
        reasoning_effort=settings.reasoning_effort,
        created_at=record.created_at,
        updated_at=record.updated_at,
        recency_at=record.updated_at,
        status=status,
        path=None if ephemeral or store_path is None else f"{store_path}#{record.id}",
        cwd=record.cwd,
        cli_version=meta.cli_version,
        originator=meta.originator,
        source=meta.source,
        thread_source=meta.thread_source,
        agent_nickname=None,
        agent_role=None,
        git_info=git_info.wire_view(record.id, record.git_info),
        name=record.name,
        turns=list(turns),
    )


def turn_view(record: TurnRecord, items: Sequence[ItemRecord] | None, view: TurnItemsView,
              live_turn_id: str | None = None) -> Turn:
    """A stored turn with ``items`` per ``view``: ``full`` all, ``summary`` its first user message and its last
    answer (as Codex's summary view; a running turn has no answer yet, whatever it has said so far), else none.

    A turn stored ``inProgress`` that is not the thread's running turn (``live_turn_id``) was cut off by a
    crash; it reads as ``interrupted``, which is what it became.
    """
    turn = _turn_of(record)
    if turn.status == "inProgress" and record.turn_id != live_turn_id:
        turn = msgspec.structs.replace(turn, status="interrupted")
    if view == "notLoaded" or items is None:
        return msgspec.structs.replace(turn, items=[], items_view="notLoaded")
    shown = _decode_items(items)
    if view == "summary":
        first = next((i for i in shown if isinstance(i, UserMessageThreadItem)), None)
        answer = None if turn.status == "inProgress" else next(
            (i for i in reversed(shown) if isinstance(i, AgentMessageThreadItem)
             and i.phase not in ("partial_answer", "commentary")), None)
        shown = [i for i in (first, answer) if i is not None]
    return msgspec.structs.replace(turn, items=shown, items_view=view)


def item_entries(records: Sequence[ItemRecord]) -> list[ThreadItemEntry]:
    """``thread/items/list`` entries: every item that decodes, in order."""
    try:
        items: Sequence[ThreadItem | None] = [_item_decoder.decode(record.data) for record in records]
    except DAMAGE:
        items = [_item_or_none(record) for record in records]
    return [ThreadItemEntry(turn_id=record.turn_id, item=item, started_at_ms=record.started_at_ms,
                            completed_at_ms=record.completed_at_ms)
            for record, item in zip(records, items, strict=True) if item is not None]


def collaboration_mode(settings: ThreadSettings) -> CollaborationMode:
    """The thread's working mode with the settings it runs on, as Codex reports it."""
    return CollaborationMode(mode=settings.collaboration_mode, settings=CollaborationModeSettings(
        model=settings.model, reasoning_effort=settings.reasoning_effort,
        developer_instructions=settings.developer_instructions))


def settings_view(settings: ThreadSettings) -> ThreadSettingsView:
    """What ``thread/settings/updated`` says the thread's next turn runs with."""
    return ThreadSettingsView(
        cwd=settings.cwd, approval_policy=settings.approval_policy, approvals_reviewer=settings.approvals_reviewer,
        sandbox_policy=settings.sandbox, model=settings.model, model_provider=settings.model_provider,
        service_tier=settings.service_tier, effort=settings.reasoning_effort, summary=settings.reasoning_summary,
        collaboration_mode=collaboration_mode(settings), personality=settings.personality, disabled_plugin_ids=[])
