"""Local compaction: the summarization request's input and the history rebuilt from its summary.

Contract: `trim_for_summary_request` shrinks the history sent with our compact prompt when that request
itself overflows the window, dropping oldest items first and never leaving a tool output whose call is gone.
`build_local_replacement` turns a summary into the new history: the most recent real user messages within a
token budget, in chronological order, then one user message holding the bridge prefix and the summary.
Everything else — assistant messages, tool traffic, reasoning, injected context — is replaced by the summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from server.compaction.estimate import BYTES_PER_TOKEN, estimate_item_tokens
from server.compaction.items import Item, is_real_user_message, message_texts, user_text_message
from server.compaction.pairs import detach_unreasoned_calls, ensure_call_output_pairs
from server.compaction.prompts import summary_message_text

__all__ = [
    "DEFAULT_USER_BUDGET_TOKENS",
    "TRUNCATION_MARKER",
    "build_local_replacement",
    "recent_user_messages",
    "trim_for_summary_request",
]

DEFAULT_USER_BUDGET_TOKENS = 20_000
TRUNCATION_MARKER = "\n[… part of this message was cut to fit the context …]\n"
# A cut message shorter than this is more confusing than helpful, so it is dropped instead.
_MIN_KEPT_CHARS = 200


def _truncate_to_fit(item: Mapping[str, Any], budget_tokens: int) -> Item | None:
    """A text-only message cut in the middle to fit `budget_tokens`, or None when it cannot usefully fit."""
    content = item.get("content")
    texts = message_texts(item)
    parts = cast(list[object], content) if isinstance(content, list) else [content]
    if not texts or len(texts) != len(parts):
        return None  # Images or other parts cannot be cut meaningfully; drop the whole message.
    text = "\n".join(texts)
    keep = len(text)
    while keep >= _MIN_KEPT_CHARS:
        head = keep // 2
        cut = text[:head] + TRUNCATION_MARKER + text[len(text) - (keep - head) :]
        candidate = {**item, "content": [{"type": "input_text", "text": cut}]}
        overshoot = estimate_item_tokens(candidate) - budget_tokens
        if overshoot <= 0:
            return candidate
        # Shrink by at least the overshoot in characters; escapes can make a character cost more than one byte.
        keep -= max(overshoot * BYTES_PER_TOKEN, 1)
    return None


def recent_user_messages(
    history: Sequence[Mapping[str, Any]], *, budget_tokens: int = DEFAULT_USER_BUDGET_TOKENS
) -> list[Item]:
    """The newest real user messages whose estimates add up to at most `budget_tokens`, oldest first.

    The walk goes newest to oldest and stops at the first message that does not fit: that message is cut
    in the middle to fill what is left of the budget (text-only messages; it is dropped when it holds images
    or fewer than a couple of hundred characters would survive), and older messages are not considered, so
    what is kept is always an unbroken run of the latest messages.
    """
    kept: list[Item] = []
    left = budget_tokens
    for item in reversed(history):
        if not is_real_user_message(item):
            continue
        cost = estimate_item_tokens(item)
        if cost <= left:
            kept.append(dict(item))
            left -= cost
            continue
        cut = _truncate_to_fit(item, left) if left > 0 else None
        if cut is not None:
            kept.append(cut)
        break
    kept.reverse()
    return kept


def build_local_replacement(
    history: Sequence[Mapping[str, Any]],
    summary_text: str,
    *,
    user_budget_tokens: int = DEFAULT_USER_BUDGET_TOKENS,
) -> list[Item]:
    """The history after a local compaction: `recent_user_messages(history)`, then the summary message.

    The summary message is a user-role message: the bridge prefix (which opens with the summary marker, so
    a later compaction sees it as injected, not typed), a blank line, and `summary_text` — or a placeholder
    when the summarization returned nothing.
    """
    messages = recent_user_messages(history, budget_tokens=user_budget_tokens)
    return [*messages, user_text_message(summary_message_text(summary_text))]


def trim_for_summary_request(history: Sequence[Mapping[str, Any]], *, target_tokens: int | None = None) -> list[Item]:
    """`history` with its oldest items removed, for retrying a summarization request that overflowed.

    Removes the oldest item, then keeps removing oldest items while the estimate exceeds `target_tokens`
    (when given). Dropping a tool call drops its output too, an output is never left without its call, calls
    whose reasoning was dropped lose their item `id`, and calls left without an output get an aborted one.
    Oldest-first keeps the recent tail, which matters most for a handoff. Pass the history without the
    compact prompt (append it after trimming). An empty result means nothing is left to remove:
    the caller gives up and reports the context as full.
    """
    items = [dict(item) for item in history]
    costs = [estimate_item_tokens(item) for item in items]
    total = sum(costs)
    start = 1 if items else 0
    total -= sum(costs[:start])
    while start < len(items) and target_tokens is not None and total > target_tokens:
        total -= costs[start]
        start += 1
    # ensure_call_output_pairs drops the outputs whose calls went with the removed prefix.
    return ensure_call_output_pairs(detach_unreasoned_calls(items[start:]))
