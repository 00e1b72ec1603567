"""Threadline's persistence: threads, turns, items, model-visible history and compaction checkpoints.

The public surface is the ``ThreadStore`` Protocol (``base.py``), its records, ``WriteBatch`` (``batch.py``)
and the error tree (``errors.py``). ``SqliteStore`` is the embedded backend; another backend is a new module
implementing the same Protocol. Nothing here knows protocol types: payloads are the caller's JSON bytes.
"""

from __future__ import annotations

from .base import (
    CheckpointRecord,
    Direction,
    History,
    ItemRecord,
    Page,
    SortKey,
    ThreadQuery,
    ThreadRecord,
    ThreadStore,
    TurnRecord,
    check_thread_id,
)
from .batch import PutCheckpoint, WriteBatch
from .errors import InvalidCursor, InvalidThreadId, StoreError, ThreadNotFound, TurnNotFound
from .sqlite import SqliteStore

__all__ = [
    "CheckpointRecord",
    "Direction",
    "History",
    "InvalidCursor",
    "InvalidThreadId",
    "ItemRecord",
    "Page",
    "PutCheckpoint",
    "SortKey",
    "SqliteStore",
    "StoreError",
    "ThreadNotFound",
    "ThreadQuery",
    "ThreadRecord",
    "ThreadStore",
    "TurnNotFound",
    "TurnRecord",
    "WriteBatch",
    "check_thread_id",
]
