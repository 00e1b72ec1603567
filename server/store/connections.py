"""Files and connections: the home directory, the database file, the writer connection and the reader pool.

- The home directory is created 0700 (an existing one is tightened to 0700) and the database file 0600 before
  SQLite ever opens it; SQLite gives its ``-wal`` and ``-shm`` files the database file's mode.
- The writer connection sets WAL and ``synchronous=NORMAL``: a commit is a WAL append, and after a crash
  (SIGKILL included) the database holds exactly the transactions that committed. Only power loss can drop the
  last few, never tear one.
- Readers are read-only connections (``mode=ro`` plus ``query_only``) kept in a small pool; each read runs in
  one explicit transaction so a multi-statement read sees one snapshot. The pool is bounded by the same
  ``CapacityLimiter`` that bounds worker threads, so a free connection (or room for a new one) always exists.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["ReadPool", "connect_writer", "prepare_files"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
DB_NAME = "threadline.sqlite3"
_BUSY_TIMEOUT_MS = 10_000


def prepare_files(home: Path) -> Path:
    """Create or tighten ``home`` (0700) and the database file (0600); return the database path."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(home.stat().st_mode)
    if mode != 0o700:
        logger.info("tightening %s from %o to 700", home, mode)
        home.chmod(0o700)
    path = home / DB_NAME
    # O_CREAT with 0600 so there is no moment when the file exists with the umask's wider mode.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    os.close(fd)
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if candidate.exists() and stat.S_IMODE(candidate.stat().st_mode) != 0o600:
            candidate.chmod(0o600)
    return path


def connect_writer(path: Path) -> sqlite3.Connection:
    # isolation_level=None: the writer issues BEGIN/SAVEPOINT/COMMIT itself; check_same_thread=False because the
    # connection is opened (and migrated) in a worker thread, then owned by the writer thread alone.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1000)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not switch {path} to WAL (journal_mode is {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_reader(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
        timeout=_BUSY_TIMEOUT_MS / 1000,
    )
    conn.execute("PRAGMA query_only = ON")
    return conn


class ReadPool:
    """Reusable read-only connections; ``run`` is called from worker threads."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._take()
        try:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                if conn.in_transaction:  # read-only: nothing to undo, COMMIT only ends the snapshot
                    conn.execute("COMMIT")
        finally:
            self._give_back(conn)

    def close(self) -> None:
        """Close idle connections now; a connection still in use is closed when its read returns."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _connect_reader(self._path)

    def _give_back(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()
