"""Compaction inside turns (placeholder hooks until the compaction paths land)."""

from __future__ import annotations

from typing import Any

from .services import TurnServices
from .turn import ActiveTurn


async def before_request(turn: ActiveTurn, services: TurnServices) -> list[dict[str, Any]] | None:
    return None


async def after_response(turn: ActiveTurn, services: TurnServices, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return outputs
