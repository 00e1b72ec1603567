"""The SQLite schema as an ordered list of migrations, tracked by ``PRAGMA user_version``.

``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``; a fresh file is version 0. Each migration
runs in its own ``BEGIN IMMEDIATE`` transaction together with the version bump, so a crash mid-migration leaves
the previous version intact, and two processes opening the same file at once do not both apply a step (the
version is re-read under the write lock). A database newer than this code is refused, never downgraded.

Rules for adding one: append a function, never edit a released one; only statements that are valid inside
a transaction (no ``executescript``, no ``VACUUM``); no data-wide rewrites that would make start-up scale with
history.

Schema notes (why it looks like this):
- threads carry an integer ``pk`` that child rows use, so the 36-byte UUID is stored once per thread, not in
  every item, history row and index entry; ``id`` stays the public key.
- child rows reference their turn through ``(thread_pk, turn_id)`` with ``ON DELETE CASCADE``: an item,
  history entry or checkpoint cannot outlive its turn, and revert is one ``DELETE`` on turns.
- every listing has an index that ends in its sort order, so a page is an index range scan (no OFFSET, no sort).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence

from .errors import StoreError

__all__ = ["LATEST_VERSION", "MIGRATIONS", "Migration", "migrate", "schema_version"]

logger = logging.getLogger(__name__)

Migration = Callable[[sqlite3.Connection], None]


def _run(conn: sqlite3.Connection, statements: Sequence[str]) -> None:
    for statement in statements:
        conn.execute(statement)


def _v1_core_tables(conn: sqlite3.Connection) -> None:
    _run(
        conn,
        [
            """CREATE TABLE threads (
                pk INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                name TEXT,
                preview TEXT NOT NULL,
                cwd TEXT NOT NULL,
                model_provider TEXT NOT NULL,
                source_kind TEXT NOT NULL,
                archived INTEGER NOT NULL,
                forked_from_id TEXT,
                turn_count INTEGER NOT NULL,
                data BLOB NOT NULL
            )""",
            # (archived, sort, id): thread/list always filters on archived, then walks one sort order.
            "CREATE INDEX threads_by_created ON threads (archived, created_at, id)",
            "CREATE INDEX threads_by_updated ON threads (archived, updated_at, id)",
            """CREATE TABLE turns (
                thread_pk INTEGER NOT NULL REFERENCES threads (pk) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                turn_id TEXT NOT NULL,
                status TEXT NOT NULL,
                data BLOB NOT NULL,
                UNIQUE (thread_pk, seq),
                UNIQUE (thread_pk, turn_id)
            )""",
            """CREATE TABLE items (
                thread_pk INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                turn_id TEXT NOT NULL,
                item_id TEXT NOT NULL,
                started_at_ms INTEGER,
                completed_at_ms INTEGER,
                data BLOB NOT NULL,
                UNIQUE (thread_pk, seq),
                UNIQUE (thread_pk, item_id),
                FOREIGN KEY (thread_pk, turn_id) REFERENCES turns (thread_pk, turn_id) ON DELETE CASCADE
            )""",
            "CREATE INDEX items_by_turn ON items (thread_pk, turn_id, seq)",
            # History entries and checkpoints share one per-thread sequence (see base.py).
            """CREATE TABLE history (
                thread_pk INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                turn_id TEXT NOT NULL,
                data BLOB NOT NULL,
                UNIQUE (thread_pk, seq),
                FOREIGN KEY (thread_pk, turn_id) REFERENCES turns (thread_pk, turn_id) ON DELETE CASCADE
            )""",
            "CREATE INDEX history_by_turn ON history (thread_pk, turn_id)",
            """CREATE TABLE checkpoints (
                thread_pk INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                turn_id TEXT NOT NULL,
                item_id TEXT NOT NULL,
                mode TEXT NOT NULL,
                trigger TEXT NOT NULL,
                tokens_before INTEGER NOT NULL,
                tokens_after INTEGER NOT NULL,
                items_replaced INTEGER NOT NULL,
                items_kept INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                replacement BLOB NOT NULL,
                UNIQUE (thread_pk, seq),
                FOREIGN KEY (thread_pk, turn_id) REFERENCES turns (thread_pk, turn_id) ON DELETE CASCADE
            )""",
            "CREATE INDEX checkpoints_by_turn ON checkpoints (thread_pk, turn_id)",
        ],
    )


def _v2_cwd_indexes(conn: sqlite3.Connection) -> None:
    # Clients list "threads of this project": an equality on cwd then the sort order is a range scan instead of
    # a filter over every thread. (Several cwds at once deliberately do not use these; see reads.py.)
    _run(
        conn,
        [
            "CREATE INDEX threads_by_cwd_created ON threads (archived, cwd, created_at, id)",
            "CREATE INDEX threads_by_cwd_updated ON threads (archived, cwd, updated_at, id)",
        ],
    )


def _v3_git_info(conn: sqlite3.Connection) -> None:
    # NULL for every existing thread: "not looked up yet", which is what they are. Adding a nullable column
    # rewrites no rows.
    _run(conn, ["ALTER TABLE threads ADD COLUMN git_info BLOB"])


def _v4_media_previews(conn: sqlite3.Connection) -> None:
    # thread/list now lists a (non-archived) thread once it has a preview, as Codex does, instead of once it has a
    # turn. A first input without text (an image, an audio clip) used to leave the preview "" and now gives
    # Codex's placeholder; threads stored before that get it here, so an upgrade does not drop them from the
    # list. One pass over threads, reading items only of threads with turns and no preview (few: those whose user
    # messages never had text), and only their user messages' content.
    # SQLite's JSON functions raise on text that is not JSON, and one damaged item would then keep every daemon
    # from starting: each one reads an expression that is '{}' for what it cannot read (a CASE, since the order
    # in which WHERE terms run is the planner's). Edited after release for that alone: on every database where
    # the first form completed, this one reads the same values.
    item = "CASE WHEN json_valid(CAST(items.data AS TEXT)) THEN CAST(items.data AS TEXT) ELSE '{}' END"
    part_type = "json_extract(CASE WHEN part.type = 'object' THEN part.value ELSE '{}' END, '$.type')"
    media = f"{part_type} IN ('image', 'localImage', 'audio', 'localAudio')"
    _run(
        conn,
        [
            f"""UPDATE threads SET preview = COALESCE((
                SELECT CASE WHEN {part_type} IN ('image', 'localImage')
                            THEN '[Image]' ELSE '[Audio]' END
                FROM items, json_each({item}, '$.content') AS part
                WHERE items.thread_pk = threads.pk
                  AND json_extract({item}, '$.type') = 'userMessage'
                  AND {media}
                ORDER BY items.seq, part.key
                LIMIT 1
            ), '')
            WHERE preview = '' AND turn_count > 0""",
        ],
    )


MIGRATIONS: tuple[Migration, ...] = (_v1_core_tables, _v2_cwd_indexes, _v3_git_info, _v4_media_previews)
LATEST_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring ``conn``'s database to ``len(migrations)``; return the version found before migrating.

    ``conn`` must be in autocommit mode (``isolation_level=None``): this function owns the transactions.
    """
    found = schema_version(conn)
    if found > len(migrations):
        raise StoreError(
            f"database schema version {found} is newer than this Threadline understands ({len(migrations)}); "
            "upgrade Threadline or use another THREADLINE_HOME"
        )
    for target in range(found + 1, len(migrations) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) < target:  # another process may have migrated while we waited for the lock
                migrations[target - 1](conn)
                conn.execute(f"PRAGMA user_version = {target:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        logger.info("store schema migrated to version %d", target)
    return found
