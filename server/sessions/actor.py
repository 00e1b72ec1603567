"""``ThreadSession``: the actor that owns one loaded thread.

Contract:
- Work reaches the actor as jobs through a bounded mailbox (full → ``ServerOverloaded``, -32001, at once) and
  runs one at a time, so the actor is the only writer of its thread's state. A turn runs as a child task under
  its own cancel scope, so the mailbox stays live while it streams (steer and interrupt get through).
- A store failure inside a job (``StoreError``) fails that request with ``StoreFailed`` (-32603, saying what
  failed); the job leaves memory as the store holds it, and the actor goes on.
- A bug inside a job ends this actor only: it is logged, the waiting request gets -32603, an active turn ends
  with ``turn/completed {failed}``, subscribers see ``thread/status/changed {systemError}``, and the registry
  drops the session (the next request reloads it from the store). The daemon goes on.
- With no subscriber and no turn running or ending, the thread unloads after ``unload_delay`` seconds, announcing
  ``thread/status/changed {notLoaded}`` then ``thread/closed`` to every connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from anyio.abc import TaskGroup, TaskStatus

from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.types import ThreadClosedNotification, ThreadStatus, ThreadStatusChangedNotification
from protocol.codec import FrameTemplate

from ..errors import InvalidRequest, ServerOverloaded, StoreFailed, ThreadlineError
from ..store.base import ThreadRecord, ThreadStore
from ..store.batch import WriteBatch
from ..store.errors import StoreError
from .git_info import GitLookups
from .meta import ThreadMeta
from .peer import ClientPeer, Subscribers, Undelivered
from .reply import Reply
from .views import IDLE, NOT_LOADED, SYSTEM_ERROR

if TYPE_CHECKING:
    from .turn import ActiveTurn

__all__ = ["MAILBOX_SIZE", "NotLoaded", "SessionDeps", "ThreadSession"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAILBOX_SIZE = 32

Broadcast = Callable[[str, Any], Awaitable[None]]


class NotLoaded(InvalidRequest):
    """A job that never ran: its thread unloaded first, or its actor is stopping (-32600 as any refusal)."""


@dataclass
class SessionDeps:
    """What every session shares: the store, a way to reach every connection, and turn machinery."""

    store: ThreadStore
    broadcast: Broadcast
    unload_delay: float = 1800.0
    turn_services: Any = None  # server.sessions.turn.TurnServices, set by the app
    git: GitLookups = field(default_factory=GitLookups)


@dataclass
class _Job:
    fn: Callable[[], Awaitable[Any]]
    reply: Reply[Any] = field(default_factory=Reply)


class ThreadSession:
    def __init__(self, record: ThreadRecord, deps: SessionDeps, *, meta: ThreadMeta,
                 ephemeral: bool = False) -> None:
        # ``meta`` comes from the caller, never decoded here: ``Sessions.meta_of`` decides what a thread whose
        # metadata cannot be read runs on.
        self.thread_id = record.id
        self.record = record
        self.meta = meta
        self.ephemeral = ephemeral
        self.deps = deps
        self.subscribers = Subscribers()
        self.status: ThreadStatus = IDLE
        self.active: ActiveTurn | None = None
        self.history: list[dict[str, Any]] | None = None  # model-visible, loaded on first turn
        self._send, self._recv = anyio.create_memory_object_stream[_Job](MAILBOX_SIZE)
        self._tg: TaskGroup | None = None
        self._unload_scope: anyio.CancelScope | None = None
        self.ending: ActiveTurn | None = None
        """The turn whose ending is still announcing (``active`` is cleared before its last notifications)."""
        self.endings_cut = False
        """Shutdown is past its grace (``cut_endings``): a turn ending that begins from now on is cut at once."""
        self.unloaded = False
        """Unloaded, its actor draining: jobs queued behind the unload fail, and a load waits for a new actor."""
        self.ended = anyio.Event()
        self.give_back_lease: Callable[[], None] = lambda: None
        """Set by the registry: lets another daemon on this home load the thread (see ``store.leases``)."""

    # -- lifecycle -------------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                task_status.started()
                with self._recv:
                    async for job in self._recv:
                        if self.unloaded:  # queued behind the unload: it must not run in a thread that is gone
                            job.reply.fail(NotLoaded(f"thread not loaded: {self.thread_id}"))
                        elif not await self._run_job(job):
                            break
                tg.cancel_scope.cancel()
        finally:
            self._send.close()
            self.ended.set()

    async def _run_job(self, job: _Job) -> bool:
        """Run one job; False when a bug means this actor must end."""
        try:
            job.reply.set(await job.fn())
            return True
        except ThreadlineError as exc:
            job.reply.fail(exc)
            return True
        except StoreError as exc:
            # The store failed (a disk error, a store being closed), not this actor: a job keeps memory as the store
            # holds it, so the request fails saying what went wrong and the thread lives on.
            logger.warning("thread %s: the store failed during a request: %s", self.thread_id, exc, exc_info=True)
            job.reply.fail(StoreFailed.because(exc, self.thread_id))
            return True
        except Exception as exc:
            logger.exception("thread %s: actor job failed; ending this session", self.thread_id)
            job.reply.fail(exc)
            await self._crash()
            return False

    async def _crash(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            if self.active is not None:
                await self.active.abort_and_wait("internal error in thread session")
            await self.set_status(SYSTEM_ERROR)

    async def stop(self) -> None:
        """End the actor: an active turn is interrupted (and persisted) first."""
        if self.active is not None:
            await self.active.abort_and_wait(None)
        self._send.close()
        await self.ended.wait()

    def cut_endings(self) -> None:
        """Cancel every turn ending under way (shutdown, past its grace), and any that begins from now on: each
        has written, or still queues, its batch before showing anything, so what is cut is only frames to a client
        that is not reading them (it would hold the process forever otherwise). The turn running, the turn still
        announcing its end, and every turn either waits behind (``follows``) are cut."""
        self.endings_cut = True
        for turn in (self.active, self.ending):
            while turn is not None:
                if turn.finish_scope is not None:
                    turn.finish_scope.cancel()
                turn = turn.follows

    def start_task(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        assert self._tg is not None
        self._tg.start_soon(fn, *args)

    # -- mailbox ---------------------------------------------------------------------------------------

    async def call(self, fn: Callable[[], Awaitable[T]], *, timeout: float | None = 60) -> T:
        """Run ``fn`` inside the actor, after the jobs queued before it, and return its result."""
        job = _Job(fn)
        try:
            self._send.send_nowait(job)
        except anyio.WouldBlock:
            raise ServerOverloaded() from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise NotLoaded(f"thread not loaded: {self.thread_id}") from None
        return await job.reply.wait(timeout)

    # -- state and notifications -----------------------------------------------------------------------

    async def emit(self, method: str, params: Any, *, cut: Callable[[Undelivered], None] | None = None) -> None:
        """Notify every subscriber; ``cut`` learns what a cancellation left unsent (``Subscribers.send``)."""
        await self.subscribers.notify(method, params, cut=cut)

    async def emit_frame(self, template: FrameTemplate, value: str) -> None:
        """Emit one frame of a templated notification stream (the hot path of a streaming turn)."""
        await self.subscribers.send(template.method, template.frame(value))

    async def set_status(self, status: ThreadStatus) -> None:
        """Announce a status change to every client, subscribed or not, as Codex does: a thread list keeps
        its statuses current without subscribing to each thread."""
        self.status = status
        await self.deps.broadcast(N.THREAD_STATUS_CHANGED, ThreadStatusChangedNotification(thread_id=self.thread_id,
                                                                                           status=status))

    async def persist(self, batch: WriteBatch) -> None:
        """Commit ``batch`` unless the thread is ephemeral (ephemeral threads never touch disk)."""
        if not self.ephemeral and len(batch):
            await self.deps.store.write(batch)

    def subscribe(self, peer: ClientPeer, *, hold_requests: bool = False) -> bool:
        self.cancel_unload()
        return self.subscribers.add(peer, hold_requests=hold_requests)

    def unsubscribe(self, peer: ClientPeer) -> bool:
        removed = self.subscribers.remove(peer)
        self.maybe_schedule_unload()
        return removed

    def maybe_schedule_unload(self) -> None:
        # Not while a turn runs or still ends (``idle``): the ending calls this again once its last words are out.
        if len(self.subscribers) or not self.idle or self._unload_scope is not None or self._tg is None:
            return
        self._unload_scope = anyio.CancelScope()
        self._tg.start_soon(self._unload_later, self._unload_scope)

    def cancel_unload(self) -> None:
        if self._unload_scope is not None:
            self._unload_scope.cancel()
            self._unload_scope = None

    async def _unload_later(self, scope: anyio.CancelScope) -> None:
        with scope:
            await anyio.sleep(self.deps.unload_delay)
            await self.call(self._unload)

    async def _unload(self) -> None:
        if len(self.subscribers) or not self.idle:
            self._unload_scope = None
            return
        await self.unload_now(closed=True)

    @property
    def idle(self) -> bool:
        """No turn running or ending: the thread may be unloaded."""
        return self.active is None and not self.ending

    async def unload_now(self, *, closed: bool) -> None:
        """Unload (inside the actor, while ``idle``): ``notLoaded`` to every client, ``thread/closed`` too when
        ``closed``. Jobs queued behind this one fail, and the next load makes a new actor."""
        self.status, self.unloaded = NOT_LOADED, True
        self.give_back_lease()  # before the news: a client told the thread closed may open it in another window
        await self.deps.broadcast(N.THREAD_STATUS_CHANGED,
                                  ThreadStatusChangedNotification(thread_id=self.thread_id, status=NOT_LOADED))
        if closed:
            await self.deps.broadcast(N.THREAD_CLOSED, ThreadClosedNotification(thread_id=self.thread_id))
        self._send.close()
