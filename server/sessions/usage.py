"""A thread's token usage: what each upstream response adds, what a compaction leaves, and its announcement.

Contract: `total` is the sum of every response's usage the thread has paid for — turn requests and
compaction requests alike, as Codex counts them — and `last` is the latest measurement of the context.
After a compaction nothing has measured the new history yet, so `last` carries the estimate of it in
`totalTokens` alone (as Codex reports it) until the next response does. After the server refused a request as
over the window, `last` reads the whole window the same way (`usage_when_full`). Changes are made in memory on
the session's meta; the turn's next flush persists them.
"""

from __future__ import annotations

import msgspec

from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.types import ThreadTokenUsage, ThreadTokenUsageUpdatedNotification, TokenUsageBreakdown

from ..upstream.events import Usage
from .turn import ActiveTurn

__all__ = ["account_usage", "announce_usage", "usage_after_compaction", "usage_when_full"]

_ZERO = TokenUsageBreakdown(total_tokens=0, input_tokens=0, cached_input_tokens=0, output_tokens=0,
                            reasoning_output_tokens=0)


def account_usage(turn: ActiveTurn, usage: Usage | None, context_window: int | None) -> ThreadTokenUsage | None:
    """Add a response's usage to the thread's; None (and nothing changed) without usage."""
    if usage is None:
        return None
    session = turn.session
    last = TokenUsageBreakdown(total_tokens=usage.total_tokens, input_tokens=usage.input_tokens,
                               cached_input_tokens=usage.cached_tokens, output_tokens=usage.output_tokens,
                               reasoning_output_tokens=usage.reasoning_tokens)
    before = session.meta.token_usage.total if session.meta.token_usage else None
    total = last if before is None else TokenUsageBreakdown(
        total_tokens=before.total_tokens + last.total_tokens, input_tokens=before.input_tokens + last.input_tokens,
        cached_input_tokens=before.cached_input_tokens + last.cached_input_tokens,
        output_tokens=before.output_tokens + last.output_tokens,
        reasoning_output_tokens=before.reasoning_output_tokens + last.reasoning_output_tokens)
    token_usage = ThreadTokenUsage(total=total, last=last, model_context_window=context_window)
    session.meta = msgspec.structs.replace(session.meta, token_usage=token_usage,
                                           last_response_tokens=usage.total_tokens)
    return token_usage


def usage_after_compaction(previous: ThreadTokenUsage | None, tokens_after: int,
                           context_window: int | None) -> ThreadTokenUsage:
    """The usage to report once a checkpoint replaced the history (pure): the total as it was, and the
    estimate of the new history as `last.totalTokens`."""
    return ThreadTokenUsage(total=previous.total if previous is not None else _ZERO,
                            last=msgspec.structs.replace(_ZERO, total_tokens=tokens_after),
                            model_context_window=context_window)


def usage_when_full(previous: ThreadTokenUsage | None, context_window: int) -> ThreadTokenUsage:
    """The usage to report once the server refused a request as over the window (pure): the context measured
    full, `last.totalTokens` being the window clients are told (`modelContextWindow`), and the total as it was.

    Codex 0.163.0 also sets the total to the window (and `last` to the window less the old total); but the total
    is what the thread has paid for, and a refused request costs nothing, so it stays. A client's context meter
    reads `last`, which says full either way."""
    return ThreadTokenUsage(total=previous.total if previous is not None else _ZERO,
                            last=msgspec.structs.replace(_ZERO, total_tokens=context_window),
                            model_context_window=context_window)


async def announce_usage(turn: ActiveTurn, token_usage: ThreadTokenUsage | None) -> None:
    if token_usage is not None:
        await turn.session.emit(N.THREAD_TOKEN_USAGE_UPDATED, ThreadTokenUsageUpdatedNotification(
            thread_id=turn.thread_id, turn_id=turn.turn_id, token_usage=token_usage))
