"""Write operations of the SQLite store, run on the writer thread inside the transaction it opened.

Nothing here commits: ``writer.Writer`` wraps each call in a SAVEPOINT of a group transaction, so any
exception raised here rolls back exactly that call's changes. Sequences are assigned here (see ``base.py``):
turn seqs continue from the thread's highest turn (contiguous, also after a revert), item seqs from the highest
item, history and checkpoint seqs from the highest of either table.

``revert`` and ``fork`` are whole-thread operations: a revert is one ``DELETE`` on turns whose
``ON DELETE CASCADE`` takes items, history and checkpoints with them; a fork copies rows with
``INSERT ... SELECT`` so no row travels through Python.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import msgspec
from msgspec import UNSET

from . import reads
from .base import ThreadRecord
from .batch import AppendHistory, CreateThread, Op, PutCheckpoint, PutItem, PutTurn, UpdateThread
from .errors import StoreError, ThreadNotFound, TurnNotFound

__all__ = ["apply_batch", "fork", "revert"]


def _insert_thread(conn: sqlite3.Connection, record: ThreadRecord) -> int:
    if conn.execute("SELECT 1 FROM threads WHERE id = ?", (record.id,)).fetchone() is not None:
        raise StoreError(f"thread already exists: {record.id}")
    cursor = conn.execute(
        f"INSERT INTO threads ({reads.THREAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.id,
            record.created_at,
            record.updated_at,
            record.cwd,
            record.model_provider,
            record.source_kind,
            record.preview,
            record.name,
            int(record.archived),
            record.forked_from_id,
            record.turn_count,
            record.data,
            record.git_info,
        ),
    )
    return int(cursor.lastrowid or 0)


class _Applier:
    """Applies one batch; caches what it learned (thread pk, known turns, next seqs) for the batch's duration."""

    def __init__(self, conn: sqlite3.Connection, thread_id: str) -> None:
        self.conn = conn
        self.thread_id = thread_id
        row = conn.execute("SELECT pk FROM threads WHERE id = ?", (thread_id,)).fetchone()
        self._pk: int | None = None if row is None else int(row[0])
        self._turns: set[str] = set()
        self._next_item: int | None = None
        self._next_history: int | None = None

    @property
    def pk(self) -> int:
        if self._pk is None:
            raise ThreadNotFound(self.thread_id)
        return self._pk

    def create(self, op: CreateThread) -> None:
        self._pk = _insert_thread(self.conn, op.record)

    def update(self, op: UpdateThread) -> None:
        fields = {name: value for name, value in msgspec.structs.asdict(op).items() if value is not UNSET}
        if "archived" in fields:
            fields["archived"] = int(fields["archived"])
        if fields:  # column names come from UpdateThread's fields, never from caller strings
            assignments = ", ".join(f"{name} = ?" for name in fields)
            self.conn.execute(f"UPDATE threads SET {assignments} WHERE pk = ?", (*fields.values(), self.pk))
        else:
            _ = self.pk  # an empty update still needs an existing thread

    def put_turn(self, op: PutTurn) -> None:
        pk = self.pk
        updated = self.conn.execute(
            "UPDATE turns SET status = ?, data = ? WHERE thread_pk = ? AND turn_id = ?",
            (op.status, op.data, pk, op.turn_id),
        )
        if updated.rowcount == 0:
            self.conn.execute(
                "INSERT INTO turns (thread_pk, seq, turn_id, status, data) "
                "VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE thread_pk = ?1), ?2, ?3, ?4)",
                (pk, op.turn_id, op.status, op.data),
            )
            self.conn.execute("UPDATE threads SET turn_count = turn_count + 1 WHERE pk = ?", (pk,))
        self._turns.add(op.turn_id)

    def _require_turn(self, turn_id: str) -> None:
        if turn_id in self._turns:
            return
        if self.conn.execute("SELECT 1 FROM turns WHERE thread_pk = ? AND turn_id = ?", (self.pk, turn_id)).fetchone():
            self._turns.add(turn_id)
            return
        raise TurnNotFound(self.thread_id, turn_id)

    def put_item(self, op: PutItem) -> None:
        self._require_turn(op.turn_id)
        row = self.conn.execute(
            "SELECT turn_id FROM items WHERE thread_pk = ? AND item_id = ?", (self.pk, op.item_id)
        ).fetchone()
        if row is not None:
            if row[0] != op.turn_id:
                raise StoreError(f"item {op.item_id} belongs to turn {row[0]}, not {op.turn_id}")
            self.conn.execute(
                "UPDATE items SET data = ?, started_at_ms = ?, completed_at_ms = ? WHERE thread_pk = ? AND item_id = ?",
                (op.data, op.started_at_ms, op.completed_at_ms, self.pk, op.item_id),
            )
            return
        if self._next_item is None:
            (top,) = self.conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM items WHERE thread_pk = ?", (self.pk,)
            ).fetchone()
            self._next_item = int(top) + 1
        self.conn.execute(
            "INSERT INTO items (thread_pk, seq, turn_id, item_id, started_at_ms, completed_at_ms, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.pk, self._next_item, op.turn_id, op.item_id, op.started_at_ms, op.completed_at_ms, op.data),
        )
        self._next_item += 1

    def _history_seqs(self, count: int) -> range:
        if self._next_history is None:
            (top,) = self.conn.execute(
                "SELECT MAX(COALESCE((SELECT MAX(seq) FROM history WHERE thread_pk = ?1), 0),"
                " COALESCE((SELECT MAX(seq) FROM checkpoints WHERE thread_pk = ?1), 0))",
                (self.pk,),
            ).fetchone()
            self._next_history = int(top) + 1
        seqs = range(self._next_history, self._next_history + count)
        self._next_history += count
        return seqs

    def append_history(self, op: AppendHistory) -> None:
        self._require_turn(op.turn_id)
        seqs = self._history_seqs(len(op.entries))
        self.conn.executemany(
            "INSERT INTO history (thread_pk, seq, turn_id, data) VALUES (?, ?, ?, ?)",
            [(self.pk, seq, op.turn_id, entry) for seq, entry in zip(seqs, op.entries, strict=True)],
        )

    def put_checkpoint(self, op: PutCheckpoint) -> None:
        self._require_turn(op.turn_id)
        (seq,) = self._history_seqs(1)
        self.conn.execute(
            "INSERT INTO checkpoints (thread_pk, seq, turn_id, item_id, mode, trigger, tokens_before, tokens_after,"
            " items_replaced, items_kept, created_at, replacement) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.pk, seq, op.turn_id, op.item_id, op.mode, op.trigger, op.tokens_before, op.tokens_after,
                op.items_replaced, op.items_kept, op.created_at, op.replacement,
            ),
        )  # fmt: skip


def apply_batch(conn: sqlite3.Connection, thread_id: str, ops: Sequence[Op]) -> None:
    applier = _Applier(conn, thread_id)
    for op in ops:
        match op:
            case CreateThread():
                applier.create(op)
            case UpdateThread():
                applier.update(op)
            case PutTurn():
                applier.put_turn(op)
            case PutItem():
                applier.put_item(op)
            case AppendHistory():
                applier.append_history(op)
            case PutCheckpoint():
                applier.put_checkpoint(op)
            case _:
                raise StoreError(f"unknown batch operation {type(op).__name__}")
    if not ops:
        _ = applier.pk  # an empty batch is a no-op, but still only for a thread that exists


def revert(conn: sqlite3.Connection, thread_id: str, before_turn_id: str) -> ThreadRecord:
    pk = reads.thread_pk(conn, thread_id)
    seq = reads.turn_seq(conn, pk, thread_id, before_turn_id)
    conn.execute("DELETE FROM turns WHERE thread_pk = ? AND seq >= ?", (pk, seq))  # cascades to the turns' rows
    conn.execute(
        "UPDATE threads SET turn_count = (SELECT COUNT(*) FROM turns WHERE thread_pk = ?1) WHERE pk = ?1", (pk,)
    )
    return reads.get_thread(conn, thread_id)


def delete(conn: sqlite3.Connection, thread_id: str) -> None:
    pk = reads.thread_pk(conn, thread_id)
    conn.execute("DELETE FROM threads WHERE pk = ?", (pk,))  # cascades to turns, and from them to every child row


# Child tables copied by fork: (table, columns after thread_pk). Rows qualify when their turn is kept.
_FORK_COPIES = (
    ("items", "seq, turn_id, item_id, started_at_ms, completed_at_ms, data"),
    ("history", "seq, turn_id, data"),
    ("checkpoints", "seq, turn_id, item_id, mode, trigger, tokens_before, tokens_after, items_replaced, items_kept,"
     " created_at, replacement"),
)  # fmt: skip


def fork(conn: sqlite3.Connection, source_id: str, new_thread: ThreadRecord, last_turn_id: str | None,
         before_turn_id: str | None = None) -> ThreadRecord:
    source_pk = reads.thread_pk(conn, source_id)
    last_seq = reads.kept_turn_seq(conn, source_pk, source_id, last_turn_id, before_turn_id)
    if last_seq is None:
        (last_seq,) = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM turns WHERE thread_pk = ?", (source_pk,)
        ).fetchone()
    (kept,) = conn.execute(
        "SELECT COUNT(*) FROM turns WHERE thread_pk = ? AND seq <= ?", (source_pk, last_seq)
    ).fetchone()
    record = msgspec.structs.replace(new_thread, forked_from_id=source_id, turn_count=int(kept))
    new_pk = _insert_thread(conn, record)
    conn.execute(
        "INSERT INTO turns (thread_pk, seq, turn_id, status, data) "
        "SELECT ?, seq, turn_id, status, data FROM turns WHERE thread_pk = ? AND seq <= ?",
        (new_pk, source_pk, last_seq),
    )
    for table, columns in _FORK_COPIES:
        selected = ", ".join(f"c.{column.strip()}" for column in columns.split(","))
        conn.execute(
            f"INSERT INTO {table} (thread_pk, {columns}) SELECT ?, {selected} FROM {table} AS c "
            "JOIN turns AS t ON t.thread_pk = c.thread_pk AND t.turn_id = c.turn_id "
            "WHERE c.thread_pk = ? AND t.seq <= ?",
            (new_pk, source_pk, last_seq),
        )
    return reads.get_thread(conn, record.id)
