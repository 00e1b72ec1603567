"""Schema migrations (``PRAGMA user_version``) and what opening a store does — and does not — read."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from protocol._generated.types import AudioUserInput, LocalImageUserInput, TextUserInput, UserMessageThreadItem
from server.store import SqliteStore, StoreError, WriteBatch, connections
from server.store.migrations import LATEST_VERSION, MIGRATIONS, migrate, schema_version

from .factories import new_id, thread_record


@contextlib.contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def index_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


@pytest.mark.anyio
async def test_a_fresh_home_is_migrated_to_the_latest_version(home: Path) -> None:
    async with SqliteStore.open(home) as store:
        path = store.path
    with raw(path) as conn:
        assert schema_version(conn) == LATEST_VERSION == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.anyio
async def test_a_version_1_database_is_migrated_and_keeps_its_threads(home: Path) -> None:
    path = connections.prepare_files(home)
    thread_id = new_id()
    with raw(path) as conn:
        migrate(conn, MIGRATIONS[:1])
        conn.execute(
            "INSERT INTO threads (id, created_at, updated_at, preview, cwd, model_provider, source_kind, archived,"
            " turn_count, data) VALUES (?, 1, 2, 'hello', '/w', 'openai', 'cli', 0, 0, x'7b7d')",
            (thread_id,),
        )
        assert schema_version(conn) == 1
        assert "threads_by_cwd_created" not in index_names(conn)
    async with SqliteStore.open(home) as store:
        thread = await store.get_thread(thread_id)
        assert (thread.preview, thread.cwd, thread.data, thread.git_info) == ("hello", "/w", b"{}", None)
    with raw(path) as conn:
        assert schema_version(conn) == LATEST_VERSION
        assert {"threads_by_cwd_created", "threads_by_cwd_updated"} <= index_names(conn)


@pytest.mark.anyio
async def test_a_database_from_a_newer_threadline_is_refused(home: Path) -> None:
    path = connections.prepare_files(home)
    with raw(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this Threadline"):
        await SqliteStore.connect(home)
    with raw(path) as conn:
        assert schema_version(conn) == LATEST_VERSION + 1


def test_a_failing_migration_leaves_the_previous_version_intact(tmp_path: Path) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration bug")

    with raw(tmp_path / "db.sqlite3") as conn:
        migrate(conn, MIGRATIONS[:1])
        with pytest.raises(RuntimeError, match="migration bug"):
            migrate(conn, [*MIGRATIONS[:1], broken])
        assert schema_version(conn) == 1
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
        assert migrate(conn) == 1
        assert schema_version(conn) == LATEST_VERSION


@pytest.mark.anyio
async def test_opening_a_store_reads_no_thread_data(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up must not scale with history: no statement during open touches a data table."""
    async with SqliteStore.open(home) as store:
        for _ in range(3):
            record = thread_record()
            await store.write(WriteBatch(record.id).create_thread(record))
    statements: list[str] = []
    real_connect = connections.connect_writer

    def traced(path: Path) -> sqlite3.Connection:
        conn = real_connect(path)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr("server.store.sqlite.connect_writer", traced)
    store = await SqliteStore.connect(home)
    opening = list(statements)
    await store.close()
    assert opening, "the trace should have seen the migration check"
    for statement in opening:
        assert not any(table in statement for table in ("threads", "turns", "items", "history", "checkpoints"))


@pytest.mark.anyio
async def test_version_4_gives_threads_whose_first_input_had_no_text_codex_s_placeholder_preview(home: Path) -> None:
    """thread/list lists a thread once it has a preview; threads stored when an image-only first message left the
    preview empty get "[Image]" (or "[Audio]"), so an upgrade does not drop them from the list."""

    def user_message(*content: object) -> bytes:
        return msgspec.json.encode(UserMessageThreadItem(id=new_id(), content=list(content), client_id=None))

    answer = msgspec.json.encode({"type": "agentMessage", "id": "a", "text": "[Image] is not a user's"})
    image, audio = LocalImageUserInput(path="/tmp/cat.png", detail=None), AudioUserInput(url="https://x/a.wav")
    blank = TextUserInput(text="   ", text_elements=[])
    firsts: dict[str, list[bytes]] = {
        "[Image]": [user_message(blank, image)],
        "[Audio]": [answer, user_message(audio, image)],  # the first clip or picture decides
        "": [user_message(blank), answer],  # nothing Codex would preview: stays unlisted
    }
    ids: dict[str, str] = {}
    async with SqliteStore.open(home) as store:
        for expected, items in firsts.items():
            record = thread_record()
            batch = WriteBatch(record.id).create_thread(record).put_turn("t1", "completed", b"{}")
            for n, data in enumerate(items):
                batch.put_item("t1", f"i{n}", data)
            await store.write(batch)
            ids[expected] = record.id
        untouched = thread_record(preview="typed words")
        await store.write(WriteBatch(untouched.id).create_thread(untouched).put_turn("t1", "completed", b"{}")
                          .put_item("t1", "i0", user_message(image)))
        no_turn = thread_record()
        await store.write(WriteBatch(no_turn.id).create_thread(no_turn))
        path = store.path
    with raw(path) as conn:
        conn.execute("PRAGMA user_version = 3")  # as stored by the version before
    async with SqliteStore.open(home) as store:
        previews = {expected: (await store.get_thread(thread_id)).preview for expected, thread_id in ids.items()}
        assert previews == {"[Image]": "[Image]", "[Audio]": "[Audio]", "": ""}
        assert (await store.get_thread(untouched.id)).preview == "typed words"
        assert (await store.get_thread(no_turn.id)).preview == ""
    with raw(path) as conn:
        assert schema_version(conn) == LATEST_VERSION


@pytest.mark.anyio
async def test_version_4_passes_over_item_blobs_that_are_not_json_and_still_gives_the_rest_their_preview(
        home: Path) -> None:
    """A damaged item must not stop the daemon from starting: the migration reads items of threads without a
    preview, and one that is not JSON (or not the shape it looks into) is passed over like any item without media."""
    image = msgspec.json.encode(UserMessageThreadItem(id=new_id(), content=[
        LocalImageUserInput(path="/tmp/cat.png", detail=None)], client_id=None))
    damaged = {
        "not JSON": b"{garbage",
        "content not a list": msgspec.json.encode({"type": "userMessage", "id": "u", "content": "words"}),
        "content parts not objects": msgspec.json.encode({"type": "userMessage", "id": "u", "content": ["w", 3]}),
    }
    async with SqliteStore.open(home) as store:
        record = thread_record()
        batch = WriteBatch(record.id).create_thread(record).put_turn("t1", "completed", b"{}")
        for n, data in enumerate([*damaged.values(), image]):
            batch.put_item("t1", f"i{n}", data)
        await store.write(batch)
        path = store.path
    with raw(path) as conn:
        conn.execute("PRAGMA user_version = 3")
    async with SqliteStore.open(home) as store:
        assert (await store.get_thread(record.id)).preview == "[Image]"
    with raw(path) as conn:
        assert schema_version(conn) == LATEST_VERSION
