"""A damaged blob is the caller's to judge: the store lists, reads, pages, forks and loads history around it.

Blobs are damaged the way a disk fault or a hand edit would: with ``sqlite3`` on the store's real file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import msgspec
import pytest

from server.store import PutCheckpoint, SqliteStore, ThreadQuery, WriteBatch

from .factories import blob, thread_record, turn_batch

pytestmark = pytest.mark.anyio

GARBAGE = b"{garbage"


def damage(path: Path, sql: str, *params: object) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        assert conn.execute(sql, params).rowcount == 1


def checkpoint(turn_id: str, *entries: dict[str, object]) -> PutCheckpoint:
    return PutCheckpoint(turn_id=turn_id, item_id=f"{turn_id}:compaction", mode="local", trigger="auto",
                         tokens_before=900, tokens_after=100, items_replaced=2, items_kept=0,
                         created_at=1_700_000_123, replacement=msgspec.json.encode(list(entries)))


async def three_turns(store: SqliteStore) -> str:
    record = thread_record(preview="hello")
    await store.write(WriteBatch(record.id).create_thread(record))
    for turn in ("t1", "t2", "t3"):
        await store.write(turn_batch(record.id, turn))
    return record.id


async def test_a_thread_with_damaged_blobs_is_listed_read_and_paged_with_them_returned_byte_for_byte(
        store: SqliteStore) -> None:
    thread_id = await three_turns(store)
    damage(store.path, "UPDATE threads SET data = ? WHERE id = ?", GARBAGE, thread_id)
    damage(store.path, "UPDATE turns SET data = ? WHERE turn_id = 't2'", GARBAGE)
    damage(store.path, "UPDATE items SET data = ? WHERE item_id = 't2:item1'", GARBAGE)

    listed = await store.list_threads(ThreadQuery())
    assert [(t.id, t.data) for t in listed.items] == [(thread_id, GARBAGE)]
    assert (await store.get_thread(thread_id)).data == GARBAGE
    first = await store.list_turns(thread_id, limit=2, direction="asc")
    assert [(t.turn_id, t.status, t.data) for t in first.items] == [
        ("t1", "completed", blob(id="t1", status="completed")), ("t2", "completed", GARBAGE)]
    assert first.next_cursor is not None
    assert [t.turn_id for t in (await store.list_turns(thread_id, cursor=first.next_cursor, direction="asc")).items] \
        == ["t3"]
    items = await store.items_for_turns(thread_id, ["t2"])
    assert [(i.item_id, i.data) for i in items["t2"]] == [("t2:item0", blob(id="t2:item0")), ("t2:item1", GARBAGE)]


async def test_history_entries_carry_the_seq_of_the_row_they_came_from(store: SqliteStore) -> None:
    """So a caller that cannot decode an entry can name the row; a damaged entry comes back as it is stored."""
    thread_id = await three_turns(store)
    damage(store.path, "UPDATE history SET data = ? WHERE seq = 3", GARBAGE)
    history = await store.load_history(thread_id)
    assert [seq for seq, _ in history.entries] == [1, 2, 3, 4, 5, 6]
    assert history.entries[2] == (3, GARBAGE)
    assert history.passed_over == ()


async def test_a_checkpoint_whose_replacement_is_not_a_json_array_is_passed_over_for_the_history_before_it(
        store: SqliteStore) -> None:
    """Its rows are still stored: the history is what it was before that compaction, nothing the model knew lost."""
    thread_id = await three_turns(store)  # history seqs 1..6
    await store.write(WriteBatch(thread_id).put_checkpoint(checkpoint("t2", {"summary": 1})))  # seq 7
    await store.write(turn_batch(thread_id, "t4", items=0, history=1))  # seq 8
    await store.write(WriteBatch(thread_id).put_checkpoint(checkpoint("t4", {"summary": 2})))  # seq 9
    await store.write(turn_batch(thread_id, "t5", items=0, history=1))  # seq 10
    damage(store.path, "UPDATE checkpoints SET replacement = ? WHERE seq = 9", GARBAGE)

    history = await store.load_history(thread_id)
    assert history.passed_over == (9,)
    assert history.entries == [(7, blob(summary=1)), (8, blob(turn="t4", entry=0)), (10, blob(turn="t5", entry=0))]


async def test_with_every_checkpoint_damaged_the_history_is_every_entry_ever_appended(store: SqliteStore) -> None:
    thread_id = await three_turns(store)
    await store.write(WriteBatch(thread_id).put_checkpoint(checkpoint("t3", {"summary": 1})))  # seq 7
    await store.write(turn_batch(thread_id, "t4", items=0, history=1))  # seq 8
    damage(store.path, "UPDATE checkpoints SET replacement = ? WHERE seq = 7", GARBAGE)
    damage(store.path, "UPDATE history SET data = 42 WHERE seq = 2")  # not even bytes: still returned as stored

    history = await store.load_history(thread_id)
    assert history.passed_over == (7,)
    assert [seq for seq, _ in history.entries] == [1, 2, 3, 4, 5, 6, 8]
    assert history.entries[1] == (2, 42)


async def test_a_fork_copies_damaged_rows_as_they_are(store: SqliteStore) -> None:
    """Copying is SQL to SQL; the fork is read around the same damage as its source."""
    source = await three_turns(store)
    damage(store.path, "UPDATE items SET data = ? WHERE item_id = 't1:item0'", GARBAGE)
    damage(store.path, "UPDATE history SET data = ? WHERE seq = 1", GARBAGE)
    fork = await store.fork(source, thread_record())
    assert (await store.list_items(fork.id, limit=1)).items[0].data == GARBAGE
    assert (await store.load_history(fork.id)).entries[0] == (1, GARBAGE)


async def test_a_store_with_damaged_blobs_opens(home: Path) -> None:
    async with SqliteStore.open(home) as store:
        thread_id = await three_turns(store)
        path = store.path
    for table in ("threads", "turns", "items", "history"):
        damage(path, f"UPDATE {table} SET data = ? WHERE rowid = 1", GARBAGE)
    async with SqliteStore.open(home) as store:
        assert (await store.get_thread(thread_id)).data == GARBAGE
