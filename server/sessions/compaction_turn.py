"""``thread/compact/start``: a manual compaction, run as a turn of its own (kind ``compact``).

Contract (Codex's observed semantics):
- The request answers ``{}`` at once; the turn announces itself only after that response is out, then
  ``turn/started`` → ``item/started`` (``contextCompaction``) → ``item/completed`` → (when a checkpoint was
  applied) ``thread/compaction/applied`` and ``thread/tokenUsage/updated`` → ``turn/completed``.
- It always uses an explicit request — remote when the provider offers it, else local — never inline: a
  manual compaction must happen now, not whenever the server next crosses a threshold.
- While it runs, ``turn/start`` and ``turn/steer`` are refused with ``activeTurnNotSteerable`` (``ops``
  refuses input to any turn whose kind is not ``regular``); ``turn/interrupt`` cancels it like any turn, and
  an interrupted compaction leaves the history as it was.
- A thread whose history is empty has nothing to compact: the item starts and completes, nothing is applied.
- As Codex: a turn already running (a compaction too) is interrupted and the compaction follows it. The ``{}``
  goes out first, then that turn's ``turn/completed {interrupted}``, then the compaction turn's
  ``turn/started``. A turn whose body already ended otherwise is let finish first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from protocol._generated.types import ThreadCompactStartParams

from ..ids import uuid7
from .compaction_apply import begin_item, compact_now
from .loop import ensure_history
from .service import Sessions
from .services import TurnServices
from .turn import ActiveTurn, run_turn

__all__ = ["compaction_turn", "start_compaction"]

After = Callable[[], Awaitable[None]]


async def compaction_turn(turn: ActiveTurn, services: TurnServices) -> None:
    """The body of a manual compaction turn."""
    history = await ensure_history(turn)
    turn.turn_start_index = len(history)
    if not history:
        item = await begin_item(turn)
        await turn.item_completed(item)
    else:
        await compact_now(turn, services, trigger="manual", manual=True)
    turn.accepting_input = False  # done: a turn/start from now on waits for this turn's end, then runs


async def start_compaction(sessions: Sessions, services: TurnServices, params: ThreadCompactStartParams) -> After:
    """Start the compaction turn; returns the action to run once the ``{}`` response is out."""
    session = await sessions.require_loaded(params.thread_id)

    answered = anyio.Event()  # set once our `{}` is out: the interrupted turn's ending waits for it

    async def job() -> ActiveTurn:
        previous = session.active or session.ending
        if previous is not None and not previous.done.is_set():
            if previous.interruptible:
                previous.interrupt(answered)  # input arriving now waits for the compaction, then runs
            await previous.done.wait()  # its ending is written: the history the compaction reads is whole
        turn = ActiveTurn(session, uuid7(), kind="compact", follows=previous)
        session.active = turn
        session.cancel_unload()

        async def body(t: ActiveTurn) -> None:
            await compaction_turn(t, services)

        session.start_task(run_turn, turn, body)
        return turn

    turn = await session.call(job)

    async def released() -> None:
        answered.set()
        turn.response_sent.set()

    return released
