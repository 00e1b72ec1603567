"""The one writer thread: every write to the database runs here, in queue order, with group commit.

Why a thread of our own rather than ``anyio.to_thread``: SQLite allows one writer at a time, so one connection
owned by one thread never waits on its own locks, and jobs that queue up while a commit is in flight are
committed together in the next transaction (group commit: one WAL commit for many batches).

Contract:
- ``await writer.run(fn)`` queues ``fn(conn)`` and returns its result once the transaction holding it has
  committed, or raises what ``fn`` raised (``sqlite3.Error`` becomes ``StoreError``).
- Each job runs inside its own SAVEPOINT: a failing job is rolled back alone and the rest of its group still
  commits; if the COMMIT itself fails, every job of the group fails. Either way a job is all-or-nothing.
- Cancelling the awaiting task does not withdraw a queued job; it still commits (or not) in order.
- ``close()`` refuses new jobs, lets the thread finish everything already queued, then closes the connection.
- Results go back to the awaiting task through ``anyio.from_thread.run_sync`` with the event-loop token captured
  when the job was queued, so the writer never touches event-loop state from its own thread.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from .errors import StoreError

__all__ = ["Writer"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()
# A group is bounded so one burst cannot hold the write lock (and every waiter's result) for long.
_MAX_GROUP = 128


class _Job(Generic[T]):
    __slots__ = ("done", "error", "fn", "result", "token")

    def __init__(self, fn: Callable[[sqlite3.Connection], T]) -> None:
        self.fn = fn
        self.token = anyio.lowlevel.current_token()
        self.done = anyio.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class Writer:
    def __init__(self, conn: sqlite3.Connection, *, name: str = "threadline-store-writer") -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        # Daemon: a process that exits without close() must not hang on this thread; WAL makes that safe.
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("store is closed")
        job = _Job(fn)
        self._queue.put(job)
        await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        await anyio.to_thread.run_sync(self._thread.join)

    # --- the writer thread -------------------------------------------------------------------------------------

    def _loop(self) -> None:
        stopping = False
        try:
            while not stopping:
                first = self._queue.get()
                if first is _STOP:
                    break
                group: list[_Job[Any]] = [first]
                while len(group) < _MAX_GROUP:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is _STOP:
                        stopping = True
                        break
                    group.append(job)
                self._commit(group)
                self._deliver(group)
        finally:
            self._conn.close()

    def _commit(self, group: list[_Job[Any]]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in group:
                conn.execute("SAVEPOINT job")
                try:
                    job.result = job.fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO job")
                    job.error = _as_store_error(exc)
                conn.execute("RELEASE job")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            logger.error("store commit of %d job(s) failed: %s", len(group), exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in group:
                job.result = None
                if job.error is None:
                    job.error = _as_store_error(exc)

    def _deliver(self, group: list[_Job[Any]]) -> None:
        # One hop into each event loop per group (normally there is one loop), not one per job.
        start = 0
        while start < len(group):
            token = group[start].token
            end = start + 1
            while end < len(group) and group[end].token == token:
                end += 1
            events = [job.done for job in group[start:end]]
            try:
                anyio.from_thread.run_sync(_set_all, events, token=token)
            except RuntimeError:  # that event loop has ended; nobody is left to wake
                logger.debug("store writer could not wake %d waiter(s): event loop is gone", len(events))
            start = end


def _set_all(events: list[anyio.Event]) -> None:
    for event in events:
        event.set()


def _as_store_error(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.Error):
        wrapped = StoreError(f"store write failed: {exc}")
        wrapped.__cause__ = exc
        return wrapped
    return exc
