"""Wire views of stored threads and turns: every key present, ``null`` where there is no value.

Pure functions from store records (plus the session's live status) to generated protocol Structs, so every
method that returns a Thread or a Turn returns the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
    UserMessageThreadItem,
)
from protocol._generated.types import ThreadSettings as ThreadSettingsView  # not the stored ThreadSettings

from ..store.base import ItemRecord, ThreadRecord, TurnRecord
from . import git_info
from .meta import ThreadMeta, ThreadSettings, decode_meta

__all__ = [
    "ACTIVE",
    "IDLE",
    "NOT_LOADED",
    "SYSTEM_ERROR",
    "collaboration_mode",
    "decode_item",
    "encode_turn_data",
    "item_entry",
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


def decode_item(data: bytes) -> ThreadItem:
    return _item_decoder.decode(data)


def encode_turn_data(turn: Turn) -> bytes:
    """The stored form of a turn: the wire Turn without its items (items live in their own rows)."""
    return msgspec.json.encode(msgspec.structs.replace(turn, items=[], items_view="notLoaded"))


def thread_view(
    record: ThreadRecord,
    *,
    status: ThreadStatus,
    meta: ThreadMeta | None = None,
    turns: Sequence[Turn] = (),
    ephemeral: bool = False,
    store_path: Path | None = None,
) -> Thread:
    """The wire ``Thread``. ``path`` names where a persisted thread is kept — the store's file, then ``#`` and the
    thread id: one per thread, like Codex's rollout file, but not a file of its own to open, move or delete —
    so a client can tell a persisted thread from an ephemeral one (None)."""
    meta = meta or decode_meta(record.data)
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
        git_info=git_info.wire_view(record.git_info),
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
    turn = _turn_decoder.decode(record.data)
    if turn.status == "inProgress" and record.turn_id != live_turn_id:
        turn = msgspec.structs.replace(turn, status="interrupted")
    if view == "notLoaded" or items is None:
        return msgspec.structs.replace(turn, items=[], items_view="notLoaded")
    decoded = [decode_item(item.data) for item in items]
    if view == "summary":
        first = next((i for i in decoded if isinstance(i, UserMessageThreadItem)), None)
        answer = None if turn.status == "inProgress" else next(
            (i for i in reversed(decoded) if isinstance(i, AgentMessageThreadItem)
             and i.phase not in ("partial_answer", "commentary")), None)
        decoded = [i for i in (first, answer) if i is not None]
    return msgspec.structs.replace(turn, items=decoded, items_view=view)


def item_entry(record: ItemRecord) -> ThreadItemEntry:
    return ThreadItemEntry(
        turn_id=record.turn_id,
        item=decode_item(record.data),
        started_at_ms=record.started_at_ms,
        completed_at_ms=record.completed_at_ms,
    )


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
