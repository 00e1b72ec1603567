"""``WriteBatch``: the unit of writing, a list of operations on one thread committed all-or-nothing.

A session (the only writer of its thread) builds one batch per consistent step — e.g. "turn completed": the
turn's final state, its completed items, the model-visible history it appended and the thread's new
``updated_at`` — and awaits ``store.write(batch)``. Operations apply in the order they were added, so a
checkpoint followed by history entries puts those entries after the checkpoint.

Semantics every backend implements:

- ``create_thread`` must come first in a batch that creates its thread; creating an existing thread fails.
- ``put_turn`` inserts a turn (next seq, ``turn_count`` + 1) or updates status/data of the same ``turn_id``.
- ``put_item`` inserts an item (next seq) or replaces data and timestamps of the same ``item_id``: writing the
  same completed item twice is harmless. An item never moves to another turn.
- ``append_history`` / ``put_checkpoint`` only append; nothing model-visible is rewritten in place.
- Items, history and checkpoints name a turn of the thread that exists (``TurnNotFound`` otherwise), possibly
  one put earlier in the same batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

import msgspec
from msgspec import UNSET, UnsetType

from .base import ThreadRecord, check_thread_id
from .errors import StoreError

__all__ = [
    "AppendHistory",
    "CreateThread",
    "Op",
    "PutCheckpoint",
    "PutItem",
    "PutTurn",
    "UpdateThread",
    "WriteBatch",
]


class CreateThread(msgspec.Struct, frozen=True):
    record: ThreadRecord


class UpdateThread(msgspec.Struct, frozen=True, kw_only=True):
    """Set only the given fields; ``UNSET`` leaves a column alone (``name=None`` clears the name)."""

    updated_at: int | UnsetType = UNSET
    name: str | None | UnsetType = UNSET
    preview: str | UnsetType = UNSET
    cwd: str | UnsetType = UNSET
    model_provider: str | UnsetType = UNSET
    archived: bool | UnsetType = UNSET
    data: bytes | UnsetType = UNSET
    git_info: bytes | None | UnsetType = UNSET


class PutTurn(msgspec.Struct, frozen=True):
    turn_id: str
    status: str
    data: bytes


class PutItem(msgspec.Struct, frozen=True):
    turn_id: str
    item_id: str
    data: bytes
    started_at_ms: int | None = None
    completed_at_ms: int | None = None


class AppendHistory(msgspec.Struct, frozen=True):
    turn_id: str
    entries: tuple[bytes, ...]


class PutCheckpoint(msgspec.Struct, frozen=True, kw_only=True):
    turn_id: str
    item_id: str
    mode: str
    trigger: str
    tokens_before: int
    tokens_after: int
    items_replaced: int
    items_kept: int
    created_at: int
    replacement: bytes  # a JSON array of model-visible entries


Op = CreateThread | UpdateThread | PutTurn | PutItem | AppendHistory | PutCheckpoint


class WriteBatch:
    """Builder of one thread's batch; every method returns the batch so calls chain."""

    __slots__ = ("ops", "thread_id")

    def __init__(self, thread_id: str) -> None:
        self.thread_id = check_thread_id(thread_id)
        self.ops: list[Op] = []

    def __len__(self) -> int:
        return len(self.ops)

    def create_thread(self, record: ThreadRecord) -> Self:
        if check_thread_id(record.id) != self.thread_id:
            raise StoreError(f"batch for thread {self.thread_id} cannot create thread {record.id}")
        if self.ops:
            raise StoreError("create_thread must be the first operation of its batch")
        self.ops.append(CreateThread(msgspec.structs.replace(record, id=self.thread_id, turn_count=0)))
        return self

    def update_thread(
        self,
        *,
        updated_at: int | UnsetType = UNSET,
        name: str | None | UnsetType = UNSET,
        preview: str | UnsetType = UNSET,
        cwd: str | UnsetType = UNSET,
        model_provider: str | UnsetType = UNSET,
        archived: bool | UnsetType = UNSET,
        data: bytes | UnsetType = UNSET,
        git_info: bytes | None | UnsetType = UNSET,
    ) -> Self:
        op = UpdateThread(
            updated_at=updated_at,
            name=name,
            preview=preview,
            cwd=cwd,
            model_provider=model_provider,
            archived=archived,
            data=data,
            git_info=git_info,
        )
        self.ops.append(op)
        return self

    def touch(self, updated_at: int, *, preview: str | UnsetType = UNSET) -> Self:
        """The usual end-of-step thread update: activity time, and the preview once the first message exists."""
        return self.update_thread(updated_at=updated_at, preview=preview)

    def put_turn(self, turn_id: str, status: str, data: bytes) -> Self:
        self.ops.append(PutTurn(turn_id, status, bytes(data)))
        return self

    def put_item(
        self,
        turn_id: str,
        item_id: str,
        data: bytes,
        *,
        started_at_ms: int | None = None,
        completed_at_ms: int | None = None,
    ) -> Self:
        self.ops.append(PutItem(turn_id, item_id, bytes(data), started_at_ms, completed_at_ms))
        return self

    def append_history(self, turn_id: str, entries: Iterable[bytes]) -> Self:
        entries = tuple(bytes(entry) for entry in entries)
        if entries:
            self.ops.append(AppendHistory(turn_id, entries))
        return self

    def put_checkpoint(self, checkpoint: PutCheckpoint) -> Self:
        # Checked here, in the caller's task, so a bad blob fails its writer instead of every later history load.
        try:
            msgspec.json.decode(checkpoint.replacement, type=list[msgspec.Raw])
        except msgspec.DecodeError as exc:
            raise StoreError(f"checkpoint replacement is not a JSON array: {exc}") from exc
        self.ops.append(checkpoint)
        return self
