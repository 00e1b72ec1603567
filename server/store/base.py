"""What a thread store is: the records it keeps, the queries it answers and the ``ThreadStore`` Protocol.

Contract for every backend (SQLite today, a server database later, as a new module beside ``sqlite.py``):

- The store is agnostic of protocol types. Everything it does not index is an opaque JSON blob (``data``,
  ``replacement``: bytes the caller encoded with msgspec), returned byte for byte, and never decoded by the
  store, so a damaged blob fails no listing or read here: what to do with it is the caller's decision. The one
  exception is a checkpoint's ``replacement``, which the store splits into entries: one that does not parse as
  a JSON array is passed over as if that compaction had not happened (see ``History``).
- Ordinals (``seq``) are assigned by the store. Turn seqs are contiguous from 1 within a thread; item seqs and
  history seqs only grow in append order. History entries and checkpoints share one sequence per thread, so
  "entries appended after a checkpoint" is well defined even within one batch.
- Writes are ``WriteBatch``es, each all-or-nothing; ``write`` returns once the batch is durable in the sense of
  the backend (committed). Readers see a prefix of committed batches, never part of one.
- Listings are keyset-paged: cursors are opaque strings that stay valid while new rows are added, and a cursor
  issued by another listing (kind, thread, turn filter, sort key or direction) raises ``InvalidCursor``.
- Thread ids are UUID strings (``InvalidThreadId`` otherwise), normalised to lower case.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar

import msgspec

from .errors import InvalidThreadId

if TYPE_CHECKING:
    from .batch import WriteBatch

__all__ = [
    "CheckpointRecord",
    "Direction",
    "History",
    "ItemRecord",
    "Page",
    "SortKey",
    "ThreadQuery",
    "ThreadRecord",
    "ThreadStore",
    "TurnRecord",
    "check_thread_id",
]

Direction = Literal["asc", "desc"]
SortKey = Literal["created_at", "updated_at"]
T = TypeVar("T")

# Canonical textual form only: "{...}", "urn:uuid:" and hyphen-less spellings would give one thread several ids.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def check_thread_id(thread_id: object) -> str:
    """Return the id in canonical lower case, or raise ``InvalidThreadId``."""
    if not isinstance(thread_id, str) or _UUID.fullmatch(thread_id) is None:
        raise InvalidThreadId(str(thread_id))
    return thread_id.lower()


class ThreadRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One thread's indexed columns plus the caller's blob with everything else about it."""

    id: str
    created_at: int  # seconds since the epoch, as on the wire
    updated_at: int
    cwd: str
    model_provider: str
    source_kind: str  # "appServer", "vscode", "cli", "subAgent", ...
    preview: str = ""
    name: str | None = None
    archived: bool = False
    forked_from_id: str | None = None
    turn_count: int = 0  # maintained by the store: put_turn of a new turn, revert and fork adjust it
    data: bytes = b"{}"
    git_info: bytes | None = None
    """The caller's encoding of the thread's Git state; None until it was looked up. A column of its own, not part
    of ``data``, so a metadata patch never races a turn's write of the blob."""


class TurnRecord(msgspec.Struct, frozen=True, kw_only=True):
    thread_id: str
    turn_id: str
    seq: int  # 1, 2, 3... within the thread
    status: str
    data: bytes  # the Turn JSON without its items


class ItemRecord(msgspec.Struct, frozen=True, kw_only=True):
    thread_id: str
    turn_id: str
    item_id: str
    seq: int  # append order within the thread (gaps possible after a revert)
    data: bytes  # ThreadItem JSON
    started_at_ms: int | None = None
    completed_at_ms: int | None = None


class CheckpointRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A compaction: ``replacement`` (a JSON array) replaces every model-visible entry before ``seq``."""

    thread_id: str
    turn_id: str
    item_id: str  # the contextCompaction item that announced it
    seq: int  # position in the thread's history sequence
    mode: str
    trigger: str
    tokens_before: int
    tokens_after: int
    items_replaced: int
    items_kept: int
    created_at: int
    replacement: bytes


class History(msgspec.Struct, frozen=True, kw_only=True):
    """A thread's model-visible history: the latest readable checkpoint's replacement, then every entry after it.

    Each entry is ``(seq, data)``: a history row's own seq, or for an entry of a replacement the checkpoint's, so a
    caller can name the row an entry it cannot decode came from. ``passed_over`` lists the seqs of later
    checkpoints whose replacement does not parse: the history is then what it was before them (the entries they
    had replaced are still stored), which loses nothing the model knew but is as long as before the compaction.
    """

    entries: list[tuple[int, bytes]]
    passed_over: tuple[int, ...] = ()


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page. ``next_cursor`` continues in the same direction (None on the last page);
    ``backwards_cursor`` pages the opposite direction from the first element, which it includes again."""

    items: list[T]
    next_cursor: str | None = None
    backwards_cursor: str | None = None


class ThreadQuery(msgspec.Struct, frozen=True, kw_only=True):
    """``thread/list`` filters. Empty tuples mean "no filter"; every given filter must match."""

    limit: int = 50
    cursor: str | None = None
    sort_key: SortKey = "created_at"
    direction: Direction = "desc"
    archived: bool = False  # True: archived threads only; False: non-archived only
    cwds: tuple[str, ...] = ()  # exact match, any of
    model_providers: tuple[str, ...] = ()
    source_kinds: tuple[str, ...] = ()
    search_term: str | None = None  # case-sensitive substring of name or preview, as Codex matches it
    require_preview: bool = False  # hide threads whose preview is "": no user message has started them yet
    exclude_ids: tuple[str, ...] = ()


class ThreadStore(Protocol):
    """The interface sessions and handlers program against. Every method may raise ``StoreError``."""

    path: Path
    """The file every persisted thread lives in (``Thread.path`` on the wire)."""

    async def write(self, batch: WriteBatch) -> None:
        """Commit ``batch`` atomically; ``ThreadNotFound`` unless it creates or targets an existing thread."""

    async def get_thread(self, thread_id: str) -> ThreadRecord: ...

    async def list_threads(self, query: ThreadQuery) -> Page[ThreadRecord]: ...

    async def get_turn(self, thread_id: str, turn_id: str) -> TurnRecord: ...

    async def list_turns(
        self, thread_id: str, *, cursor: str | None = None, limit: int = 50, direction: Direction = "desc"
    ) -> Page[TurnRecord]: ...

    async def newest_turns_cursor(self, thread_id: str) -> str | None:
        """A desc `list_turns` cursor starting at the newest turn, inclusive; None without turns."""
        ...

    async def newest_items_cursor(self, thread_id: str) -> str | None:
        """A desc `list_items` cursor (whole thread) starting at the newest item, inclusive; None without items."""
        ...

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
        """``after_item_id`` is an exclusive anchor (Codex's ``{type:"item", itemId}`` cursor)."""

    async def items_for_turns(self, thread_id: str, turn_ids: Sequence[str]) -> dict[str, list[ItemRecord]]:
        """Every item of the given turns, in append order; a turn without items maps to ``[]``."""

    async def turns_with_items(
        self, thread_id: str, *, cursor: str | None = None, limit: int = 50, direction: Direction = "desc",
        with_items: bool = True,
    ) -> tuple[Page[TurnRecord], dict[str, list[ItemRecord]]]:
        """``list_turns`` and (``with_items``) ``items_for_turns`` of that page, read from one snapshot, so each
        turn's status and items come from the same committed batches (a turn ending meanwhile is seen either
        running with the items it had, or ended with all of them)."""

    async def turn_with_items(self, thread_id: str, turn_id: str) -> tuple[TurnRecord, list[ItemRecord]]:
        """``get_turn`` and its items, from one snapshot."""

    async def load_history(self, thread_id: str, *, last_turn_id: str | None = None,
                           before_turn_id: str | None = None) -> History:
        """Model-visible history: the latest checkpoint's replacement, then every entry appended after it. With
        ``last_turn_id`` (kept) or ``before_turn_id`` (left out, with every later turn), the history as it stood
        at that cut, as ``fork`` copies it; ``TurnNotFound`` for a turn the thread does not have."""

    async def latest_checkpoint(self, thread_id: str) -> CheckpointRecord | None: ...

    async def revert(self, thread_id: str, before_turn_id: str) -> ThreadRecord:
        """Drop ``before_turn_id`` and every later turn with their items, history and checkpoints."""

    async def delete(self, thread_id: str) -> None:
        """Remove the thread and everything stored under it, in one transaction; ``ThreadNotFound`` if absent."""

    async def fork(self, source_id: str, new_thread: ThreadRecord, last_turn_id: str | None = None, *,
                   before_turn_id: str | None = None) -> ThreadRecord:
        """Create ``new_thread`` holding a copy of the source up to and including ``last_turn_id``, or of the turns
        before ``before_turn_id`` (none when it is the first), or of all of it (neither given; not both)."""

    async def close(self) -> None:
        """Finish every queued write, then release the backend; later calls raise ``StoreError``."""
