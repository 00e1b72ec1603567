"""The body of a regular turn: user input → sampling requests → items → client tool rounds → done.

Steered input joins the history before the next request (and cuts a response still streaming short, see
``sample``); the turn goes on while the model calls tools or input is waiting, and ends when the model answers
without a tool call. A response's usage is accounted as it completes and announced once its tool calls have
run, as Codex orders it. Compaction hooks run before each request (``server.sessions.compact``). With an
output schema, the final message must parse as JSON and match it, or the turn fails with the mismatch in its
error. A response that fails for good leaves the messages it showed in the history (``TurnFailed.kept``); one
refused as over the window also leaves the context measured full, so the next turn compacts first.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..compaction import ensure_call_output_pairs, mend_gaps
from ..compaction.items import is_compaction
from ..models import ModelInfo
from ..store import History
from ..upstream.errors import ContextWindowExceeded, HttpStatusError
from .damage import DAMAGE, decoded, warn_once
from .meta import ThreadMeta
from .request import RequestPlan, build_request
from .sampling import sample
from .schemas import SchemaUnusable, validation_errors
from .services import TurnServices
from .tools import run_tool_call
from .turn import ActiveTurn, TurnFailed, turn_error
from .usage import account_usage, announce_usage

__all__ = ["effort_for", "ensure_history", "model_history", "regular_turn", "with_history_anchor"]

_entry_decoder: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(dict[str, Any])


def model_history(thread_id: str, stored: History) -> list[dict[str, Any]]:
    """Stored history entries as the model is sent them: decoded, and every call paired with an output.

    A daemon killed while a tool call was pending stored the call without its output; the API refuses unpaired
    calls, so they get their "aborted" output here (in memory; the next turn persists on top).

    An entry that does not decode as a JSON object is left out, with a warning naming its seq, and the history
    is mended around the gap (``mend_gaps``) so it is still one the API accepts: a thread is not bricked by one
    bad row. Nothing is written: every load leaves the same rows out, until a compaction replaces them."""
    for seq in stored.passed_over:
        warn_once((thread_id, "checkpoint", seq), "thread %s: stored compaction checkpoint (checkpoints seq %d) is "
                  "not a JSON array; the model is sent the history from before it, whose size is estimated afresh",
                  thread_id, seq)
    try:  # all at once first: the loop that can skip runs only after a failure
        return ensure_call_output_pairs([_entry_decoder.decode(data) for _, data in stored.entries])
    except DAMAGE:
        pass
    items: list[dict[str, Any]] = []
    gaps: list[int] = []
    for seq, data in stored.entries:
        item = decoded(_entry_decoder, data, thread_id, f"model-history entry (history seq {seq})",
                       "it is left out of what the model is sent")
        if item is None:
            gaps.append(len(items))
        else:
            items.append(item)
    return ensure_call_output_pairs(mend_gaps(items, gaps))


def with_history_anchor(meta: ThreadMeta, stored: History) -> ThreadMeta:
    """``meta`` for a session whose history was just loaded: a checkpoint passed over leaves a history longer
    than the last response measured, so the next context estimate must count all of it (as after a checkpoint)."""
    return msgspec.structs.replace(meta, last_response_tokens=0) if stored.passed_over else meta


async def ensure_history(turn: ActiveTurn) -> list[dict[str, Any]]:
    session = turn.session
    if session.history is None:
        if session.ephemeral:
            session.history = []
        else:
            stored = await session.deps.store.load_history(session.thread_id)
            session.history = model_history(session.thread_id, stored)
            session.meta = with_history_anchor(session.meta, stored)
    return session.history


def effort_for(requested: str | None, model: ModelInfo) -> str | None:
    """The effort to send: what was asked, as Codex sends it, except ``ultra`` (a Codex alias the API does not
    take): the model's highest effort, or ``medium`` for a model that lists none. Nothing asked: the model's
    default."""
    if requested is None:
        return model.default_reasoning_effort
    if requested == "ultra":
        offered = [option.reasoning_effort for option in model.supported_reasoning_efforts]
        return offered[-1] if offered else "medium"
    return requested


def plan_for(turn: ActiveTurn, services: TurnServices, *, context_management: Any = None) -> RequestPlan:
    settings = turn.session.meta.settings
    model = services.model(settings.model)
    return RequestPlan(
        model=settings.model, thread_id=turn.thread_id, instructions=settings.base_instructions,
        developer_instructions=settings.developer_instructions,
        reasoning_effort=effort_for(settings.reasoning_effort, model),
        reasoning_summary=settings.reasoning_summary or "auto",
        # A model outside the catalog reasons when an effort was asked for (Codex sends it to any model).
        supports_reasoning=bool(model.supported_reasoning_efforts) or settings.reasoning_effort is not None,
        # As Codex for the models it knows; the calls still run one at a time, in the order the model gave them.
        parallel_tool_calls=model.known, service_tier=turn.service_tier or settings.service_tier,
        output_schema=turn.output_schema, context_management=context_management)


async def regular_turn(turn: ActiveTurn, services: TurnServices) -> None:
    """The body of a regular turn; its ``turn/start`` input is the first of ``turn.pending_inputs``."""
    from .compact import (  # compaction hooks beside the loop
        after_response,
        before_request,
        inline_rejected,
        window_refused,
    )

    session = turn.session
    turn.lane = await services.startup_lane.enter()  # given back once the first request is built
    history = await ensure_history(turn)
    turn.turn_start_index = len(history)
    # Its items are written as they complete, with the input's history and the thread's preview: the user's
    # input is durable before the first request, and a crash cannot lose it.
    await turn.take_pending_inputs(limit=1)
    while True:
        context_management = await before_request(turn, services)
        await turn.take_pending_inputs()  # steered or joined while the last step ran: this request carries it
        turn.last_message = None  # the outputSchema and turn/completed see the last response's message only
        settings = session.meta.settings
        body = build_request(plan_for(turn, services, context_management=context_management), history,
                             settings.dynamic_tools)
        turn.lane.release()  # start-up is done: waiting on upstream holds no place
        try:
            sampled = await sample(turn, services.client(settings.model_provider), body)
        except TurnFailed as failed:
            if context_management is not None and _rejects_context_management(failed):
                await inline_rejected(turn, services)  # remembered; this request goes again without it
                continue
            # What the user was shown of a response that ended for good: the next turn answers after it.
            turn.append_history(failed.kept)
            if isinstance(failed.__cause__, ContextWindowExceeded):
                await window_refused(turn, services)  # so the next turn compacts first
            raise
        outputs = sampled.outputs
        checkpointed = any(is_compaction(item) for item in outputs)
        turn.append_history(await after_response(turn, services, outputs))
        session.meta = msgspec.structs.replace(session.meta, previous_model=settings.model)
        usage = account_usage(turn, sampled.usage, services.model(settings.model).effective_context_window)
        if checkpointed or (sampled.preempted and outputs):
            # No usage measured the history as it now is (an inline checkpoint replaced it; messages kept from a
            # response cut short came with none): estimate all of it until a response measures it again.
            session.meta = msgspec.structs.replace(session.meta, last_response_tokens=0)
        calls = [item for item in outputs if item.get("type") == "function_call"]
        if calls:
            await turn.flush()  # the model's calls (and the usage) are durable before any client runs them
        for call in calls:
            await run_tool_call(turn, call)
        await announce_usage(turn, usage)  # as Codex orders it: once the response's tool calls have run
        if not calls and not turn.pending_inputs:
            turn.accepting_input = False  # no await since the check: a steer from now on finds no turn
            # The last step's history and usage go in the ending's batch, with no await before it: its items
            # were written as they completed, so a write of its own here would only cost the turn a commit.
            break
        await turn.flush()  # the step is durable before the next request
    _check_output_schema(turn)


def _rejects_context_management(failed: TurnFailed) -> bool:
    cause = failed.__cause__
    return isinstance(cause, HttpStatusError) and cause.rejects_parameter("context_management")


def _check_output_schema(turn: ActiveTurn) -> None:
    if turn.output_schema is None:
        return
    text = turn.last_message.text if turn.last_message is not None else None
    try:
        value = msgspec.json.decode(text or "")
    except msgspec.DecodeError:
        raise TurnFailed(turn_error("the final message is not JSON, but the turn has an outputSchema", "other",
                                    (text or "")[:500])) from None
    try:
        errors = validation_errors(turn.output_schema, value)
    except SchemaUnusable as exc:
        raise TurnFailed(turn_error(f"the outputSchema cannot be used to check the final message: {exc}",
                                    "other")) from None
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path)
        raise TurnFailed(turn_error(f"the final message does not match the outputSchema: {first.message} "
                                    f"(at /{where})", "other"))
