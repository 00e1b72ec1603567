"""Compaction inside turns (placeholder hooks until the compaction paths land).

The turn loop calls, for every sampling request of a regular turn:
- ``before_request`` → the ``context_management`` parameter when inline compaction is in use, else None
  (and runs a remote/local compaction first when the context needs one);
- ``after_response`` with the completed output items → the items to append to the history (an applied
  inline checkpoint has already rewritten the history and returns only what follows it);
- ``inline_rejected`` when the provider refused ``context_management`` (the request is then re-sent).
"""

from __future__ import annotations

from typing import Any

from .services import TurnServices
from .turn import ActiveTurn


async def before_request(turn: ActiveTurn, services: TurnServices) -> list[dict[str, Any]] | None:
    return None


async def after_response(turn: ActiveTurn, services: TurnServices, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return outputs


async def inline_rejected(turn: ActiveTurn, services: TurnServices) -> None:
    services.provider_state(turn.session.meta.settings.model_provider).inline_rejected = True
