"""Opaque keyset cursors and the page assembly shared by every listing.

A cursor names a position, never an offset: it holds the sort value and tie-breaking key of one row (for
threads ``(created_at|updated_at, id)``, for turns and items their ``seq``), so rows inserted elsewhere in the
order never shift later pages. It also records which listing issued it — ``kind`` ("threads", "turns",
"items"), ``scope`` (the sort key, or the thread and turn filter) and the direction it continues in — and
``decode`` refuses a cursor presented to any other listing with ``InvalidCursor`` rather than silently paging
something else.

The wire form is urlsafe base64 (unpadded) of a msgpack array. It is opaque to clients, not secret: nothing in
it is trusted beyond being bound as a SQL parameter.

``next_cursor`` continues after the last row (exclusive). ``backwards_cursor`` starts at the first row and runs
the other way, including that row again (Codex: "use it with the opposite direction, and it includes the
anchor").
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TypeVar

import msgspec

from .base import Direction, Page
from .errors import InvalidCursor

__all__ = ["Anchor", "decode", "encode", "keyset_operator", "opposite", "paginate"]

_VERSION = 1
R = TypeVar("R")


class Anchor(msgspec.Struct, array_like=True, frozen=True):
    """What a listing needs from a decoded cursor: where to start and whether that row is included."""

    value: int
    key: str
    inclusive: bool


class _Body(msgspec.Struct, array_like=True, frozen=True):
    version: int
    kind: str
    scope: str
    direction: str
    anchor: Anchor


_decoder = msgspec.msgpack.Decoder(_Body)


def opposite(direction: Direction) -> Direction:
    return "asc" if direction == "desc" else "desc"


def keyset_operator(direction: Direction, inclusive: bool) -> str:
    """The row-value comparison that selects rows after the anchor in ``direction``."""
    operator = "<" if direction == "desc" else ">"
    return operator + "=" if inclusive else operator


def encode(kind: str, scope: str, direction: Direction, anchor: Anchor) -> str:
    raw = msgspec.msgpack.encode(_Body(_VERSION, kind, scope, direction, anchor))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(token: str, *, kind: str, scope: str, direction: Direction) -> Anchor:
    """Return the anchor of ``token``, or raise ``InvalidCursor`` saying why it does not fit this listing."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = _decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursor(f"invalid cursor: {token}") from exc  # Codex's words for a cursor it never issued
    if body.version != _VERSION:
        raise InvalidCursor(f"invalid cursor: format version {body.version} is not supported")
    if (body.kind, body.scope) != (kind, scope):
        raise InvalidCursor(
            f"invalid cursor: it was issued for another listing ({body.kind} {body.scope!r}, not {kind} {scope!r})"
        )
    if body.direction != direction:
        raise InvalidCursor(f"invalid cursor: it continues in sort direction {body.direction!r}, not {direction!r}")
    return body.anchor


def paginate(
    rows: list[R],
    *,
    limit: int,
    direction: Direction,
    issue: Callable[[R, Direction, bool], str],
) -> Page[R]:
    """Build a page from up to ``limit + 1`` rows fetched in ``direction`` (the extra row proves a next page).

    ``issue(row, direction, inclusive)`` makes a cursor anchored at ``row``.
    """
    more = len(rows) > limit
    del rows[limit:]
    return Page(
        items=rows,
        next_cursor=issue(rows[-1], direction, False) if more and rows else None,
        backwards_cursor=issue(rows[0], opposite(direction), True) if rows else None,
    )
