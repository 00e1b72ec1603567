"""Model-visible history with compaction checkpoints, revert and fork (ARCHITECTURE: Compaction, Store)."""

from __future__ import annotations

import contextlib
import sqlite3

import msgspec
import pytest

from server.store import PutCheckpoint, SqliteStore, StoreError, ThreadNotFound, TurnNotFound, WriteBatch

from .factories import blob, history_blobs, new_id, thread_record, turn_batch


def checkpoint(turn_id: str, replacement: list[object], *, tokens_after: int = 100) -> PutCheckpoint:
    return PutCheckpoint(
        turn_id=turn_id,
        item_id=f"{turn_id}:compaction",
        mode="local",
        trigger="auto",
        tokens_before=9000,
        tokens_after=tokens_after,
        items_replaced=4,
        items_kept=1,
        created_at=1_700_000_123,
        replacement=msgspec.json.encode(replacement),
    )


async def new_thread(store: SqliteStore, turns: int) -> str:
    record = thread_record()
    await store.write(WriteBatch(record.id).create_thread(record))
    for index in range(1, turns + 1):
        await store.write(turn_batch(record.id, f"t{index}"))
    return record.id


def row_counts(store: SqliteStore) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("threads", "turns", "items", "history", "checkpoints")
        }


@pytest.mark.anyio
async def test_without_a_checkpoint_history_is_every_entry_in_append_order(store: SqliteStore) -> None:
    thread_id = await new_thread(store, 2)
    assert await history_blobs(store, thread_id) == [
        blob(turn=turn, entry=entry) for turn in ("t1", "t2") for entry in range(2)
    ]
    assert await store.latest_checkpoint(thread_id) is None


@pytest.mark.anyio
async def test_history_is_the_latest_checkpoints_replacement_then_every_later_entry(store: SqliteStore) -> None:
    thread_id = await new_thread(store, 2)
    batch = turn_batch(thread_id, "t3", history=1)  # entry t3/0 is appended before the checkpoint: replaced
    batch.put_checkpoint(checkpoint("t3", [{"summary": 1}, {"kept": "t3"}])).append_history("t3", [blob(after=1)])
    await store.write(batch)
    assert await history_blobs(store, thread_id) == [blob(summary=1), blob(kept="t3"), blob(after=1)]

    # A second checkpoint supersedes the first; only what follows it is appended.
    second = WriteBatch(thread_id).put_checkpoint(checkpoint("t3", [{"summary": 2}], tokens_after=50))
    await store.write(second.append_history("t3", [blob(after=2)]))
    await store.write(turn_batch(thread_id, "t4", items=0, history=1))
    assert await history_blobs(store, thread_id) == [blob(summary=2), blob(after=2), blob(turn="t4", entry=0)]
    latest = await store.latest_checkpoint(thread_id)
    assert latest is not None
    assert (latest.turn_id, latest.item_id, latest.tokens_after) == ("t3", "t3:compaction", 50)
    assert (latest.mode, latest.trigger, latest.items_replaced, latest.items_kept) == ("local", "auto", 4, 1)


def test_a_checkpoint_replacement_must_be_a_json_array() -> None:
    with pytest.raises(StoreError, match="not a JSON array"):
        WriteBatch(new_id()).put_checkpoint(msgspec.structs.replace(checkpoint("t1", []), replacement=b'{"a":1}'))


@pytest.mark.anyio
async def test_revert_drops_the_turn_and_everything_after_it(store: SqliteStore) -> None:
    thread_id = await new_thread(store, 2)
    bystander = await new_thread(store, 3)
    compacted = turn_batch(thread_id, "t3").put_checkpoint(checkpoint("t3", [{"summary": 3}]))
    await store.write(compacted)
    await store.write(turn_batch(thread_id, "t4"))

    reverted = await store.revert(thread_id, "t3")
    assert reverted.turn_count == 2
    assert [turn.turn_id for turn in (await store.list_turns(thread_id, direction="asc")).items] == ["t1", "t2"]
    assert {item.turn_id for item in (await store.list_items(thread_id)).items} == {"t1", "t2"}
    assert await store.latest_checkpoint(thread_id) is None
    assert await history_blobs(store, thread_id) == [blob(turn=t, entry=e) for t in ("t1", "t2") for e in range(2)]

    await store.write(turn_batch(thread_id, "t5"))  # turn seqs stay contiguous after a revert
    assert [(turn.seq, turn.turn_id) for turn in (await store.list_turns(thread_id, direction="asc")).items] == [
        (1, "t1"),
        (2, "t2"),
        (3, "t5"),
    ]
    assert (await store.get_thread(bystander)).turn_count == 3
    assert len(await history_blobs(store, bystander)) == 6


@pytest.mark.anyio
async def test_reverting_an_unknown_turn_raises_turn_not_found_and_changes_nothing(store: SqliteStore) -> None:
    thread_id = await new_thread(store, 2)
    before = row_counts(store)
    with pytest.raises(TurnNotFound, match="turn not found: nope"):
        await store.revert(thread_id, "nope")
    with pytest.raises(ThreadNotFound):
        await store.revert(new_id(), "t1")
    assert row_counts(store) == before


@pytest.mark.anyio
async def test_delete_removes_the_thread_and_every_row_under_it_and_nothing_else(store: SqliteStore) -> None:
    bystander = await new_thread(store, 3)
    alone = row_counts(store)
    thread_id = await new_thread(store, 2)
    await store.write(turn_batch(thread_id, "t3").put_checkpoint(checkpoint("t3", [{"summary": 3}])))
    await store.delete(thread_id)
    assert row_counts(store) == alone
    with pytest.raises(ThreadNotFound):
        await store.get_thread(thread_id)
    with pytest.raises(ThreadNotFound):
        await store.delete(thread_id)
    assert len(await history_blobs(store, bystander)) == 6


@pytest.mark.anyio
async def test_fork_copies_up_to_the_last_turn_and_leaves_the_source_untouched(store: SqliteStore) -> None:
    source = await new_thread(store, 2)
    await store.write(turn_batch(source, "t3").put_checkpoint(checkpoint("t3", [{"summary": 3}])))
    await store.write(turn_batch(source, "t4"))
    source_record = await store.get_thread(source)
    source_history = await history_blobs(store, source)
    before = row_counts(store)

    fork = await store.fork(source, thread_record(preview="forked"), last_turn_id="t3")
    assert (fork.forked_from_id, fork.turn_count, fork.preview) == (source, 3, "forked")
    assert [turn.turn_id for turn in (await store.list_turns(fork.id, direction="asc")).items] == ["t1", "t2", "t3"]
    assert [item.item_id for item in (await store.list_items(fork.id)).items] == [
        f"t{turn}:item{index}" for turn in (1, 2, 3) for index in range(2)
    ]
    assert await history_blobs(store, fork.id) == [blob(summary=3)]
    # Exactly the copy was added: 3 turns, 6 items, 6 history entries, 1 checkpoint.
    after = row_counts(store)
    assert {table: after[table] - before[table] for table in after} == {
        "threads": 1,
        "turns": 3,
        "items": 6,
        "history": 6,
        "checkpoints": 1,
    }
    assert await store.get_thread(source) == source_record
    assert await history_blobs(store, source) == source_history

    await store.write(turn_batch(fork.id, "t9", history=1))  # the copies evolve independently
    assert await history_blobs(store, fork.id) == [blob(summary=3), blob(turn="t9", entry=0)]
    assert await history_blobs(store, source) == source_history


@pytest.mark.anyio
async def test_fork_without_a_last_turn_copies_everything(store: SqliteStore) -> None:
    source = await new_thread(store, 3)
    fork = await store.fork(source, thread_record())
    assert fork.turn_count == 3
    assert await history_blobs(store, fork.id) == await history_blobs(store, source)
    assert len((await store.list_items(fork.id)).items) == 6


@pytest.mark.anyio
async def test_a_failed_fork_creates_nothing(store: SqliteStore) -> None:
    source = await new_thread(store, 2)
    before = row_counts(store)
    target = thread_record()
    with pytest.raises(TurnNotFound):
        await store.fork(source, target, last_turn_id="nope")
    with pytest.raises(StoreError, match="already exists"):
        await store.fork(source, msgspec.structs.replace(target, id=source))
    with pytest.raises(ThreadNotFound):
        await store.get_thread(target.id)
    assert row_counts(store) == before


@pytest.mark.anyio
async def test_fork_before_a_turn_copies_only_the_turns_older_than_it(store: SqliteStore) -> None:
    source = await new_thread(store, 2)
    await store.write(turn_batch(source, "t3").put_checkpoint(checkpoint("t3", [{"summary": 3}])))
    before_t3 = await store.fork(source, thread_record(), before_turn_id="t3")
    assert [turn.turn_id for turn in (await store.list_turns(before_t3.id, direction="asc")).items] == ["t1", "t2"]
    # The checkpoint of the turn left out goes with it: the history is t1's and t2's entries, uncompacted.
    assert await history_blobs(store, before_t3.id) == [
        blob(turn=f"t{turn}", entry=index) for turn in (1, 2) for index in range(2)]
    before_first = await store.fork(source, thread_record(), before_turn_id="t1")
    assert before_first.turn_count == 0 and before_first.forked_from_id == source
    assert (await store.list_turns(before_first.id)).items == []
    assert await history_blobs(store, before_first.id) == []
    with pytest.raises(TurnNotFound):
        await store.fork(source, thread_record(), before_turn_id="nope")
    with pytest.raises(ValueError):
        await store.fork(source, thread_record(), "t1", before_turn_id="t2")


@pytest.mark.anyio
async def test_history_loaded_at_a_cut_is_what_a_fork_there_holds(store: SqliteStore) -> None:
    source = await new_thread(store, 2)
    await store.write(turn_batch(source, "t3").put_checkpoint(checkpoint("t3", [{"summary": 3}])))
    await store.write(turn_batch(source, "t4"))
    for cut in ({"last_turn_id": "t2"}, {"before_turn_id": "t3"}, {"last_turn_id": "t3"},
                {"before_turn_id": "t4"}, {"before_turn_id": "t1"}, {}):
        fork = await store.fork(source, thread_record(), **cut)
        loaded = await store.load_history(source, **cut)
        assert [data for _, data in loaded.entries] == await history_blobs(store, fork.id), cut
    assert [data for _, data in (await store.load_history(source, before_turn_id="t3")).entries] == [
        blob(turn=f"t{turn}", entry=index) for turn in (1, 2) for index in range(2)]
    with pytest.raises(TurnNotFound):
        await store.load_history(source, last_turn_id="nope")
