"""The session registry: one task group, one actor per loaded thread.

``SessionRegistry.run`` is started once by the app and owns every actor's task. Loading is single-flight
per thread id (two concurrent ``thread/resume`` calls get the same actor). An actor that ends — unloaded,
shut down, or killed by its own bug — removes itself, and the daemon goes on.

A stored thread is only loaded, or changed while not loaded, under its lease (``store.leases``): a thread
another daemon on the same home has loaded is refused with "already has an active writer", before anything of
it is read or written here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..errors import InvalidRequest
from ..store.leases import ThreadLeases

if TYPE_CHECKING:
    from .actor import ThreadSession

__all__ = ["SessionRegistry"]

logger = logging.getLogger(__name__)


class SessionRegistry:
    def __init__(self, leases: ThreadLeases | None = None) -> None:
        self._leases = leases or ThreadLeases(None)
        self._sessions: dict[str, ThreadSession] = {}
        self._loading: dict[str, anyio.Event] = {}
        self._tg: TaskGroup | None = None
        self._closing = False

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            await anyio.sleep_forever()

    def get(self, thread_id: str) -> ThreadSession | None:
        return self._sessions.get(thread_id)

    def loaded_ids(self) -> list[str]:
        return list(self._sessions)

    def sessions(self) -> list[ThreadSession]:
        return list(self._sessions.values())

    async def load(self, thread_id: str, make: Callable[[], Awaitable[ThreadSession]]) -> tuple[ThreadSession, bool]:
        """Return the loaded session for ``thread_id``, making and starting one if needed.

        Returns ``(session, newly_loaded)``. ``make`` may raise (e.g. thread not found); nothing is left behind.
        """
        while True:
            while (pending := self._loading.get(thread_id)) is not None:
                await pending.wait()
            existing = self._sessions.get(thread_id)
            if existing is None or not existing.unloaded:
                break
            await existing.ended.wait()  # it is unloading: load afresh once its actor is gone
        if existing is not None:
            return existing, False
        done = self._loading[thread_id] = anyio.Event()
        try:
            self._take(thread_id)
            try:
                session = await make()
                await self.start(session)
            except BaseException:
                self._leases.give_back(thread_id)
                raise
            return session, True
        finally:
            del self._loading[thread_id]
            done.set()

    async def while_not_loaded(self, thread_id: str, fn: Callable[[], Awaitable[None]]) -> bool:
        """Run ``fn`` while ``thread_id`` is neither loaded nor loading, holding every load of it back until
        ``fn`` returns (so a resume racing a delete finds nothing to load). False, ``fn`` not run, when a
        session is loaded."""
        while True:
            while (pending := self._loading.get(thread_id)) is not None:
                await pending.wait()
            existing = self._sessions.get(thread_id)
            if existing is None:
                break
            if not existing.unloaded:
                return False
            await existing.ended.wait()
        done = self._loading[thread_id] = anyio.Event()
        try:
            self._take(thread_id)
            try:
                await fn()
            finally:
                self._leases.give_back(thread_id)
            return True
        finally:
            del self._loading[thread_id]
            done.set()

    def _take(self, thread_id: str) -> None:
        if not self._leases.take(thread_id):
            raise InvalidRequest(f"thread {thread_id} already has an active writer: another Threadline process "
                                 "sharing this home has it loaded")

    async def start(self, session: ThreadSession) -> None:
        assert self._tg is not None, "registry is not running"
        if self._closing:
            raise InvalidRequest("Server is shutting down")
        if not session.ephemeral:
            self._take(session.thread_id)  # a new thread's, or again one load took: taking it twice is harmless
            session.give_back_lease = partial(self._leases.give_back, session.thread_id)
        self._sessions[session.thread_id] = session
        await self._tg.start(self._run_actor, session)

    async def _run_actor(self, session: ThreadSession, *, task_status: TaskStatus[None]) -> None:
        try:
            await session.run(task_status=task_status)
        except Exception:
            logger.exception("session actor for thread %s crashed", session.thread_id)
        finally:
            if self._sessions.get(session.thread_id) is session:  # else a new load of it owns the lease now
                del self._sessions[session.thread_id]
                session.give_back_lease()

    def cut_endings(self) -> None:
        """Cut every turn ending still under way, and any that begins from now on (``ThreadSession.cut_endings``)."""
        for session in list(self._sessions.values()):
            session.cut_endings()

    async def shutdown(self, *, grace: float = 2.0) -> None:
        """Stop every actor: active turns end as interrupted and are persisted, bounded by ``grace``."""
        self._closing = True
        logger.info("stopping %d loaded thread(s)", len(self._sessions))
        with anyio.move_on_after(grace, shield=True):
            async with anyio.create_task_group() as tg:
                for session in list(self._sessions.values()):
                    tg.start_soon(session.stop)
        self.cut_endings()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
