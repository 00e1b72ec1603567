"""Compaction and metrics method handlers: ``thread/compact/start`` and the experimental ``metrics/read``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol._generated.methods import ClientMethod as M
from protocol._generated.types import (
    MetricsReadParams,
    MetricsReadResponse,
    ThreadCompactStartParams,
    ThreadCompactStartResponse,
)

from ..metrics import METRICS
from ..sessions.compaction_turn import start_compaction

if TYPE_CHECKING:
    from ..app import App
    from ..rpc.connection import RequestContext
    from ..rpc.router import Router

__all__ = ["register"]


def register(router: Router, app: App) -> None:
    async def compact_start(ctx: RequestContext, params: ThreadCompactStartParams) -> ThreadCompactStartResponse:
        # `{}` goes out first; the compaction turn announces itself once the response is queued.
        ctx.after_response(await start_compaction(app.sessions, app.turn_services, params))
        return ThreadCompactStartResponse()

    async def metrics_read(ctx: RequestContext, params: MetricsReadParams) -> MetricsReadResponse:
        return MetricsReadResponse(counters=METRICS.snapshot())

    router.add(M.THREAD_COMPACT_START, compact_start)
    router.add(M.METRICS_READ, metrics_read)
