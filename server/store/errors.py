"""The store's exception tree: what a caller of ``server.store`` may catch.

The store knows nothing of JSON-RPC; the handlers translate these into wire errors (Codex's wording, e.g.
``thread not found: <id>``), which is why each carries the offending identifier as an attribute::

    StoreError                 anything the store refuses or fails to do (closed store, disk error, newer schema)
    ├── ThreadNotFound         .thread_id: no thread with that id is stored
    ├── TurnNotFound           .thread_id, .turn_id: the thread has no such turn
    ├── InvalidCursor          a paging cursor that is malformed or was issued for another listing
    └── InvalidThreadId        .thread_id: not a UUID string (ids are checked before any SQL runs)

``sqlite3`` errors never escape: an unexpected one is wrapped in ``StoreError`` with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = ["InvalidCursor", "InvalidThreadId", "StoreError", "ThreadNotFound", "TurnNotFound"]


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class ThreadNotFound(StoreError):
    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread not found: {thread_id}")
        self.thread_id = thread_id


class TurnNotFound(StoreError):
    def __init__(self, thread_id: str, turn_id: str) -> None:
        super().__init__(f"turn not found: {turn_id}")
        self.thread_id = thread_id
        self.turn_id = turn_id


class InvalidCursor(StoreError):
    """The message says why (malformed, other listing, other direction) so a client can fix its request."""


class InvalidThreadId(StoreError):
    def __init__(self, thread_id: str) -> None:
        super().__init__(f"invalid thread id: {thread_id!r} is not a UUID")
        self.thread_id = thread_id
