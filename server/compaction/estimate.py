"""Token estimates for history items and the auto-compact limit.

Contract: estimates are deterministic, cheap and approximate — about one token per four bytes of the item's
compact JSON, rounded up. Two parts of an item are not sized by their JSON: encrypted content (reasoning and
compaction items) counts as the bytes its base64 text decodes to, and every image counts as a fixed cost,
because an inline data URL's length says nothing about what the model is charged for it. Exact counts come
only from the API's usage figures; `context_estimate` anchors on those and estimates just what came after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import msgspec

from server.compaction.items import is_model_generated

__all__ = [
    "BYTES_PER_TOKEN",
    "IMAGE_TOKENS",
    "auto_compact_limit",
    "context_estimate",
    "estimate_history",
    "estimate_item_tokens",
    "estimate_text_tokens",
    "items_after_last_model_item",
]

BYTES_PER_TOKEN = 4
# A flat charge per image, roughly what a detailed screenshot costs; a resized thumbnail costs less and a
# huge image more, but a fixed figure keeps the estimate independent of how the image was encoded.
IMAGE_TOKENS = 1_800
# The default auto-compact limit is this share of the model's context window.
_WINDOW_SHARE_NUM, _WINDOW_SHARE_DEN = 9, 10

_encoder = msgspec.json.Encoder()


def _ceil_tokens(n_bytes: int) -> int:
    return -(-n_bytes // BYTES_PER_TOKEN)


def estimate_text_tokens(text: str) -> int:
    """Tokens for a bare string, by its UTF-8 length."""
    return _ceil_tokens(len(text.encode()))


def _strip_opaque(value: object, tally: list[int]) -> object:
    """Copy `value` without encrypted payloads and image bodies, adding their cost to `tally` = [bytes, images]."""
    if isinstance(value, dict):
        mapping = cast(dict[str, object], value)
        if mapping.get("type") == "input_image":
            tally[1] += 1
            return {"type": "input_image"}
        out: dict[str, object] = {}
        for key, inner in mapping.items():
            if key == "encrypted_content" and isinstance(inner, str):
                # Base64 carries 3 bytes per 4 characters; size the payload by what it decodes to.
                tally[0] += len(inner) * 3 // 4
            else:
                out[key] = _strip_opaque(inner, tally)
        return out
    if isinstance(value, list):
        return [_strip_opaque(inner, tally) for inner in cast(list[object], value)]
    return value


def estimate_item_tokens(item: Mapping[str, Any]) -> int:
    """Estimated tokens of one item as the model sees it (see the module docstring for the rules)."""
    tally = [0, 0]
    visible = _strip_opaque(dict(item), tally)
    n_bytes = len(_encoder.encode(visible)) + tally[0]
    return _ceil_tokens(n_bytes) + tally[1] * IMAGE_TOKENS


def estimate_history(items: Iterable[Mapping[str, Any]]) -> int:
    """Estimated tokens of a list of items: the sum of the per-item estimates."""
    return sum(estimate_item_tokens(item) for item in items)


def items_after_last_model_item(history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The items recorded after the last model-generated item (tool outputs, new user input, injected context).

    These are what the last `response.completed` usage does not yet cover. With no model item at all, the
    whole history is returned.
    """
    for index in range(len(history) - 1, -1, -1):
        if is_model_generated(history[index]):
            return list(history[index + 1 :])
    return list(history)


def context_estimate(
    last_usage_total_tokens: int | None, items_since_last_response: Iterable[Mapping[str, Any]]
) -> int:
    """The current size of the context: the last `response.completed` `usage.total_tokens` plus estimates.

    Pass `items_after_last_model_item(history)` as `items_since_last_response`. With no usage to anchor on
    (a new or resumed thread, or right after a checkpoint rewrote the history), pass None and the whole
    history, which is then estimated item by item.
    """
    anchor = last_usage_total_tokens if last_usage_total_tokens is not None and last_usage_total_tokens > 0 else 0
    return anchor + estimate_history(items_since_last_response)


def auto_compact_limit(context_window: int | None, configured_limit: int | None) -> int | None:
    """The token count at which automatic compaction starts, or None when nothing bounds the thread.

    `configured_limit` is `model_auto_compact_token_limit` (or the model catalog's value); a non-positive
    value counts as unset. With both known, the limit is the smaller of the configured value and 90% of the
    window, so a configured limit can lower the threshold but never push it past the window's safe share.
    """
    configured = configured_limit if configured_limit is not None and configured_limit > 0 else None
    window_share = (
        context_window * _WINDOW_SHARE_NUM // _WINDOW_SHARE_DEN
        if context_window is not None and context_window > 0
        else None
    )
    if configured is not None and window_share is not None:
        return min(configured, window_share)
    return configured if configured is not None else window_share
