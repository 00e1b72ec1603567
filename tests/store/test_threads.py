"""Thread records, write batches and the store's lifecycle (our store contract; see server/store/base.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import anyio
import msgspec
import pytest

from server.store import (
    InvalidThreadId,
    SqliteStore,
    StoreError,
    ThreadNotFound,
    ThreadQuery,
    TurnNotFound,
    WriteBatch,
)

from .factories import blob, history_blobs, new_id, thread_record, turn_batch


@pytest.mark.anyio
async def test_a_created_thread_reads_back_with_its_blob_unchanged(store: SqliteStore) -> None:
    record = thread_record(name="Fix the parser", preview="please fix", source_kind="vscode")
    await store.write(WriteBatch(record.id).create_thread(record))
    assert await store.get_thread(record.id) == record


@pytest.mark.anyio
async def test_thread_ids_must_be_canonical_uuids_and_are_normalised_to_lower_case(store: SqliteStore) -> None:
    for bad in ["", "not-a-uuid", "../../etc/passwd", "{" + new_id() + "}", new_id().replace("-", "")]:
        with pytest.raises(InvalidThreadId):
            await store.get_thread(bad)
        with pytest.raises(InvalidThreadId):
            WriteBatch(bad)
    record = thread_record()
    await store.write(WriteBatch(record.id.upper()).create_thread(record))
    assert (await store.get_thread(record.id.upper())).id == record.id


@pytest.mark.anyio
async def test_reading_or_writing_an_unknown_thread_raises_thread_not_found(store: SqliteStore) -> None:
    missing = new_id()
    with pytest.raises(ThreadNotFound) as caught:
        await store.get_thread(missing)
    assert caught.value.thread_id == missing
    assert str(caught.value) == f"thread not found: {missing}"
    for call in (
        store.write(WriteBatch(missing).touch(5)),
        store.write(WriteBatch(missing)),
        store.list_turns(missing),
        store.list_items(missing),
        store.load_history(missing),
    ):
        with pytest.raises(ThreadNotFound):
            await call


@pytest.mark.anyio
async def test_creating_an_existing_thread_again_is_refused(store: SqliteStore) -> None:
    record = thread_record()
    await store.write(WriteBatch(record.id).create_thread(record))
    with pytest.raises(StoreError, match="already exists"):
        await store.write(WriteBatch(record.id).create_thread(record))


@pytest.mark.anyio
async def test_update_thread_sets_only_the_given_fields_and_none_clears_the_name(store: SqliteStore) -> None:
    record = thread_record(name="old name", preview="first words")
    await store.write(WriteBatch(record.id).create_thread(record))
    await store.write(WriteBatch(record.id).update_thread(name="new name", archived=True))
    updated = await store.get_thread(record.id)
    assert msgspec.structs.replace(record, name="new name", archived=True) == updated
    await store.write(WriteBatch(record.id).update_thread(name=None).touch(record.updated_at + 60))
    cleared = await store.get_thread(record.id)
    assert (cleared.name, cleared.updated_at, cleared.preview) == (None, record.updated_at + 60, "first words")


@pytest.mark.anyio
async def test_git_info_is_kept_beside_the_blob_and_a_write_of_the_blob_leaves_it_alone(store: SqliteStore) -> None:
    record = thread_record(git_info=b'{"sha":"abc"}')
    await store.write(WriteBatch(record.id).create_thread(record))
    assert (await store.get_thread(record.id)).git_info == b'{"sha":"abc"}'
    await store.write(WriteBatch(record.id).update_thread(data=blob(kind="meta")))
    assert (await store.get_thread(record.id)).git_info == b'{"sha":"abc"}'
    await store.write(WriteBatch(record.id).update_thread(git_info=None))
    assert (await store.get_thread(record.id)).git_info is None


@pytest.mark.anyio
async def test_a_failing_batch_leaves_nothing_behind(store: SqliteStore) -> None:
    record = thread_record()
    batch = WriteBatch(record.id).create_thread(record).put_turn("t1", "completed", blob(id="t1"))
    batch.put_item("no-such-turn", "i1", blob(id="i1"))
    with pytest.raises(TurnNotFound) as caught:
        await store.write(batch)
    assert (caught.value.thread_id, caught.value.turn_id) == (record.id, "no-such-turn")
    with pytest.raises(ThreadNotFound):
        await store.get_thread(record.id)


@pytest.mark.anyio
async def test_concurrent_batches_commit_or_fail_each_on_their_own(store: SqliteStore) -> None:
    records = [thread_record() for _ in range(60)]
    outcomes: dict[str, str] = {}

    async def write(index: int) -> None:
        record = records[index]
        batch = turn_batch(record.id, "t1")
        batch.ops.insert(0, WriteBatch(record.id).create_thread(record).ops[0])
        if index % 4 == 0:  # poison every fourth batch at its very end
            batch.append_history("missing-turn", [blob(x=1)])
        try:
            await store.write(batch)
            outcomes[record.id] = "ok"
        except TurnNotFound:
            outcomes[record.id] = "failed"

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for index in range(len(records)):
                tg.start_soon(write, index)
    for index, record in enumerate(records):
        if index % 4 == 0:
            assert outcomes[record.id] == "failed"
            with pytest.raises(ThreadNotFound):
                await store.get_thread(record.id)
        else:
            assert outcomes[record.id] == "ok"
            assert (await store.get_thread(record.id)).turn_count == 1
            assert len(await history_blobs(store, record.id)) == 2


@pytest.mark.anyio
async def test_closing_finishes_every_write_already_queued(home: Path) -> None:
    records = [thread_record() for _ in range(100)]
    store = await SqliteStore.connect(home)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for record in records:
                tg.start_soon(store.write, WriteBatch(record.id).create_thread(record))
            await anyio.wait_all_tasks_blocked()  # every write is queued and waiting for its commit
            await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.write(WriteBatch(records[0].id).touch(1))
    with pytest.raises(StoreError, match="closed"):
        await store.get_thread(records[0].id)
    async with SqliteStore.open(home) as reopened:
        page = await reopened.list_threads(ThreadQuery(limit=1000))
        assert {thread.id for thread in page.items} == {record.id for record in records}


@pytest.mark.anyio
async def test_home_is_private_0700_and_database_files_0600(tmp_path: Path) -> None:
    home = tmp_path / "nested" / "home"
    async with SqliteStore.open(home) as store:
        record = thread_record()
        await store.write(WriteBatch(record.id).create_thread(record))
        files = sorted(home.iterdir())
        assert [path.name for path in files] == [
            "threadline.sqlite3",
            "threadline.sqlite3-shm",
            "threadline.sqlite3-wal",
        ]
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


@pytest.mark.anyio
async def test_an_existing_home_open_to_others_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    async with SqliteStore.open(home):
        pass
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "threadline.sqlite3").stat().st_mode) == 0o600


@pytest.mark.anyio
async def test_a_home_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the store"):
        await SqliteStore.connect(blocker / "home")
