"""The explicit compaction requests: remote v2 (`compaction_trigger`), remote v1 (`/responses/compact`) and local.

Contract: `compute_replacement` turns a list of history items into the replacement history, choosing the path
with `choose_path` and falling back in order when the provider refuses one: a rejected `compaction_trigger`
→ v1, a 404 from `/responses/compact` → local (both remembered in `ProviderState` for the daemon's life, so
the next compaction skips the failed path), a remote request over the window → local (which trims). Nothing
here touches the thread: it returns the new items or raises `TurnFailed`, so a failed compaction leaves the
history as it was. These requests stream quietly: their output is never shown as turn items, and the
`compaction_trigger` item exists only inside the one request body that carries it.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from typing import Any

import anyio

from ..compaction import (
    COMPACT_PROMPT,
    DEFAULT_USER_BUDGET_TOKENS,
    CompactionPath,
    InvalidCompactionOutput,
    Item,
    build_local_replacement,
    choose_path,
    estimate_history,
    process_remote_output,
    trim_for_summary_request,
)
from ..compaction.estimate import estimate_text_tokens
from ..compaction.items import user_text_message
from ..metrics import COMPACTION, METRICS
from ..upstream.client import ResponsesClient
from ..upstream.errors import (
    CompactEndpointMissing,
    ContextWindowExceeded,
    HttpStatusError,
    StreamError,
    UpstreamError,
)
from ..upstream.events import OutputItemDone, ResponseCompleted, Usage
from ..upstream.outputs import OutputAt, in_output_order, reconcile
from ..upstream.retry import backoff_delay
from .compaction_context import CompactionContext, Trigger, gather, mode_of, path_inputs
from .convert import assistant_text
from .loop import effort_for, plan_for
from .request import RequestPlan, build_request
from .sampling import upstream_turn_error
from .services import TurnServices
from .turn import ActiveTurn, TurnFailed, turn_error

__all__ = ["Replacement", "compute_replacement", "stream_outputs"]

logger = logging.getLogger(__name__)

TRIGGER_ITEM = {"type": "compaction_trigger"}
_V2_HEADERS = {"x-codex-beta-features": "remote_compaction_v2"}


class _Fallback(Exception):
    """This path cannot serve the compaction; `choose_path` (with what was just learned) picks the next."""


async def stream_outputs(client: ResponsesClient, body: dict[str, Any], *,
                         headers: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], Usage | None]:
    """Stream one request to `response.completed` and return its output items and usage, retrying broken
    streams. Items whose `output_item.done` was lost or repaired are taken from `response.completed`'s list, as
    in a turn's sampling (a compaction item or a summary must not be lost to one bad event either)."""
    limit = client.provider.stream_max_retries
    failures = 0
    while True:
        taken: list[OutputAt] = []
        repaired: list[OutputAt] = []
        try:
            async with client.stream(body, headers=headers) as events:
                async for event in events:
                    if isinstance(event, OutputItemDone):
                        (repaired if event.repaired else taken).append((event.output_index, event.item))
                    elif isinstance(event, ResponseCompleted):
                        added = reconcile(taken, repaired, event.response.output, listed_intact=not event.repaired)
                        return in_output_order([*taken, *added]), event.response.usage
            raise StreamError("stream ended without response.completed")
        except StreamError:
            # As in a turn's sampling: a broken attempt yields nothing; the same request goes again.
            failures += 1
            if failures > limit:
                raise
            await anyio.sleep(backoff_delay(failures, random.random))


def _plan(turn: ActiveTurn, services: TurnServices, ctx: CompactionContext) -> RequestPlan:
    settings = turn.session.meta.settings
    model = ctx.model
    return replace(plan_for(turn, services), model=model.slug, output_schema=None, context_management=None,
                   supports_reasoning=bool(model.supported_reasoning_efforts) or settings.reasoning_effort is not None,
                   reasoning_effort=effort_for(settings.reasoning_effort, model))


def _user_budget(turn: ActiveTurn, services: TurnServices) -> int:
    """Tokens of recent user messages a rebuilt history keeps: 20,000, or a quarter of a smaller limit.

    With a small auto-compact limit, 20,000 tokens of kept messages would leave the new history over the
    limit, and every following turn would compact again without shrinking anything. The limit is that of
    the thread's model, which must read the result, even when the previous model wrote the summary.
    """
    limit = services.model(turn.session.meta.settings.model).effective_auto_compact_limit
    return DEFAULT_USER_BUDGET_TOKENS if limit is None else min(DEFAULT_USER_BUDGET_TOKENS, limit // 4)


def _fit(items: list[Item], ctx: CompactionContext, reserve: int = 0) -> list[Item]:
    """`items` trimmed oldest-first to fit the window (less `reserve`), when the window is known."""
    window = ctx.window
    if window is None or estimate_history(items) + reserve <= window * 9 // 10:
        return items
    return trim_for_summary_request(items, target_tokens=max(window * 9 // 10 - reserve, 0))


async def _remote_v2(turn: ActiveTurn, services: TurnServices, ctx: CompactionContext,
                     items: list[Item]) -> tuple[list[Item], Usage | None]:
    settings = turn.session.meta.settings
    body = build_request(_plan(turn, services, ctx), _fit(items, ctx), settings.dynamic_tools)
    body["input"].append(dict(TRIGGER_ITEM))  # transient: only this request body ever holds it
    try:
        outputs, usage = await stream_outputs(services.client(ctx.provider.id), body, headers=_V2_HEADERS)
    except HttpStatusError as exc:
        if exc.status == 400 and ("compaction_trigger" in exc.message or exc.param == "input"):
            ctx.state.trigger_rejected = True
            raise _Fallback("the provider refused compaction_trigger") from exc
        raise
    try:
        return process_remote_output(outputs, version="v2", request_input=items,
                                     user_budget_tokens=_user_budget(turn, services)), usage
    except InvalidCompactionOutput as exc:
        raise TurnFailed(turn_error(f"remote compaction failed: {exc}", "other")) from exc


async def _remote_v1(turn: ActiveTurn, services: TurnServices, ctx: CompactionContext,
                     items: list[Item]) -> tuple[list[Item], Usage | None]:
    request = build_request(_plan(turn, services, ctx), _fit(items, ctx), [])
    # The compact endpoint takes no tools and is never compressed (ResponsesClient.compact sees to that).
    body = {"model": request["model"], "input": request["input"], "instructions": request["instructions"],
            "tools": [], "parallel_tool_calls": False, "prompt_cache_key": request["prompt_cache_key"]}
    try:
        answer = await services.client(ctx.provider.id).compact(body)
    except CompactEndpointMissing as exc:
        ctx.state.compact_endpoint_missing = True
        raise _Fallback("the provider has no /responses/compact") from exc
    try:
        return process_remote_output(answer.output, version="v1"), answer.usage
    except InvalidCompactionOutput as exc:
        raise TurnFailed(turn_error(f"remote compaction failed: {exc}", "other")) from exc


def _compact_prompt(services: TurnServices) -> str:
    configured = services.settings.get("compact_prompt")
    return configured if isinstance(configured, str) and configured.strip() else COMPACT_PROMPT


async def _local(turn: ActiveTurn, services: TurnServices, ctx: CompactionContext,
                 items: list[Item]) -> tuple[list[Item], Usage | None]:
    prompt = _compact_prompt(services)
    plan = _plan(turn, services, ctx)
    client = services.client(ctx.provider.id)
    request_items = _fit(items, ctx, reserve=estimate_text_tokens(prompt))
    while True:
        body = build_request(plan, [*request_items, user_text_message(prompt)], [])
        try:
            outputs, usage = await stream_outputs(client, body)
            break
        except ContextWindowExceeded:
            # Dropping the oldest items keeps the recent tail, which matters most for a handoff.
            request_items = trim_for_summary_request(request_items)
            if not request_items:
                raise TurnFailed(turn_error("the context is full and could not be summarized; start a new thread",
                                            "contextWindowExceeded")) from None
    texts = [assistant_text(item) for item in outputs if item.get("type") == "message"
             and item.get("role") == "assistant"]
    summary = next((text for text in reversed(texts) if text.strip()), "")
    return build_local_replacement(items, summary, user_budget_tokens=_user_budget(turn, services)), usage


_RUNNERS = {"remote_v2": _remote_v2, "remote_v1": _remote_v1, "local": _local}


@dataclass(frozen=True)
class Replacement:
    """What an explicit compaction produced: the new items, the path (never `inline`) and the usage of the
    request that produced them (None when the server did not say)."""

    items: list[Item]
    path: CompactionPath
    usage: Usage | None


async def compute_replacement(turn: ActiveTurn, services: TurnServices, items: list[Item], *, trigger: Trigger,
                              manual: bool, over_window: bool = False, model: str | None = None) -> Replacement:
    """The replacement for `items` (see `Replacement` and the module docstring).

    Raises `TurnFailed` when the compaction cannot be done; the thread's history is untouched either way.
    """
    ctx = gather(turn, services, model=model)
    path = choose_path(ctx.inputs, manual=manual, over_window=over_window or ctx.inline)
    try:
        while True:
            try:
                compacted, usage = await _RUNNERS[path](turn, services, ctx, items)
                return Replacement(compacted, path, usage)
            except _Fallback as why:
                logger.info("thread %s: %s; falling back", turn.thread_id, why)
            except ContextWindowExceeded:
                if path == "local":
                    raise TurnFailed(turn_error("the context is full and could not be summarized",
                                                "contextWindowExceeded")) from None
                # A remote request that no longer fits: the local path trims what it sends until it does.
            except UpstreamError as exc:
                raise TurnFailed(upstream_turn_error(exc)) from exc
            METRICS.add(COMPACTION, {"mode": mode_of(path), "trigger": trigger, "outcome": "fallback"})
            previous = path
            path = choose_path(path_inputs(services, ctx.provider), manual=manual, over_window=True)
            if path in (previous, "remote_v2"):
                path = "local"  # a path that just failed is never retried in a loop; local always works
    except BaseException as exc:
        outcome = "interrupted" if isinstance(exc, anyio.get_cancelled_exc_class()) else "failed"
        METRICS.add(COMPACTION, {"mode": mode_of(path), "trigger": trigger, "outcome": outcome})
        raise
