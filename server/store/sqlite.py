"""``SqliteStore``: the embedded ``ThreadStore`` — one SQLite file under the Threadline home directory.

Lifecycle::

    async with SqliteStore.open(settings.home) as store:   # creates/migrates <home>/threadline.sqlite3
        await store.write(WriteBatch(thread_id).create_thread(record))
    # leaving the block drains queued writes and closes every connection (also when cancelled)

``await SqliteStore.connect(home)`` plus ``await store.close()`` is the same without the block.

Threads: writes go to the one writer thread (``writer.py``); reads run on anyio worker threads, at most
``max_readers`` at once, each on a pooled read-only connection (``connections.py``). Opening runs migrations
but never reads thread data, so start-up time does not grow with the number of threads. Ids are validated in
the calling task, before any thread hop, so ``InvalidThreadId`` costs nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread
import msgspec

from . import apply, reads
from .base import (
    CheckpointRecord,
    Direction,
    History,
    ItemRecord,
    Page,
    ThreadQuery,
    ThreadRecord,
    ThreadStore,
    TurnRecord,
    check_thread_id,
)
from .batch import WriteBatch
from .connections import ReadPool, connect_writer, prepare_files
from .errors import StoreError
from .migrations import migrate
from .writer import Writer

__all__ = ["SqliteStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class SqliteStore:
    """Implements ``base.ThreadStore``; see that Protocol for each method's contract."""

    def __init__(self, path: Path, writer: Writer, readers: ReadPool, max_readers: int) -> None:
        self.path = path
        self._writer = writer
        self._readers = readers
        self._limiter = anyio.CapacityLimiter(max_readers)
        self._closed = False

    @classmethod
    async def connect(cls, home: str | os.PathLike[str], *, max_readers: int = 4) -> SqliteStore:
        home_path = Path(home).expanduser()

        def prepare() -> tuple[Path, sqlite3.Connection]:
            path = prepare_files(home_path)
            conn = connect_writer(path)
            try:
                found = migrate(conn)
            except BaseException:
                conn.close()
                raise
            logger.info("store opened at %s (schema version %d)", path, found)
            return path, conn

        try:
            path, conn = await anyio.to_thread.run_sync(prepare)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store in {home_path}: {exc}") from exc
        return cls(path, Writer(conn), ReadPool(path), max_readers)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, home: str | os.PathLike[str], *, max_readers: int = 4) -> AsyncIterator[SqliteStore]:
        store = await cls.connect(home, max_readers=max_readers)
        try:
            yield store
        finally:
            # Shielded: queued batches were promised to their writers; cancellation must not drop them.
            with anyio.CancelScope(shield=True):
                await store.close()

    async def close(self) -> None:
        self._closed = True
        # Readers first, so the writer's connection is the last one and SQLite checkpoints and removes the WAL.
        self._readers.close()
        await self._writer.close()

    # --- writes --------------------------------------------------------------------------------------------------

    async def write(self, batch: WriteBatch) -> None:
        thread_id, ops = batch.thread_id, tuple(batch.ops)  # a snapshot: the caller may reuse its builder
        await self._writer.run(lambda conn: apply.apply_batch(conn, thread_id, ops))

    async def revert(self, thread_id: str, before_turn_id: str) -> ThreadRecord:
        thread_id = check_thread_id(thread_id)
        return await self._writer.run(lambda conn: apply.revert(conn, thread_id, before_turn_id))

    async def delete(self, thread_id: str) -> None:
        thread_id = check_thread_id(thread_id)
        await self._writer.run(lambda conn: apply.delete(conn, thread_id))

    async def fork(self, source_id: str, new_thread: ThreadRecord, last_turn_id: str | None = None, *,
                   before_turn_id: str | None = None) -> ThreadRecord:
        source_id = check_thread_id(source_id)
        new_id = check_thread_id(new_thread.id)
        record = msgspec.structs.replace(new_thread, id=new_id)
        return await self._writer.run(lambda conn: apply.fork(conn, source_id, record, last_turn_id, before_turn_id))

    # --- reads ---------------------------------------------------------------------------------------------------

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("store is closed")
        try:
            return await anyio.to_thread.run_sync(self._readers.run, fn, limiter=self._limiter)
        except sqlite3.Error as exc:
            raise StoreError(f"store read failed: {exc}") from exc

    async def get_thread(self, thread_id: str) -> ThreadRecord:
        thread_id = check_thread_id(thread_id)
        return await self._read(lambda conn: reads.get_thread(conn, thread_id))

    async def list_threads(self, query: ThreadQuery) -> Page[ThreadRecord]:
        return await self._read(lambda conn: reads.list_threads(conn, query))

    async def get_turn(self, thread_id: str, turn_id: str) -> TurnRecord:
        thread_id = check_thread_id(thread_id)
        return await self._read(lambda conn: reads.get_turn(conn, thread_id, turn_id))

    async def list_turns(
        self, thread_id: str, *, cursor: str | None = None, limit: int = 50, direction: Direction = "desc"
    ) -> Page[TurnRecord]:
        thread_id = check_thread_id(thread_id)
        return await self._read(lambda conn: reads.list_turns(conn, thread_id, cursor, limit, direction))

    async def newest_turns_cursor(self, thread_id: str) -> str | None:
        thread_id = check_thread_id(thread_id)
        return await self._read(lambda conn: reads.newest_turns_cursor(conn, thread_id))

    async def newest_items_cursor(self, thread_id: str) -> str | None:
        thread_id = check_thread_id(thread_id)
        return await self._read(lambda conn: reads.newest_items_cursor(conn, thread_id))

    async def list_items(
        self,
        thread_id: str,
        *,
        turn_id: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        direction: Direction = "asc",
        after_item_id: str | None = None,
    ) -> Page[ItemRecord]:
        thread_id = check_thread_id(thread_id)
        return await self._read(
            lambda conn: reads.list_items(conn, thread_id, turn_id, cursor, limit, direction, after_item_id)
        )

    async def items_for_turns(self, thread_id: str, turn_ids: Sequence[str]) -> dict[str, list[ItemRecord]]:
        thread_id, turn_ids = check_thread_id(thread_id), list(turn_ids)
        return await self._read(lambda conn: reads.items_for_turns(conn, thread_id, turn_ids))

    async def turns_with_items(
        self, thread_id: str, *, cursor: str | None = None, limit: int = 50, direction: Direction = "desc",
        with_items: bool = True,
    ) -> tuple[Page[TurnRecord], dict[str, list[ItemRecord]]]:
        thread_id = check_thread_id(thread_id)
        return await self._read(
            lambda conn: reads.turns_with_items(conn, thread_id, cursor, limit, direction, with_items)
        )

    async def turn_with_items(self, thread_id: str, turn_id: str) -> tuple[TurnRecord, list[ItemRecord]]:
        thread_id = check_thread_id(thread_id)
        return await self._read(lambda conn: reads.turn_with_items(conn, thread_id, turn_id))

    async def load_history(self, thread_id: str, *, last_turn_id: str | None = None,
                           before_turn_id: str | None = None) -> History:
        thread_id = check_thread_id(thread_id)
        return await self._read(lambda conn: reads.load_history(conn, thread_id, last_turn_id, before_turn_id))

    async def latest_checkpoint(self, thread_id: str) -> CheckpointRecord | None:
        thread_id = check_thread_id(thread_id)
        return await self._read(lambda conn: reads.latest_checkpoint(conn, thread_id))


if TYPE_CHECKING:

    def _implements_thread_store(store: SqliteStore) -> ThreadStore:
        return store  # a type checker verifies SqliteStore against the Protocol here
