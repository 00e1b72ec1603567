"""Compaction inside turns: the hooks the sampling loop calls around every request of a regular turn.

- ``before_request`` → the ``context_management`` parameter when inline compaction is in use, else None.
  Before the turn's first request it compacts with the previous model when the thread switched to a model
  with a smaller window (not when inline is available); before any request it compacts through the remote
  or local path when the estimate reached the auto-compact limit (with inline: only when it reached the
  whole window, since the server compacts at the limit itself). A turn that needs a compaction after
  ``max_compactions_per_turn`` of them fails with ``contextWindowExceeded`` instead of looping.
- ``after_response`` with the completed output items → the items to append to the history. When the
  outputs hold a ``compaction`` item (an inline checkpoint: ``sample`` returns outputs only after
  ``response.completed``, so a cut or retried stream never gets here, and what a steer keeps of a response
  cut short stops before any checkpoint) the checkpoint is applied, persisted
  and announced right away, and nothing is left to append: the replacement already ends with what followed
  the compaction item.
- ``inline_rejected`` when the provider refused ``context_management``: remembered for the provider, so
  this request and every later one goes without it and compaction falls back to the remote/local path.
- ``window_refused`` when the server refused the request as over the model's window (``context_length_exceeded``):
  the turn fails, and the context estimate is anchored at the whole window, so the next turn compacts before its
  first request rather than fail the same way.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from ..compaction import context_management_param, needs_pre_turn_compaction, needs_previous_model_compaction
from ..compaction.items import is_compaction
from ..metrics import COMPACTION, METRICS
from .compaction_apply import apply_checkpoint, begin_item, compact_now, inline_replacement
from .compaction_context import CompactionContext, context_size, gather, is_first_request
from .services import TurnServices
from .turn import ActiveTurn, TurnFailed, turn_error
from .usage import announce_usage, usage_when_full

__all__ = ["after_response", "before_request", "inline_rejected", "window_refused"]

logger = logging.getLogger(__name__)


def _over_budget(turn: ActiveTurn, ctx: CompactionContext) -> TurnFailed:
    return TurnFailed(turn_error(
        f"the context is still over its limit after {turn.compactions} compaction(s) in this turn "
        f"(max_compactions_per_turn = {ctx.cap}); start a new thread or raise the limit",
        "contextWindowExceeded"))


async def _previous_model_first(turn: ActiveTurn, services: TurnServices, ctx: CompactionContext) -> bool:
    """Compact with the previous model when the thread moved to a smaller window; True when it did."""
    session = turn.session
    previous = session.meta.previous_model
    if previous is None or previous == ctx.model.slug:
        return False
    old = services.model(previous)
    if not needs_previous_model_compaction(old.context_window, ctx.window, context_size(session), ctx.limit,
                                           ctx.inline):
        return False
    if ctx.budget(turn.compactions).exhausted:
        raise _over_budget(turn, ctx)
    await compact_now(turn, services, trigger="auto", model=previous, keep_turn_inputs=True)
    return True


async def before_request(turn: ActiveTurn, services: TurnServices) -> list[dict[str, Any]] | None:
    session = turn.session
    history = session.history or []
    ctx = gather(turn, services)
    first = is_first_request(history, turn.turn_start_index)
    compacted = first and await _previous_model_first(turn, services, ctx)
    if not compacted:
        estimate = context_size(session)
        if needs_pre_turn_compaction(estimate, ctx.limit, ctx.inline, context_window=ctx.window):
            if ctx.budget(turn.compactions).exhausted:
                raise _over_budget(turn, ctx)
            # With inline in use this point is reached only over the whole window, where the server would
            # refuse the request rather than compact it: compact explicitly.
            await compact_now(turn, services, trigger="auto", over_window=ctx.inline, keep_turn_inputs=first)
            compacted = True
    if compacted:
        ctx = gather(turn, services)  # a fallback during the compaction may have changed the paths
    if not ctx.inline or ctx.limit is None:
        return None
    if ctx.budget(turn.compactions).exhausted and context_size(session) >= ctx.limit:
        # The server would compact once more; the turn is refilling the window as fast as it is emptied.
        raise _over_budget(turn, ctx)
    return context_management_param(ctx.limit)


async def after_response(turn: ActiveTurn, services: TurnServices, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not any(is_compaction(item) for item in outputs):
        return outputs
    session = turn.session
    assert session.history is not None
    # The history is still exactly the request's input: the loop appends this response's items only after us.
    replacement = inline_replacement(session.history, turn.turn_start_index, outputs)
    item = await begin_item(turn)
    await apply_checkpoint(turn, services, item, replacement=replacement, mode="inline", trigger="auto")
    turn.turn_start_index = 0  # the replacement is all this turn's now; a later checkpoint keeps its inputs
    return []


async def inline_rejected(turn: ActiveTurn, services: TurnServices) -> None:
    provider = turn.session.meta.settings.model_provider
    logger.info("provider %s refused context_management; compacting through the remote/local path", provider)
    services.provider_state(provider).inline_rejected = True
    METRICS.add(COMPACTION, {"mode": "inline", "trigger": "auto", "outcome": "fallback"})


async def window_refused(turn: ActiveTurn, services: TurnServices) -> None:
    """The server refused the turn's request as over the model's window, in ``response.failed`` or as an HTTP 400.

    The refused context was at least the whole window, so that is the estimate's new anchor: the next turn's
    pre-turn check finds it over the limit (with inline compaction too: over the window) and compacts before its
    first request, as Codex does after the ``response.failed`` form; the user's next message is answered instead
    of refused again. Codex leaves the HTTP 400 form alone, and the thread stays stuck until the estimate alone
    crosses the limit. An anchor rather than a "compact next" mark: it is stored with the meta like any anchor, a
    fork of the whole thread inherits it, and a next turn on a model with a larger window is judged by that
    model's limit. The usage reads full (``usage_when_full``), announced before the turn's failure, in Codex's
    order. A model whose window is unknown has nothing to anchor (auto-compaction needs the window)."""
    session = turn.session
    model = services.model(session.meta.settings.model)
    told = model.effective_context_window
    if model.context_window is None or told is None:
        return
    usage = usage_when_full(session.meta.token_usage, told)
    session.meta = msgspec.structs.replace(session.meta, token_usage=usage, last_response_tokens=model.context_window)
    await announce_usage(turn, usage)
