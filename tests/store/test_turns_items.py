"""Turns and items: store-assigned seqs, idempotent puts, and paging (PROTOCOL §3.12 and §3.13 semantics)."""

from __future__ import annotations

import msgspec
import pytest

from server.store import InvalidCursor, SqliteStore, StoreError, ThreadRecord, TurnNotFound, WriteBatch

from .factories import blob, thread_record, turn_batch


async def thread_with_turns(store: SqliteStore, turns: int, items: int = 3) -> ThreadRecord:
    record = thread_record()
    await store.write(WriteBatch(record.id).create_thread(record))
    for index in range(1, turns + 1):
        await store.write(turn_batch(record.id, f"t{index}", items=items))
    return await store.get_thread(record.id)


@pytest.mark.anyio
async def test_turns_get_contiguous_seqs_and_putting_a_turn_again_updates_it_in_place(store: SqliteStore) -> None:
    thread = await thread_with_turns(store, 3)
    await store.write(WriteBatch(thread.id).put_turn("t2", "interrupted", blob(id="t2", status="interrupted")))
    turns = (await store.list_turns(thread.id, direction="asc")).items
    assert [(turn.seq, turn.turn_id, turn.status) for turn in turns] == [
        (1, "t1", "completed"),
        (2, "t2", "interrupted"),
        (3, "t3", "completed"),
    ]
    assert (await store.get_thread(thread.id)).turn_count == 3
    assert (await store.get_turn(thread.id, "t2")).data == blob(id="t2", status="interrupted")
    with pytest.raises(TurnNotFound, match="turn not found: t9"):
        await store.get_turn(thread.id, "t9")


@pytest.mark.anyio
async def test_writing_the_same_completed_item_twice_keeps_one_item_with_the_latest_data(store: SqliteStore) -> None:
    thread = await thread_with_turns(store, 1, items=2)
    await store.write(WriteBatch(thread.id).put_item("t1", "t1:item0", blob(text="final"), completed_at_ms=99))
    await store.write(WriteBatch(thread.id).put_item("t1", "t1:item0", blob(text="final"), completed_at_ms=99))
    items = (await store.list_items(thread.id)).items
    assert [(item.seq, item.item_id) for item in items] == [(1, "t1:item0"), (2, "t1:item1")]
    assert (items[0].data, items[0].started_at_ms, items[0].completed_at_ms) == (blob(text="final"), None, 99)


@pytest.mark.anyio
async def test_items_and_history_must_name_an_existing_turn_and_items_never_move(store: SqliteStore) -> None:
    thread = await thread_with_turns(store, 2)
    with pytest.raises(TurnNotFound):
        await store.write(WriteBatch(thread.id).put_item("nope", "x", blob()))
    with pytest.raises(TurnNotFound):
        await store.write(WriteBatch(thread.id).append_history("nope", [blob()]))
    with pytest.raises(StoreError, match="belongs to turn t1"):
        await store.write(WriteBatch(thread.id).put_item("t2", "t1:item0", blob()))


@pytest.mark.anyio
async def test_turns_page_newest_first_and_the_backwards_cursor_returns_including_the_anchor(
    store: SqliteStore,
) -> None:
    thread = await thread_with_turns(store, 7, items=0)
    first = await store.list_turns(thread.id, limit=3)
    second = await store.list_turns(thread.id, limit=3, cursor=first.next_cursor)
    last = await store.list_turns(thread.id, limit=3, cursor=second.next_cursor)
    assert [[turn.seq for turn in page.items] for page in (first, second, last)] == [[7, 6, 5], [4, 3, 2], [1]]
    assert last.next_cursor is None
    back = await store.list_turns(thread.id, limit=2, direction="asc", cursor=second.backwards_cursor)
    assert [turn.seq for turn in back.items] == [4, 5]
    forward = await store.list_turns(thread.id, limit=10, direction="asc", cursor=back.next_cursor)
    assert [turn.seq for turn in forward.items] == [6, 7]
    with pytest.raises(InvalidCursor, match="direction"):
        await store.list_turns(thread.id, cursor=first.next_cursor, direction="asc")


@pytest.mark.anyio
async def test_items_page_in_append_order_both_ways(store: SqliteStore) -> None:
    thread = await thread_with_turns(store, 4, items=3)
    everything = [f"t{turn}:item{index}" for turn in range(1, 5) for index in range(3)]
    ids, cursor = [], None
    while True:
        page = await store.list_items(thread.id, limit=5, cursor=cursor)
        ids += [item.item_id for item in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert ids == everything
    newest = await store.list_items(thread.id, limit=4, direction="desc")
    assert [item.item_id for item in newest.items] == everything[:-5:-1]
    back = await store.list_items(thread.id, limit=2, cursor=newest.backwards_cursor)
    assert [item.item_id for item in back.items] == everything[-1:]


@pytest.mark.anyio
async def test_items_of_one_turn_and_an_item_anchor_is_exclusive(store: SqliteStore) -> None:
    thread = await thread_with_turns(store, 3, items=4)
    page = await store.list_items(thread.id, turn_id="t2", limit=2)
    assert [item.item_id for item in page.items] == ["t2:item0", "t2:item1"]
    rest = await store.list_items(thread.id, turn_id="t2", cursor=page.next_cursor)
    assert [item.item_id for item in rest.items] == ["t2:item2", "t2:item3"]
    after = await store.list_items(thread.id, turn_id="t2", after_item_id="t2:item1")
    assert [item.item_id for item in after.items] == ["t2:item2", "t2:item3"]
    before = await store.list_items(thread.id, turn_id="t2", after_item_id="t2:item1", direction="desc")
    assert [item.item_id for item in before.items] == ["t2:item0"]
    with pytest.raises(InvalidCursor, match="another listing"):
        await store.list_items(thread.id, turn_id="t3", cursor=page.next_cursor)
    with pytest.raises(InvalidCursor, match="another listing"):
        await store.list_items(thread.id, cursor=page.next_cursor)
    with pytest.raises(InvalidCursor, match="not in this thread or turn"):
        await store.list_items(thread.id, turn_id="t3", after_item_id="t2:item1")


@pytest.mark.anyio
async def test_a_cursor_of_one_thread_does_not_page_another(store: SqliteStore) -> None:
    one, other = await thread_with_turns(store, 3), await thread_with_turns(store, 3)
    cursor = (await store.list_turns(one.id, limit=1)).next_cursor
    with pytest.raises(InvalidCursor, match="another listing"):
        await store.list_turns(other.id, cursor=cursor)
    item_cursor = (await store.list_items(one.id, limit=1)).next_cursor
    with pytest.raises(InvalidCursor, match="another listing"):
        await store.list_items(other.id, cursor=item_cursor)


@pytest.mark.anyio
async def test_items_for_turns_groups_each_turns_items_in_append_order(store: SqliteStore) -> None:
    thread = await thread_with_turns(store, 3, items=2)
    await store.write(WriteBatch(thread.id).put_item("t1", "t1:late", blob(late=True)))
    grouped = await store.items_for_turns(thread.id, ["t3", "t1", "unknown"])
    assert list(grouped) == ["t3", "t1", "unknown"]
    assert [item.item_id for item in grouped["t1"]] == ["t1:item0", "t1:item1", "t1:late"]
    assert [item.item_id for item in grouped["t3"]] == ["t3:item0", "t3:item1"]
    assert grouped["unknown"] == []
    assert msgspec.json.decode(grouped["t1"][2].data) == {"late": True}


@pytest.mark.anyio
async def test_a_page_of_turns_and_their_items_read_together_match_the_separate_reads(store: SqliteStore) -> None:
    thread = await thread_with_turns(store, 3, items=2)
    page, items = await store.turns_with_items(thread.id, limit=2, direction="asc")
    alone = await store.list_turns(thread.id, limit=2, direction="asc")
    assert page == alone
    assert items == await store.items_for_turns(thread.id, ["t1", "t2"])
    bare, none = await store.turns_with_items(thread.id, limit=2, direction="asc", with_items=False)
    assert (bare, none) == (alone, {})
    turn, its_items = await store.turn_with_items(thread.id, "t3")
    assert turn == await store.get_turn(thread.id, "t3")
    assert its_items == (await store.items_for_turns(thread.id, ["t3"]))["t3"]
    with pytest.raises(TurnNotFound):
        await store.turn_with_items(thread.id, "t9")
