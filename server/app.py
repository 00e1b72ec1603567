"""Composition root: settings → store → sessions → router → connection, under one root task group.

``serve(settings, transport)`` runs the daemon on any transport until the peer's EOF and is what the
in-memory test harness drives; ``run_stdio(settings)`` is the process entry point (stdio, signals, logging).
Shutdown order on EOF or a signal: running turns end as interrupted and are persisted, pending server→client
requests fail, in-flight requests get a bounded grace, then everything is cancelled and the store closed.
"""

from __future__ import annotations

import gc
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from . import __version__
from .config import Settings
from .handlers import register_all
from .logs import configure_logging
from .rpc.connection import Connection
from .rpc.router import Router
from .sessions.actor import SessionDeps
from .sessions.registry import SessionRegistry
from .sessions.service import Sessions
from .sessions.services import TurnServices
from .store import SqliteStore
from .store.leases import ThreadLeases
from .transport import Transport
from .transport.stdio import stdio_transport

__all__ = ["App", "run_stdio", "serve"]

logger = logging.getLogger(__name__)


@dataclass
class App:
    """What handlers reach: settings and the long-lived services."""

    settings: Settings
    sessions: Sessions = field(init=False)
    turn_services: TurnServices = field(init=False)
    version: str = __version__
    connections: list[Connection] = field(default_factory=list)

    async def broadcast(self, method: str, params: Any) -> None:
        """Send a notification to every initialized connection (e.g. ``thread/name/updated``)."""
        for conn in list(self.connections):
            if conn.initialize_answered and not conn.closed:
                await conn.notify(method, params)

    async def shutdown(self) -> None:
        await self.sessions.registry.shutdown()


def _unload_delay(settings: Settings) -> float:
    """Seconds a thread nobody is subscribed to stays loaded: Codex's ``thread_unload_delay_secs``, or the name
    earlier Threadline versions read."""
    value = settings.get("thread_unload_delay_secs", settings.get("thread_idle_unload_seconds", 1800))
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else 1800.0


async def serve(
    settings: Settings,
    transport: Transport,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
    started: Callable[[App], None] | None = None,
) -> None:
    app = App(settings)
    app.turn_services = TurnServices(settings, transport=http_transport)
    async with SqliteStore.open(settings.home) as store, anyio.create_task_group() as tg:
        leases = ThreadLeases.open(settings.home)
        registry = SessionRegistry(leases)
        await tg.start(registry.run)
        deps = SessionDeps(store=store, broadcast=app.broadcast, unload_delay=_unload_delay(settings))
        app.sessions = Sessions(settings, store, registry, deps, __version__)
        router = Router()
        register_all(router, app)
        conn = Connection(transport, router, on_eof=app.shutdown)
        app.connections.append(conn)
        if started is not None:
            started(app)
        try:
            await conn.run()
        finally:
            with anyio.CancelScope(shield=True):
                await registry.shutdown()
                await app.turn_services.aclose()
            leases.close()  # every thread this process still held is free for another daemon
            tg.cancel_scope.cancel()


async def _serve_stdio(settings: Settings, divert_fd: int) -> None:
    apps: list[App] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_signals, apps, tg.cancel_scope)

        def started(app: App) -> None:
            apps.append(app)
            tg.start_soon(_settle, app)

        async with stdio_transport(divert_fd=divert_fd) as transport:
            await serve(settings, transport, started=started)
        tg.cancel_scope.cancel()


async def _settle(app: App) -> None:
    """Once the daemon serves (beside the handshake): the first HTTP client's set-up, in a worker thread, then the
    start-up heap moved out of the collector's sight.

    Why the freeze: every full collection walks every tracked object, and start-up leaves ~50,000 of them
    (modules, schemas, generated types) that never die; one full collection then stalled the loop ~25 ms in the
    middle of 50 streaming turns. Frozen, they are never scanned again. Only the daemon process does this: an
    in-memory server in a test process must not freeze its host's heap."""
    try:
        await app.turn_services.prepare_http()
    except Exception:
        logger.exception("preparing the upstream HTTP client failed; the first turn will do it")
    gc.collect()
    gc.freeze()


async def _watch_signals(apps: list[App], scope: anyio.CancelScope) -> None:
    """The first SIGTERM/SIGINT shuts down like stdin EOF (turns end interrupted and persisted); a second forces."""
    stopping: list[App] = []
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if not apps:
                for app in stopping:  # the second signal forces: endings still sending are cut at once
                    app.sessions.registry.cut_endings()
                scope.cancel()
                return
            stopping.extend(apps)
            logger.warning("received %s; shutting down", signal.Signals(signum).name)
            for conn in apps[0].connections:
                conn.stop_reading()
            apps.clear()


def run_stdio(settings: Settings) -> int:
    stderr = configure_logging(settings.env)
    logger.info("threadline %s serving on stdio (home %s)", __version__, settings.home)
    # fd 1 goes to the stderr writer, not to fd 2 itself: a stray write must not block on a stderr nobody reads.
    anyio.run(_serve_stdio, settings, stderr.stray_fd(), backend_options=_event_loop_options())
    return 0


def _event_loop_options() -> dict[str, object]:
    """uvloop when it is installed (it is a dependency wherever it builds): asyncio's selector loop makes three
    epoll_ctl calls per socket wait, which is most of the daemon's CPU when many streams trickle at once."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}
