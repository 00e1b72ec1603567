"""Thin adapters per method family: decode-ready params in, result Structs out, domain errors raised.

Handlers never touch streams and never block on a turn; each module has ``register(router, app)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import compaction, config, initialize, threads, turns

if TYPE_CHECKING:
    from ..app import App
    from ..rpc.router import Router

__all__ = ["register_all"]


def register_all(router: Router, app: App) -> None:
    initialize.register(router, app)
    config.register(router, app)
    threads.register(router, app)
    turns.register(router, app)
    compaction.register(router, app)
