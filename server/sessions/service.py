"""``Sessions``: the façade handlers use — store, registry and shared session dependencies in one place.

It loads sessions on demand, finds loaded ones, changes threads whether loaded or not (``change``: through the
actor, else in the store with loads held back), and translates store errors into client errors in Codex's
wording (the message depends on the method: ``thread/resume`` says ``no rollout found for thread id <id>``,
``thread/read`` says ``thread not loaded: <id>``). ``meta_of`` is the one place a stored thread's metadata is
decoded; a blob that does not decode gives the daemon's defaults, with a warning (``server.sessions.damage``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import msgspec

from ..config import Settings
from ..errors import InvalidRequest, StoreFailed
from ..models import DEFAULT_MODEL
from ..providers import OPENAI_PROVIDER_ID
from ..store import (
    InvalidCursor,
    InvalidThreadId,
    StoreError,
    ThreadNotFound,
    ThreadRecord,
    ThreadStore,
    TurnNotFound,
    WriteBatch,
)
from ..store.base import check_thread_id
from .actor import NotLoaded, SessionDeps, ThreadSession
from .damage import decoded
from .meta import ThreadMeta, ThreadSettings, fallback_meta, meta_decoder
from .registry import SessionRegistry
from .thread_config import settings_changes
from .views import encode_turn_data, turn_view

__all__ = ["Sessions"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Sessions:
    settings: Settings
    store: ThreadStore
    registry: SessionRegistry
    deps: SessionDeps
    version: str

    @property
    def default_provider(self) -> str:
        """The provider new threads use (config ``model_provider``), which ``thread/list`` lists by default."""
        return self.settings.get("model_provider") or OPENAI_PROVIDER_ID

    def loaded(self, thread_id: str) -> ThreadSession | None:
        return self.registry.get(thread_id)

    def default_settings(self) -> ThreadSettings:
        """A new thread's settings as the daemon's config gives them."""
        builtin = ThreadSettings(model=DEFAULT_MODEL, model_provider=OPENAI_PROVIDER_ID, cwd=os.getcwd())
        return msgspec.structs.replace(builtin, **settings_changes(self.settings.config, self.settings))

    def meta_of(self, record: ThreadRecord) -> ThreadMeta:
        """The stored thread's metadata; when its blob cannot be read, the daemon's defaults on the thread's own
        columns (``fallback_meta``), so one damaged thread is still listed, read, resumed, archived and deleted
        rather than failing every listing it is in. Its next turn stores the defaults over the damage."""
        meta = decoded(meta_decoder, record.data, record.id, "metadata (threads.data)",
                       "it is shown with, and runs on, the daemon's default settings until a turn stores new ones")
        if meta is None:
            return fallback_meta(record, self.default_settings(), self.version)
        return meta

    @contextmanager
    def errors(self, missing: str = "thread not found: {id}", missing_turn: str = "turn not found: {turn}") -> Iterator[None]:
        """Turn store errors into client errors; ``missing`` formats the unknown-thread message. A store that failed
        (a disk error, a closed store) is said as such (``StoreFailed``), as inside a thread's own jobs."""
        try:
            yield
        except InvalidThreadId as exc:
            raise InvalidRequest(f"invalid thread id: {exc.thread_id}") from exc
        except ThreadNotFound as exc:
            raise InvalidRequest(missing.format(id=exc.thread_id)) from exc
        except TurnNotFound as exc:
            raise InvalidRequest(missing_turn.format(turn=exc.turn_id)) from exc
        except InvalidCursor as exc:
            raise InvalidRequest(str(exc)) from exc  # -32600, as Codex refuses a cursor
        except StoreError as exc:
            logger.warning("the store failed during a request: %s", exc, exc_info=True)
            raise StoreFailed.because(exc) from exc

    def check_id(self, thread_id: str) -> str:
        with self.errors():
            return check_thread_id(thread_id)

    async def record(self, thread_id: str, *, missing: str = "thread not found: {id}") -> ThreadRecord:
        """The freshest record: the loaded session's, else the store's."""
        thread_id = self.check_id(thread_id)
        session = self.loaded(thread_id)
        if session is not None:
            return session.record
        with self.errors(missing):
            return await self.store.get_thread(thread_id)

    async def load(self, thread_id: str, *, missing: str = "thread not found: {id}") -> tuple[ThreadSession, bool]:
        """The loaded session for a stored thread, loading it if needed. Returns (session, newly_loaded)."""
        thread_id = self.check_id(thread_id)

        async def make() -> ThreadSession:
            with self.errors(missing):
                record = await self.store.get_thread(thread_id)
                await self._settle_cut_turn(thread_id)
            return ThreadSession(record, self.deps, meta=self.meta_of(record))

        return await self.registry.load(thread_id, make)

    async def change(self, thread_id: str, in_store: Callable[[], Awaitable[T]],
                     in_actor: Callable[[ThreadSession], Awaitable[T]]) -> T:
        """Change a stored thread, loaded or not, and return what the change returns.

        A loaded thread is changed by ``in_actor``, run as its actor's job: the actor stays the only writer of its
        state. A thread that is not loaded is changed by ``in_store``, with every load of it held back until that
        returns, so no load reads the record from before the change (``in_store`` reads the record it changes).
        A thread that unloads before its actor gets to the job (an archive, an idle unload) is changed in the
        store instead: the change is not lost to the race.
        """
        changed: list[T] = []

        async def not_loaded() -> None:
            changed.append(await in_store())

        while True:
            if await self.registry.while_not_loaded(thread_id, not_loaded):
                return changed[0]
            session = self.loaded(thread_id)
            assert session is not None  # while_not_loaded found it loaded, with no await since
            try:
                return await session.call(partial(in_actor, session))
            except NotLoaded:
                if not session.unloaded:
                    raise  # its actor is stopping (a shutdown), the thread still registered: nothing to fall back on

    def live_turn_id(self, thread_id: str) -> str | None:
        """The id of the turn running on ``thread_id`` right now, if any."""
        session = self.loaded(thread_id)
        return session.active.turn_id if session is not None and session.active is not None else None

    async def _settle_cut_turn(self, thread_id: str) -> None:
        """A thread loads with no turn running: a last turn still stored ``inProgress`` was cut by a crash."""
        page = await self.store.list_turns(thread_id, limit=1, direction="desc")
        if page.items and page.items[0].status == "inProgress":
            cut = page.items[0]
            turn = turn_view(cut, None, "notLoaded")  # reads as interrupted
            await self.store.write(WriteBatch(thread_id).put_turn(cut.turn_id, turn.status, encode_turn_data(turn)))

    async def require_loaded(self, thread_id: str) -> ThreadSession:
        """Thread-scoped calls (turns, compaction) need a loaded thread, as in Codex."""
        thread_id = self.check_id(thread_id)
        session = self.loaded(thread_id)
        if session is None:
            raise InvalidRequest(f"thread not found: {thread_id}")
        return session
