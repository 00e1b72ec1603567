"""Thread housekeeping: ``thread/archive``, ``thread/unarchive``, ``thread/name/set``, ``thread/unsubscribe``,
``thread/revert``.

Each works on stored threads whether loaded or not; when the thread is loaded the change goes through its
actor, so the actor stays the only writer of its state. Responses come first, notifications after (the
returned ``After`` action); ``thread/name/updated`` goes to every connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio
import msgspec

from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.types import (
    ThreadArchivedNotification,
    ThreadDeletedNotification,
    ThreadNameUpdatedNotification,
    ThreadRevertedNotification,
    ThreadRevertParams,
    ThreadRevertResponse,
    ThreadSetNameParams,
    ThreadUnarchivedNotification,
    ThreadUnarchiveResponse,
    ThreadUnsubscribeResponse,
)

from ..errors import InvalidRequest
from ..store import ThreadRecord, WriteBatch
from .actor import NotLoaded, ThreadSession
from .peer import ClientPeer
from .service import Sessions
from .turn import ActiveTurn
from .views import NOT_LOADED, thread_view

__all__ = ["archive", "delete", "revert", "set_name", "unarchive", "unsubscribe"]

After = Callable[[], Awaitable[None]]

_TURN_END_SECONDS = 60  # as turn/interrupt waits: a turn's ending is bounded (its final write by 10 s)


async def _update(sessions: Sessions, thread_id: str, missing: str,
                  then: Callable[[ThreadSession], Awaitable[None]] | None = None, **fields: Any) -> ThreadRecord:
    """Apply a record update through the actor when loaded (``then`` runs in the same job), else to the store; a
    thread that loads or unloads meanwhile gets it all the same (``Sessions.change``)."""

    async def in_store() -> ThreadRecord:
        with sessions.errors(missing):
            record = await sessions.store.get_thread(thread_id)
            await sessions.store.write(WriteBatch(thread_id).update_thread(**fields))
        return msgspec.structs.replace(record, **fields)

    async def in_actor(session: ThreadSession) -> ThreadRecord:
        # Written first: a write that fails leaves the record as the store holds it (no turn's batch writes these
        # fields, so none written meanwhile can undo them).
        await session.persist(WriteBatch(thread_id).update_thread(**fields))
        session.record = msgspec.structs.replace(session.record, **fields)
        if then is not None:
            await then(session)
        return session.record

    return await sessions.change(thread_id, in_store, in_actor)


def _is_ephemeral(sessions: Sessions, thread_id: str) -> bool:
    session = sessions.loaded(thread_id)
    return session is not None and session.ephemeral


async def _unload_if_idle(session: ThreadSession) -> None:
    if session.idle and not session.ephemeral:  # an ephemeral thread lives only in its actor: never drop it
        await session.unload_now(closed=False)


async def _end_running_turn(session: ThreadSession) -> None:
    """Interrupt the thread's turn, if one is running, and wait until its ``turn/completed`` has gone out."""

    async def job() -> ActiveTurn | None:
        active = session.active
        if active is not None and active.interruptible:
            active.interrupt()
        return active or session.ending  # a turn already ending is waited for all the same

    try:
        turn = await session.call(job)
    except NotLoaded:
        if session.unloaded:
            return  # it unloaded first (an idle unload): no turn runs in it
        raise
    if turn is None:
        return
    with anyio.move_on_after(_TURN_END_SECONDS):
        await turn.announced.wait()
        return
    raise InvalidRequest(f"the turn {turn.turn_id} of thread {session.thread_id} did not end within "
                         f"{_TURN_END_SECONDS} s; try again")


async def archive(sessions: Sessions, thread_id: str, peer: ClientPeer) -> After:
    """``thread/archive``. As Codex: a running turn is interrupted and ends first (``turn/completed
    {interrupted}``), then the thread is unloaded in the same step as the update, ``notLoaded`` going out
    before the answer."""
    missing = "no rollout found for thread id {id}"
    current = await sessions.record(thread_id, missing=missing)
    # As Codex: an archived thread, like an ephemeral one, has no rollout left to archive.
    if current.archived or _is_ephemeral(sessions, current.id):
        raise InvalidRequest(missing.format(id=current.id))
    session = sessions.loaded(current.id)
    if session is not None:
        await _end_running_turn(session)
    record = await _update(sessions, current.id, missing, _unload_if_idle, archived=True)

    async def announce() -> None:
        await peer.notify(N.THREAD_ARCHIVED, ThreadArchivedNotification(thread_id=record.id))

    return announce


async def delete(sessions: Sessions, thread_id: str, peer: ClientPeer) -> After:
    """``thread/delete``. As Codex: a running turn is interrupted and ends first, the thread is unloaded
    (``notLoaded`` before the answer) and everything stored under it removed; ``thread/deleted`` follows."""
    missing = "no rollout found for thread id {id}"
    current = await sessions.record(thread_id, missing=missing)
    if _is_ephemeral(sessions, current.id):
        raise InvalidRequest(missing.format(id=current.id))

    async def remove_stored() -> None:
        with sessions.errors(missing):
            await sessions.store.delete(current.id)

    def remove_loaded(session: ThreadSession) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            if not session.idle:  # a turn started in between: refuse rather than delete under it
                raise InvalidRequest(f"cannot delete thread {current.id} while a turn is running")
            await remove_stored()  # first: unloading gives the thread's lease back, and nothing may load it now
            await session.unload_now(closed=False)

        return job

    # A resume racing the delete must find nothing to load: a thread not loaded is deleted with its loads held
    # back, a loaded one in its actor's last job.
    while not await sessions.registry.while_not_loaded(current.id, remove_stored):
        session = sessions.loaded(current.id)
        if session is None:
            continue
        await _end_running_turn(session)
        try:
            await session.call(remove_loaded(session))
        except NotLoaded:
            if not session.unloaded:
                raise  # its actor is stopping (a shutdown): nothing to fall back on
            continue  # it unloaded (idle) before our job ran: delete it from the store, its loads held back
        break

    async def announce() -> None:
        await peer.notify(N.THREAD_DELETED, ThreadDeletedNotification(thread_id=current.id))

    return announce


async def unarchive(sessions: Sessions, thread_id: str, peer: ClientPeer) -> tuple[ThreadUnarchiveResponse, After]:
    missing = "no archived rollout found for thread id {id}"
    current = await sessions.record(thread_id, missing=missing)
    if not current.archived:
        raise InvalidRequest(missing.format(id=current.id))
    record = await _update(sessions, current.id, missing, archived=False)
    session = sessions.loaded(record.id)

    async def announce() -> None:
        await peer.notify(N.THREAD_UNARCHIVED, ThreadUnarchivedNotification(thread_id=record.id))

    status = session.status if session is not None else NOT_LOADED
    meta = session.meta if session is not None else sessions.meta_of(record)
    view = thread_view(record, status=status, meta=meta, store_path=sessions.store.path)
    return ThreadUnarchiveResponse(thread=view), announce


async def set_name(sessions: Sessions, params: ThreadSetNameParams) -> After:
    name = params.name.strip()
    if not name:
        raise InvalidRequest("thread name must not be empty")
    missing = "no rollout found for thread id {id}"
    current = await sessions.record(params.thread_id, missing=missing)
    if _is_ephemeral(sessions, current.id):
        raise InvalidRequest(f"ephemeral thread does not support metadata updates: {current.id}")
    if current.archived:
        raise InvalidRequest(missing.format(id=current.id))
    # As Codex: a rename is not activity, so updatedAt (and the updated_at order of thread/list) stays.
    record = await _update(sessions, current.id, missing, name=name)

    async def announce() -> None:
        await sessions.deps.broadcast(N.THREAD_NAME_UPDATED,
                                      ThreadNameUpdatedNotification(thread_id=record.id, thread_name=name))

    return announce


async def unsubscribe(sessions: Sessions, thread_id: str, peer: ClientPeer) -> ThreadUnsubscribeResponse:
    session = sessions.loaded(sessions.check_id(thread_id))
    if session is None:
        return ThreadUnsubscribeResponse(status="notLoaded")

    async def apply() -> bool:
        return session.unsubscribe(peer)

    removed = await session.call(apply)
    return ThreadUnsubscribeResponse(status="unsubscribed" if removed else "notSubscribed")


async def revert(sessions: Sessions, params: ThreadRevertParams, peer: ClientPeer) -> tuple[ThreadRevertResponse, After]:
    thread_id = sessions.check_id(params.thread_id)
    session = sessions.loaded(thread_id)
    if session is not None and session.ephemeral:
        raise InvalidRequest("thread/revert is not supported for ephemeral threads")
    if session is not None:
        await _end_running_turn(session)  # as Codex: a running turn is interrupted, then the thread reverted

    async def apply(loaded: ThreadSession | None) -> tuple[ThreadRecord, tuple[str | None, str | None]]:
        if loaded is not None and loaded.active is not None:  # a turn started in between: refuse, never race
            raise InvalidRequest(f"cannot revert thread {thread_id} while turn {loaded.active.turn_id} is running")
        with sessions.errors("thread not found: {id}"):  # Codex's words for revert
            record = await sessions.store.revert(thread_id, params.before_turn_id)
        if loaded is not None:
            loaded.record = record
            loaded.history = None  # reloaded from the store on the next turn
        # Read in the same job: a turn queued behind the revert cannot slip a newer turn in first.
        return record, (await sessions.store.newest_turns_cursor(thread_id),
                        await sessions.store.newest_items_cursor(thread_id))

    # Through the actor when loaded; else in the store with loads held back and under the thread's lease.
    record, (turns_back, items_back) = await sessions.change(thread_id, partial(apply, None), apply)
    session = sessions.loaded(thread_id)

    async def announce() -> None:
        await peer.notify(N.THREAD_REVERTED, ThreadRevertedNotification(thread_id=thread_id))

    status = session.status if session is not None else NOT_LOADED
    meta = session.meta if session is not None else sessions.meta_of(record)
    view = thread_view(record, status=status, meta=meta, store_path=sessions.store.path)
    return ThreadRevertResponse(thread=view, turns_backwards_cursor=turns_back,
                                items_backwards_cursor=items_back), announce
