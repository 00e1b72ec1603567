"""Read-only thread methods: ``thread/list``, ``thread/read``, ``thread/loaded/list``, ``thread/turns/list``,
``thread/items/list``.

Listings page through the store with keyset cursors (stable while threads are created); a thread's status is
its live status when loaded, ``notLoaded`` otherwise. Nothing here loads a session.

A running turn reads from the store too: its items are written before their ``item/completed`` goes out
(``ActiveTurn.item_completed``), so a read shows every item announced so far, in order, and none in progress.
Turns and their items come from one snapshot (``turn_page``), so a read that races a turn's ending sees it
running with the items it had, or ended with all of them: never an item twice, never one lost.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

from msgspec import UNSET

from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.types import (
    DeprecationNoticeNotification,
    ThreadItemsListAnchor,
    ThreadItemsListParams,
    ThreadItemsListResponse,
    ThreadListParams,
    ThreadListResponse,
    ThreadLoadedListParams,
    ThreadLoadedListResponse,
    ThreadReadParams,
    ThreadReadResponse,
    ThreadTurnsListParams,
    ThreadTurnsListResponse,
    Turn,
    TurnItemsView,
)

from ..errors import InvalidParams, InvalidRequest
from ..store import Direction, Page, ThreadQuery, TurnNotFound, TurnRecord
from .params import opt
from .peer import ClientPeer
from .service import Sessions
from .views import NOT_LOADED, item_entries, thread_view, turn_view

__all__ = ["all_turns", "list_items", "list_loaded", "list_threads", "list_turns", "read_thread", "turn_page"]

DEFAULT_PAGE = 25
MAX_PAGE = 1000
INTERACTIVE_SOURCES = ("cli", "vscode", "appServer")
_SORT_KEYS = {"created_at": "created_at", "updated_at": "updated_at", "recency_at": "updated_at",
              "section_position": "created_at"}


def _limit(value: Any, default: int = DEFAULT_PAGE) -> int:
    if value is UNSET or value is None:
        return default
    if value < 0:
        raise InvalidParams("limit must not be negative")
    return max(1, min(int(value), MAX_PAGE))  # as Codex: 0 is taken as 1


_HYPHENATED = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SIMPLE = re.compile(r"[0-9a-fA-F]{32}")


def _excluded_id(value: str) -> str:
    """An ``excludedThreadIds`` entry as a canonical thread id. Codex parses each as a UUID, in any of its four
    spellings (hyphenated, 32 hex digits, braced, ``urn:uuid:``), and refuses the list over one that is not."""
    if _HYPHENATED.fullmatch(value) or _SIMPLE.fullmatch(value):
        return str(uuid.UUID(value))
    if value.startswith("urn:uuid:"):
        wrapped = value.removeprefix("urn:uuid:")
    elif value.startswith("{") and value.endswith("}"):
        wrapped = value[1:-1]
    else:
        wrapped = ""
    if _HYPHENATED.fullmatch(wrapped):  # only the hyphenated form may be wrapped
        return wrapped.lower()
    raise InvalidParams(f"invalid excluded thread id: {value}")


async def list_threads(sessions: Sessions, params: ThreadListParams) -> ThreadListResponse:
    given_excluded = opt(params.excluded_thread_ids) or []
    if len(given_excluded) > 100:
        raise InvalidParams("excludedThreadIds accepts at most 100 entries")  # Codex's words
    excluded = tuple(_excluded_id(value) for value in given_excluded)
    if opt(params.originators):
        raise InvalidParams("originator filtering is not supported by the local app-server")  # Codex's words
    section = opt(params.section_id)
    if params.sort_key == "section_position" and section is None:
        raise InvalidRequest("section-position sorting requires a section filter")  # Codex's code and words
    cwd = opt(params.cwd)
    if section is not None or cwd == []:
        # As Codex answers both: no thread is in a section (Threadline keeps none), and an empty list of
        # directories allows none.
        return ThreadListResponse(data=[], next_cursor=None, backwards_cursor=None)
    query = ThreadQuery(
        limit=_limit(params.limit),
        cursor=opt(params.cursor),
        sort_key=_SORT_KEYS[opt(params.sort_key) or "created_at"],  # type: ignore[arg-type]
        direction=opt(params.sort_direction) or "desc",
        archived=params.archived is True,
        cwds=tuple(os.path.normpath(c) for c in ((cwd,) if isinstance(cwd, str) else cwd or ())),  # "/tmp/" is /tmp
        # As Codex: left out (or null) means the configured provider only, and [] means every provider.
        model_providers=tuple(providers) if (providers := opt(params.model_providers)) is not None
        else (sessions.default_provider,),
        source_kinds=tuple(opt(params.source_kinds) or INTERACTIVE_SOURCES),
        search_term=opt(params.search_term) or None,
        # As Codex: a thread is listed once a user message has given it a preview (a fork's own first turn,
        # not its source's); the archived listing shows every archived thread, even one that never ran a turn.
        require_preview=params.archived is not True,
        exclude_ids=excluded,
    )
    with sessions.errors():
        page = await sessions.store.list_threads(query)
    data = []
    for record in page.items:
        session = sessions.loaded(record.id)
        if session is not None:
            data.append(thread_view(session.record, status=session.status, meta=session.meta,
                                    store_path=sessions.store.path))
        else:
            data.append(thread_view(record, status=NOT_LOADED, meta=sessions.meta_of(record),
                                    store_path=sessions.store.path))
    return ThreadListResponse(data=data, next_cursor=page.next_cursor, backwards_cursor=page.backwards_cursor)


def hydration_notice(instead: str) -> DeprecationNoticeNotification:
    """What Codex sends before an answer that carries a paginated thread's whole history (``thread/read
    includeTurns``, ``thread/resume`` or ``thread/fork`` without ``excludeTurns``), in our words."""
    return DeprecationNoticeNotification(
        summary=f"Loading a thread's whole history in one answer is deprecated: {instead}, then page through "
                "thread/turns/list and thread/items/list.", details=None)


_INCLUDE_TURNS_NOTICE = hydration_notice("leave includeTurns out (or false)")


async def read_thread(sessions: Sessions, params: ThreadReadParams, peer: ClientPeer) -> ThreadReadResponse:
    """`thread/read`; with `includeTurns`, `peer` first gets a `deprecationNotice`, as Codex sends one."""
    missing = "thread not loaded: {id}"
    thread_id = sessions.check_id(params.thread_id)
    session = sessions.loaded(thread_id)
    if session is not None and session.ephemeral:
        if params.include_turns:
            raise InvalidRequest("ephemeral threads do not support includeTurns")
        return ThreadReadResponse(thread=thread_view(session.record, status=session.status, meta=session.meta,
                                                     ephemeral=True))
    record = await sessions.record(thread_id, missing=missing)
    turns: list[Turn] = []
    if params.include_turns:
        with sessions.errors(missing):
            turns = await all_turns(sessions, thread_id)
        await peer.notify(N.DEPRECATION_NOTICE, _INCLUDE_TURNS_NOTICE)
    status = session.status if session is not None else NOT_LOADED
    meta = session.meta if session is not None else sessions.meta_of(record)
    return ThreadReadResponse(thread=thread_view(record, status=status, meta=meta, turns=turns,
                                                 store_path=sessions.store.path))


async def turn_page(sessions: Sessions, thread_id: str, view: TurnItemsView, *, cursor: str | None, limit: int,
                    direction: Direction) -> tuple[list[Turn], Page[TurnRecord]]:
    """One page of a thread's turns as wire views (``view``), each turn's status and items from one snapshot.

    A turn the snapshot shows running that is not running once it is read has ended since (a thread stops
    running a turn only once its ending is written) or was cut by a crash: it is read again, so a turn that
    completed meanwhile never reads as cut short (``turn_view`` shows a turn still stored running, and not
    running, as interrupted)."""
    page, items = await sessions.store.turns_with_items(thread_id, cursor=cursor, limit=limit, direction=direction,
                                                        with_items=view != "notLoaded")
    live = sessions.live_turn_id(thread_id)
    records = list(page.items)
    for index, record in enumerate(records):
        if record.status == "inProgress" and record.turn_id != live:
            try:
                records[index], items[record.turn_id] = await sessions.store.turn_with_items(thread_id,
                                                                                             record.turn_id)
            except TurnNotFound:
                pass  # reverted meanwhile: the snapshot's record stands, as a turn that did not go on
    return [turn_view(t, items.get(t.turn_id, []), view, live) for t in records], page


async def all_turns(sessions: Sessions, thread_id: str) -> list[Turn]:
    """Every stored turn of a thread, oldest first, with all its items (resume, fork, read includeTurns)."""
    out: list[Turn] = []
    cursor = None
    while True:
        turns, page = await turn_page(sessions, thread_id, "full", cursor=cursor, limit=MAX_PAGE, direction="asc")
        out.extend(turns)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


async def list_loaded(sessions: Sessions, params: ThreadLoadedListParams) -> ThreadLoadedListResponse:
    ids = sorted(sessions.registry.loaded_ids())
    start = 0
    cursor = opt(params.cursor)
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()):
            raise InvalidRequest(f"invalid cursor: {cursor}")
        start = int(cursor)
    limit = _limit(params.limit, default=len(ids) or 1)
    page = ids[start:start + limit]
    nxt = str(start + limit) if start + limit < len(ids) else None
    return ThreadLoadedListResponse(data=page, next_cursor=nxt)


def _not_ephemeral(sessions: Sessions, thread_id: str, method: str) -> None:
    session = sessions.loaded(thread_id)
    if session is not None and session.ephemeral:
        raise InvalidRequest(f"{method} is not supported for ephemeral threads")


async def list_turns(sessions: Sessions, params: ThreadTurnsListParams) -> ThreadTurnsListResponse:
    thread_id = sessions.check_id(params.thread_id)
    _not_ephemeral(sessions, thread_id, "thread/turns/list")
    view: TurnItemsView = opt(params.items_view) or "summary"
    with sessions.errors("thread not loaded: {id}"):
        await sessions.record(thread_id, missing="thread not loaded: {id}")
        data, page = await turn_page(sessions, thread_id, view, cursor=opt(params.cursor), limit=_limit(params.limit),
                                     direction=opt(params.sort_direction) or "desc")
    return ThreadTurnsListResponse(data=data, next_cursor=page.next_cursor, backwards_cursor=page.backwards_cursor)


async def list_items(sessions: Sessions, params: ThreadItemsListParams) -> ThreadItemsListResponse:
    thread_id = sessions.check_id(params.thread_id)
    _not_ephemeral(sessions, thread_id, "thread/items/list")
    turn_id = opt(params.turn_id)
    given = params.cursor
    cursor = given if isinstance(given, str) else None
    after_item = given.item_id if isinstance(given, ThreadItemsListAnchor) else None
    if after_item is not None and turn_id is None:
        raise InvalidParams("turnId is required when cursor is an item anchor")  # Codex's words
    with sessions.errors("thread not loaded: {id}"):
        await sessions.record(thread_id, missing="thread not loaded: {id}")
        if turn_id is not None and not await _has_turn(sessions, thread_id, turn_id):
            return ThreadItemsListResponse(data=[], next_cursor=None, backwards_cursor=None)  # as Codex answers
        page = await sessions.store.list_items(thread_id, turn_id=turn_id, cursor=cursor, limit=_limit(params.limit),
                                               direction=opt(params.sort_direction) or "asc",
                                               after_item_id=after_item)
    return ThreadItemsListResponse(data=item_entries(page.items), next_cursor=page.next_cursor,
                                   backwards_cursor=page.backwards_cursor)


async def _has_turn(sessions: Sessions, thread_id: str, turn_id: str) -> bool:
    try:
        await sessions.store.get_turn(thread_id, turn_id)
    except TurnNotFound:
        return False
    return True
