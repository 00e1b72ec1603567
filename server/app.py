"""Composition root: settings → store → sessions → router → connection, under one root task group.

``serve(settings, transport)`` runs the daemon on any transport until the peer's EOF and is what the
in-memory test harness drives; ``run_stdio(settings)`` is the process entry point (stdio, signals, logging).
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field

import anyio

from . import __version__
from .config import Settings
from .handlers import register_all
from .logs import configure_logging
from .rpc.connection import Connection
from .rpc.router import Router
from .transport import Transport
from .transport.stdio import stdio_transport

__all__ = ["App", "run_stdio", "serve"]

logger = logging.getLogger(__name__)


@dataclass
class App:
    """What handlers reach: settings and the long-lived services."""

    settings: Settings
    version: str = __version__
    connections: list[Connection] = field(default_factory=list)

    async def shutdown(self) -> None:
        """Stop cleanly after the peer's EOF or a signal."""


async def serve(settings: Settings, transport: Transport) -> None:
    app = App(settings)
    router = Router()
    register_all(router, app)
    conn = Connection(transport, router, on_eof=app.shutdown)
    app.connections.append(conn)
    await conn.run()


async def _serve_stdio(settings: Settings) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_signals, tg.cancel_scope)
        async with stdio_transport() as transport:
            await serve(settings, transport)
        tg.cancel_scope.cancel()


async def _watch_signals(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            logger.warning("received %s; shutting down", signal.Signals(signum).name)
            scope.cancel()
            return


def run_stdio(settings: Settings) -> int:
    configure_logging(settings.env)
    logger.info("threadline %s serving on stdio (home %s)", __version__, settings.home)
    anyio.run(_serve_stdio, settings)
    return 0
