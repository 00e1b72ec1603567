"""Stored records that no longer decode: read around them, and say so once.

A blob in the store (a thread's metadata, a turn, an item, a model-history entry, a Git state) can be damaged:
a disk fault, a hand edit, a bug in another version. One such record must not cost the user the rest of a
thread, or the thread list. Every read that decodes a stored blob goes through ``decoded``, which gives the
value or None; the caller then skips the record (an item, a history entry) or rebuilds it from the store's
columns (a thread, a turn), as its own docstring says.

Contract:
- The happy path costs one ``try`` around the decode it already did: nothing is built unless a decode fails.
- The warning names the thread, the table and the row (a turn or item id, a history seq) and what is wrong
  (not JSON, or the schema path that does not match), never the record's content: a blob holds the user's
  words, and msgspec's own message quotes the offending value.
- It is logged once per damaged record per process, so a ``thread/list`` polled every few seconds does not flood
  the log; the memory of records warned about is bounded (``REMEMBERED``), after which the oldest may warn again.
- Nothing here writes: a damaged record stays as it is until the thread writes over it (its metadata at its next
  turn, a turn cut by a crash when it is settled), or it is reverted or deleted.
"""

from __future__ import annotations

import logging
import re
from typing import TypeVar

import msgspec

__all__ = ["DAMAGE", "REMEMBERED", "decoded", "describe", "warn_once"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

REMEMBERED = 4096
"""Damaged records remembered as warned about; a dict keeps insertion order, so the oldest goes first."""

DAMAGE = (msgspec.DecodeError, TypeError)
"""What a decode of a damaged blob raises: msgspec's errors, or TypeError for a value that is not bytes or text."""

_warned: dict[tuple[object, ...], None] = {}
_PATH = re.compile(r" - at `(\$[^`]*)`$")


def describe(exc: Exception) -> str:
    """What is wrong with a blob, without its content: msgspec's schema path (field names, list indexes and
    ``[...]`` for map keys) is kept, the rest of its message (which quotes values) is not."""
    if isinstance(exc, TypeError):  # a hand edit can leave a number where bytes belong
        return "is not a JSON blob"
    if isinstance(exc, msgspec.ValidationError):
        path = _PATH.search(str(exc))
        return f"does not match its type at `{path.group(1)}`" if path else "does not match its type"
    return "is not valid JSON"


def warn_once(key: tuple[object, ...], message: str, *args: object) -> None:
    """Log ``message % args`` as a warning unless ``key`` was warned about already."""
    if key in _warned:
        return
    if len(_warned) >= REMEMBERED:
        del _warned[next(iter(_warned))]
    _warned[key] = None
    logger.warning(message, *args)


def decoded(decoder: msgspec.json.Decoder[T], data: bytes, thread_id: str, row: str, consequence: str) -> T | None:
    """``decoder.decode(data)``, or None with a warning (once) that ``row`` of ``thread_id`` cannot be read and
    what the read does instead (``consequence``)."""
    try:
        return decoder.decode(data)
    except DAMAGE as exc:
        # The blob's hash tells one damage from another: a record rewritten and damaged again is news.
        warn_once((thread_id, row, hash(data)), "thread %s: stored %s %s; %s", thread_id, row,
                  describe(exc), consequence)
        return None
