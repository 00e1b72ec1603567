"""Read queries of the SQLite store: plain functions over one connection, run inside one read transaction.

Each function takes a connection whose transaction the caller (``ReadPool.run``, or the writer for a
read-after-write) already opened, so a multi-statement read such as ``load_history`` sees one snapshot.

Every listing is ``WHERE <equality prefix> AND (<sort>, <tiebreak>) <op> (<anchor>) ORDER BY ... LIMIT n + 1``
on an index that ends in the sort order: its cost grows with the page size, not with the table or the depth
of the page. ``tests/store`` pins the query plans (no temporary sort B-tree).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from . import cursors
from .base import CheckpointRecord, Direction, History, ItemRecord, Page, ThreadQuery, ThreadRecord, TurnRecord
from .cursors import Anchor
from .errors import InvalidCursor, StoreError, ThreadNotFound, TurnNotFound

THREAD_COLUMNS = (
    "id, created_at, updated_at, cwd, model_provider, source_kind, preview, name, archived, forked_from_id, "
    "turn_count, data, git_info"
)
_SORT_COLUMNS = {"created_at": "created_at", "updated_at": "updated_at"}
_ORDER = {"asc": "ASC", "desc": "DESC"}
_CHUNK = 500  # bound on SQL variables per statement for IN lists supplied by callers


def _thread(row: Sequence[Any]) -> ThreadRecord:
    return ThreadRecord(
        id=row[0],
        created_at=row[1],
        updated_at=row[2],
        cwd=row[3],
        model_provider=row[4],
        source_kind=row[5],
        preview=row[6],
        name=row[7],
        archived=bool(row[8]),
        forked_from_id=row[9],
        turn_count=row[10],
        data=row[11],
        git_info=row[12],
    )


def _order(direction: str) -> str:
    try:
        return _ORDER[direction]
    except KeyError:
        raise StoreError(f"sort direction must be 'asc' or 'desc', not {direction!r}") from None


def thread_pk(conn: sqlite3.Connection, thread_id: str) -> int:
    row = conn.execute("SELECT pk FROM threads WHERE id = ?", (thread_id,)).fetchone()
    if row is None:
        raise ThreadNotFound(thread_id)
    return int(row[0])


def get_thread(conn: sqlite3.Connection, thread_id: str) -> ThreadRecord:
    row = conn.execute(f"SELECT {THREAD_COLUMNS} FROM threads WHERE id = ?", (thread_id,)).fetchone()
    if row is None:
        raise ThreadNotFound(thread_id)
    return _thread(row)


def list_threads(conn: sqlite3.Connection, query: ThreadQuery) -> Page[ThreadRecord]:
    column = _SORT_COLUMNS.get(query.sort_key)
    if column is None:
        raise StoreError(f"sort key must be 'created_at' or 'updated_at', not {query.sort_key!r}")
    order, limit = _order(query.direction), max(1, query.limit)
    sql = [f"SELECT {THREAD_COLUMNS} FROM threads WHERE archived = ?"]
    params: list[Any] = [int(query.archived)]
    if query.cursor is not None:
        anchor = cursors.decode(query.cursor, kind="threads", scope=column, direction=query.direction)
        sql.append(f"AND ({column}, id) {cursors.keyset_operator(query.direction, anchor.inclusive)} (?, ?)")
        params += [anchor.value, anchor.key]
    if len(query.cwds) == 1:
        sql.append("AND cwd = ?")  # served by the (archived, cwd, sort, id) index
    elif query.cwds:
        # Unary + keeps the planner off the cwd index: several cwds through it would need a sort of every match.
        sql.append(f"AND +cwd IN ({_marks(query.cwds)})")
    params += query.cwds
    for column_name, values in (("model_provider", query.model_providers), ("source_kind", query.source_kinds)):
        if values:
            sql.append(f"AND {column_name} IN ({_marks(values)})")
            params += values
    if query.search_term:
        # As Codex: a case-sensitive substring of the name or the preview. instr() compares characters exactly,
        # where LIKE would fold ASCII case and read % and _ as wildcards. No index serves a substring: this
        # filters the rows the sort index walks, and the walk stops once the page is full.
        sql.append("AND (instr(name, ?) > 0 OR instr(preview, ?) > 0)")
        params += [query.search_term] * 2
    if query.require_preview:
        sql.append("AND preview <> ''")
    if query.exclude_ids:
        sql.append(f"AND id NOT IN ({_marks(query.exclude_ids)})")
        params += [thread_id.lower() for thread_id in query.exclude_ids]
    sql.append(f"ORDER BY {column} {order}, id {order} LIMIT ?")
    params.append(limit + 1)
    rows = [_thread(row) for row in conn.execute(" ".join(sql), params)]

    def issue(record: ThreadRecord, direction: Direction, inclusive: bool) -> str:
        return cursors.encode("threads", column, direction, Anchor(getattr(record, column), record.id, inclusive))

    return cursors.paginate(rows, limit=limit, direction=query.direction, issue=issue)


def get_turn(conn: sqlite3.Connection, thread_id: str, turn_id: str) -> TurnRecord:
    pk = thread_pk(conn, thread_id)
    row = conn.execute(
        "SELECT seq, status, data FROM turns WHERE thread_pk = ? AND turn_id = ?", (pk, turn_id)
    ).fetchone()
    if row is None:
        raise TurnNotFound(thread_id, turn_id)
    return TurnRecord(thread_id=thread_id, turn_id=turn_id, seq=row[0], status=row[1], data=row[2])


def list_turns(
    conn: sqlite3.Connection, thread_id: str, cursor: str | None, limit: int, direction: Direction
) -> Page[TurnRecord]:
    pk, order, limit = thread_pk(conn, thread_id), _order(direction), max(1, limit)
    sql, params = "SELECT seq, turn_id, status, data FROM turns WHERE thread_pk = ?", [pk]
    if cursor is not None:
        anchor = cursors.decode(cursor, kind="turns", scope=thread_id, direction=direction)
        sql += f" AND seq {cursors.keyset_operator(direction, anchor.inclusive)} ?"
        params.append(anchor.value)
    rows = [
        TurnRecord(thread_id=thread_id, turn_id=row[1], seq=row[0], status=row[2], data=row[3])
        for row in conn.execute(f"{sql} ORDER BY seq {order} LIMIT ?", (*params, limit + 1))
    ]

    def issue(turn: TurnRecord, direction: Direction, inclusive: bool) -> str:
        return cursors.encode("turns", thread_id, direction, Anchor(turn.seq, turn.turn_id, inclusive))

    return cursors.paginate(rows, limit=limit, direction=direction, issue=issue)


def newest_turns_cursor(conn: sqlite3.Connection, thread_id: str) -> str | None:
    """A `list_turns` cursor, direction desc, that starts at the thread's newest turn and includes it; None for
    a thread without turns. `thread/resume` hands it out as `turnsBackwardsCursor`."""
    row = conn.execute("SELECT seq, turn_id FROM turns WHERE thread_pk = ? ORDER BY seq DESC LIMIT 1",
                       (thread_pk(conn, thread_id),)).fetchone()
    return None if row is None else cursors.encode("turns", thread_id, "desc", Anchor(row[0], row[1], True))


def newest_items_cursor(conn: sqlite3.Connection, thread_id: str) -> str | None:
    """A `list_items` cursor over the whole thread, direction desc, that starts at its newest item and includes
    it; None for a thread without items. `thread/resume` hands it out as `itemsBackwardsCursor`."""
    row = conn.execute("SELECT seq, item_id FROM items WHERE thread_pk = ? ORDER BY seq DESC LIMIT 1",
                       (thread_pk(conn, thread_id),)).fetchone()
    return None if row is None else cursors.encode("items", f"{thread_id}/", "desc", Anchor(row[0], row[1], True))


_ITEM_COLUMNS = "seq, turn_id, item_id, data, started_at_ms, completed_at_ms"


def _item(thread_id: str, row: Sequence[Any]) -> ItemRecord:
    return ItemRecord(
        thread_id=thread_id,
        seq=row[0],
        turn_id=row[1],
        item_id=row[2],
        data=row[3],
        started_at_ms=row[4],
        completed_at_ms=row[5],
    )


def list_items(
    conn: sqlite3.Connection,
    thread_id: str,
    turn_id: str | None,
    cursor: str | None,
    limit: int,
    direction: Direction,
    after_item_id: str | None,
) -> Page[ItemRecord]:
    pk, order, limit = thread_pk(conn, thread_id), _order(direction), max(1, limit)
    scope = f"{thread_id}/{turn_id or ''}"  # a cursor of one turn's items must not page another turn's
    sql = f"SELECT {_ITEM_COLUMNS} FROM items WHERE thread_pk = ?"
    params: list[object] = [pk]
    if turn_id is not None:
        sql += " AND turn_id = ?"
        params.append(turn_id)
    anchor: Anchor | None = None
    if cursor is not None and after_item_id is not None:
        raise InvalidCursor("invalid cursor: give either a cursor or an item anchor, not both")
    if cursor is not None:
        anchor = cursors.decode(cursor, kind="items", scope=scope, direction=direction)
    elif after_item_id is not None:
        row = conn.execute(
            "SELECT seq, turn_id FROM items WHERE thread_pk = ? AND item_id = ?", (pk, after_item_id)
        ).fetchone()
        if row is None or (turn_id is not None and row[1] != turn_id):
            raise InvalidCursor(f"invalid cursor: item {after_item_id} is not in this thread or turn")
        anchor = Anchor(row[0], after_item_id, False)
    if anchor is not None:
        sql += f" AND seq {cursors.keyset_operator(direction, anchor.inclusive)} ?"
        params.append(anchor.value)
    rows = [_item(thread_id, row) for row in conn.execute(f"{sql} ORDER BY seq {order} LIMIT ?", (*params, limit + 1))]

    def issue(item: ItemRecord, direction: Direction, inclusive: bool) -> str:
        return cursors.encode("items", scope, direction, Anchor(item.seq, item.item_id, inclusive))

    return cursors.paginate(rows, limit=limit, direction=direction, issue=issue)


def items_for_turns(conn: sqlite3.Connection, thread_id: str, turn_ids: Sequence[str]) -> dict[str, list[ItemRecord]]:
    pk = thread_pk(conn, thread_id)
    result: dict[str, list[ItemRecord]] = {turn_id: [] for turn_id in turn_ids}
    wanted = list(result)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        # turn_id first in ORDER BY: each turn is a range of (thread_pk, turn_id, seq); ordering by seq alone
        # made SQLite walk every item of the thread to avoid a sort.
        sql = f"SELECT {_ITEM_COLUMNS} FROM items WHERE thread_pk = ? AND turn_id IN ({_marks(chunk)}) ORDER BY turn_id, seq"
        for row in conn.execute(sql, (pk, *chunk)):
            result[row[1]].append(_item(thread_id, row))
    return result


def turns_with_items(
    conn: sqlite3.Connection, thread_id: str, cursor: str | None, limit: int, direction: Direction, with_items: bool
) -> tuple[Page[TurnRecord], dict[str, list[ItemRecord]]]:
    """A page of turns and (``with_items``) their items, from one snapshot: a turn's status and its items agree."""
    page = list_turns(conn, thread_id, cursor, limit, direction)
    items = items_for_turns(conn, thread_id, [t.turn_id for t in page.items]) if with_items else {}
    return page, items


def turn_with_items(conn: sqlite3.Connection, thread_id: str, turn_id: str) -> tuple[TurnRecord, list[ItemRecord]]:
    turn = get_turn(conn, thread_id, turn_id)
    return turn, items_for_turns(conn, thread_id, [turn_id])[turn_id]


_CHECKPOINT_COLUMNS = (
    "seq, turn_id, item_id, mode, trigger, tokens_before, tokens_after, items_replaced, items_kept, created_at, "
    "replacement"
)


def _latest_checkpoint(conn: sqlite3.Connection, pk: int, thread_id: str) -> CheckpointRecord | None:
    row = conn.execute(
        f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints WHERE thread_pk = ? ORDER BY seq DESC LIMIT 1", (pk,)
    ).fetchone()
    if row is None:
        return None
    return CheckpointRecord(thread_id=thread_id, **dict(zip(_CHECKPOINT_COLUMNS.split(", "), row, strict=True)))


def latest_checkpoint(conn: sqlite3.Connection, thread_id: str) -> CheckpointRecord | None:
    return _latest_checkpoint(conn, thread_pk(conn, thread_id), thread_id)


_MAX_SEQ = 2**63 - 1  # SQLite's largest integer: "below it" is every seq
_REPLACEMENT = msgspec.json.Decoder(list[msgspec.Raw])


def turn_seq(conn: sqlite3.Connection, pk: int, thread_id: str, turn_id: str) -> int:
    row = conn.execute("SELECT seq FROM turns WHERE thread_pk = ? AND turn_id = ?", (pk, turn_id)).fetchone()
    if row is None:
        raise TurnNotFound(thread_id, turn_id)
    return int(row[0])


def kept_turn_seq(conn: sqlite3.Connection, pk: int, thread_id: str, last_turn_id: str | None,
                  before_turn_id: str | None) -> int | None:
    """The highest turn seq a copy cut after ``last_turn_id`` or before ``before_turn_id`` keeps (0: none, as
    before the first turn); None without a cut. ``TurnNotFound`` for a turn the thread does not have."""
    if last_turn_id is not None and before_turn_id is not None:
        raise ValueError("cut after last_turn_id or before before_turn_id, not both")
    if last_turn_id is not None:
        return turn_seq(conn, pk, thread_id, last_turn_id)
    if before_turn_id is not None:
        return turn_seq(conn, pk, thread_id, before_turn_id) - 1
    return None


def load_history(conn: sqlite3.Connection, thread_id: str, last_turn_id: str | None = None,
                 before_turn_id: str | None = None) -> History:
    """See ``History``; cut at a turn as ``kept_turn_seq`` says, it is the history as it stood then. A checkpoint
    whose replacement does not parse is passed over for the one before it (one query per checkpoint passed over;
    none when the latest is readable, the only case without damage)."""
    pk = thread_pk(conn, thread_id)
    kept = kept_turn_seq(conn, pk, thread_id, last_turn_id, before_turn_id)
    # Without a cut the queries stay the plain indexed ones (their plans are pinned by tests/store).
    cut, cut_args = ("", ()) if kept is None else (
        " AND turn_id IN (SELECT turn_id FROM turns WHERE thread_pk = ? AND seq <= ?)", (pk, kept))
    entries: list[tuple[int, bytes]] = []
    passed_over: list[int] = []
    after, below = 0, _MAX_SEQ
    while (row := conn.execute(f"SELECT seq, replacement FROM checkpoints WHERE thread_pk = ? AND seq < ?{cut} "
                               "ORDER BY seq DESC LIMIT 1", (pk, below, *cut_args)).fetchone()) is not None:
        seq, replacement = row
        try:
            entries = [(seq, bytes(raw)) for raw in _REPLACEMENT.decode(replacement)]
        except (msgspec.DecodeError, TypeError):  # TypeError: a value that is not bytes or text at all
            passed_over.append(seq)
            below = seq
            continue
        after = seq
        break
    rows = conn.execute(f"SELECT seq, data FROM history WHERE thread_pk = ? AND seq > ?{cut} ORDER BY seq",
                        (pk, after, *cut_args))
    entries.extend(rows)
    return History(entries=entries, passed_over=tuple(passed_over))


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))
