"""Turn method handlers: ``turn/start``, ``turn/steer``, ``turn/interrupt`` (thin adapters)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol._generated.methods import ClientMethod as M
from protocol._generated.types import (
    TurnInterruptParams,
    TurnInterruptResponse,
    TurnStartParams,
    TurnStartResponse,
    TurnSteerParams,
    TurnSteerResponse,
)

from ..sessions import ops

if TYPE_CHECKING:
    from ..app import App
    from ..rpc.connection import RequestContext
    from ..rpc.router import Router

__all__ = ["register"]


def register(router: Router, app: App) -> None:
    async def start(ctx: RequestContext, params: TurnStartParams) -> TurnStartResponse:
        result, after = await ops.start_turn(app.sessions, app.turn_services, params)
        if after is not None:
            ctx.after_response(after)
        return result

    async def steer(ctx: RequestContext, params: TurnSteerParams) -> TurnSteerResponse:
        return await ops.steer_turn(app.sessions, params)

    async def interrupt(ctx: RequestContext, params: TurnInterruptParams) -> TurnInterruptResponse:
        ctx.after_response(await ops.interrupt_turn(app.sessions, params))
        return TurnInterruptResponse()

    router.add(M.TURN_START, start)
    router.add(M.TURN_STEER, steer)
    router.add(M.TURN_INTERRUPT, interrupt)
