"""``turn/start``, ``turn/steer`` and ``turn/interrupt``: the turn controls, run inside the thread's actor.

Contract (Codex's observed semantics):
- ``turn/start`` answers first (status ``inProgress``, ``startedAt: null``); the turn announces itself only
  after that response is out. While a regular turn runs, ``turn/start`` joins it like a steer and answers
  with the active turn; a compaction turn is not steerable (``activeTurnNotSteerable``).
- ``turn/steer`` checks ``expectedTurnId`` (``expected active turn id `X` but found `Y` ``). Steered or
  joined input cuts the response streaming now short, and the next request carries it at once (observed on
  codex-cli 0.163.0: the partial message is never sent back to the model).
- ``turn/interrupt`` of the active turn cancels it and answers once it has ended, before
  ``thread/status/changed {idle}`` and ``turn/completed {interrupted}``; a stale, wrong or finished turn id
  is refused at once, so it never hangs and never cancels a newer turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import msgspec
from msgspec import UNSET

from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.types import (
    ThreadSettingsUpdatedNotification,
    TurnInterruptParams,
    TurnStartParams,
    TurnStartResponse,
    TurnSteerParams,
    TurnSteerResponse,
)

from ..config import Settings
from ..errors import InvalidParams, InvalidRequest
from ..ids import uuid7
from .actor import ThreadSession
from .loop import regular_turn
from .meta import encode_meta
from .params import opt
from .reply import Reply
from .schemas import schema_problem
from .service import Sessions
from .services import TurnServices
from .thread_config import checked, normalize_service_tier
from .turn import ActiveTurn, PendingInput, run_turn
from .views import settings_view

__all__ = ["interrupt_turn", "not_steerable", "start_turn", "steer_turn"]

After = Callable[[], Awaitable[None]]


def not_steerable(turn: ActiveTurn) -> InvalidRequest:
    return InvalidRequest(f"turn {turn.turn_id} is a {turn.kind} turn and cannot take input",
                          data={"codexErrorInfo": {"activeTurnNotSteerable": {"turnKind": "compact"}}})


def _turn_changes(params: TurnStartParams, daemon: Settings) -> dict[str, Any]:
    """The ``ThreadSettings`` fields a ``turn/start`` overrides (for this turn and every later one), checked."""
    changes: dict[str, Any] = {}
    for name, target in (("cwd", "cwd"), ("approval_policy", "approval_policy"),
                         ("approvals_reviewer", "approvals_reviewer"), ("sandbox_policy", "sandbox"),
                         ("model", "model"), ("effort", "reasoning_effort"), ("summary", "reasoning_summary"),
                         ("service_tier", "service_tier"), ("personality", "personality")):
        value = opt(getattr(params, name))
        if value is not None:
            changes[target] = value
    if (mode := opt(params.collaboration_mode)) is not None:  # as Codex: it wins over model, effort, instructions
        changes.update(collaboration_mode=mode.mode, model=mode.settings.model)
        for name in ("reasoning_effort", "developer_instructions"):
            if (value := opt(getattr(mode.settings, name))) is not None:
                changes[name] = value
    return checked(changes, daemon)


def _sticky(session: ThreadSession, changes: dict[str, Any]) -> ThreadSettingsUpdatedNotification | None:
    """Make ``changes`` the thread's settings; the ``thread/settings/updated`` to announce when they changed any."""
    settings = msgspec.structs.replace(session.meta.settings, **changes)
    if settings == session.meta.settings:
        return None
    session.meta = msgspec.structs.replace(session.meta, settings=settings)
    session.record = msgspec.structs.replace(session.record, cwd=settings.cwd, data=encode_meta(session.meta))
    return ThreadSettingsUpdatedNotification(thread_id=session.thread_id, thread_settings=settings_view(settings))


async def start_turn(sessions: Sessions, services: TurnServices, params: TurnStartParams) -> tuple[TurnStartResponse, After | None]:
    session = await sessions.require_loaded(params.thread_id)
    schema = params.output_schema if params.output_schema is not UNSET else None
    if schema is not None and (problem := schema_problem(schema)) is not None:
        raise InvalidParams(f"outputSchema is not a valid JSON Schema: {problem}")
    client_id = opt(params.client_user_message_id)
    changes = _turn_changes(params, sessions.settings)

    async def job() -> tuple[ActiveTurn, bool, ThreadSettingsUpdatedNotification | None, ActiveTurn | None]:
        active = session.active
        if active is not None and active.accepting_input:
            if active.kind != "regular":
                raise not_steerable(active)
            updated = _sticky(session, changes)  # as Codex: the overrides still become the thread's settings
            active.pending_inputs.append(PendingInput(list(params.input), client_id, opt(params.tool_output)))
            active.preempt()  # as a steer: the response streaming now gives way to the next request
            return active, True, updated, None
        previous = active or session.ending
        if active is not None:
            await active.done.wait()  # it is finishing: the new turn starts right after it
        updated = _sticky(session, changes)
        turn = ActiveTurn(session, uuid7(), output_schema=schema,
                          service_tier=normalize_service_tier(opt(params.service_tier_for_turn)), follows=previous)
        # Its input is the turn's from the start, not the body's: a turn ended before its body runs (a compaction
        # or an archive right behind the turn/start) keeps it, as it keeps any input it took.
        turn.pending_inputs.append(PendingInput(list(params.input), client_id, opt(params.tool_output)))
        session.active = turn
        session.cancel_unload()

        async def body(t: ActiveTurn) -> None:
            await regular_turn(t, services)

        session.start_task(run_turn, turn, body)
        return turn, False, updated, previous

    turn, joined, updated, previous = await session.call(job)
    if updated is not None:
        # As Codex, before the answer; and after the turn/completed of a turn still ending ahead of this one, as the
        # new turn's turn/started is: a client sees the settings change once the turn run on the old ones ended.
        # Waited for here, not in the job: a client slow to read that ending must not hold the thread's mailbox.
        if previous is not None:
            await previous.wait_announced()
        await session.emit(N.THREAD_SETTINGS_UPDATED, updated)
    response = TurnStartResponse(turn=turn.turn_struct("inProgress"))
    response.turn.started_at = None

    async def released() -> None:
        turn.response_sent.set()

    return response, None if joined else released


async def steer_turn(sessions: Sessions, params: TurnSteerParams) -> TurnSteerResponse:
    session = await sessions.require_loaded(params.thread_id)
    client_id = opt(params.client_user_message_id)

    async def job() -> str:
        active = session.active
        if not params.input:  # as Codex: a steer must carry something (an empty turn/start is accepted)
            raise InvalidRequest("input must not be empty")
        if active is None or not active.accepting_input:
            raise InvalidRequest("no active turn to steer")
        if active.turn_id != params.expected_turn_id:
            raise InvalidRequest(f"expected active turn id `{params.expected_turn_id}` but found `{active.turn_id}`")
        if active.kind != "regular":
            raise not_steerable(active)
        active.pending_inputs.append(PendingInput(list(params.input), client_id))
        active.preempt()  # as Codex: the response streaming now is cut short; the next request carries this
        return active.turn_id

    return TurnSteerResponse(turn_id=await session.call(job))


async def interrupt_turn(sessions: Sessions, params: TurnInterruptParams) -> After:
    """Cancel the active turn and wait until it has ended; returns the action releasing ``turn/completed``."""
    session = await sessions.require_loaded(params.thread_id)

    async def job() -> tuple[Reply[None], anyio.Event]:
        active = session.active
        if active is None or not active.interruptible:
            raise InvalidRequest("no active turn to interrupt")  # as Codex, once the turn has ended otherwise
        if active.turn_id != params.turn_id:
            raise InvalidRequest(f"expected active turn id {params.turn_id} but found {active.turn_id}")
        answered = anyio.Event()
        return active.interrupt(answered), answered

    reply, answered = await session.call(job)
    await reply.wait(timeout=60)

    async def release() -> None:
        answered.set()

    return release
