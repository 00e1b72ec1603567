"""The turn loop (placeholder until turns land): what the actor and thread methods need to know of a turn."""

from __future__ import annotations


class ActiveTurn:
    turn_id: str

    async def abort_and_wait(self, reason: str | None) -> None:
        raise NotImplementedError
