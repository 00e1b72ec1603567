"""How the simulator sizes a request's input and compacts it, in the three shapes the real API offers.

Contract: `estimate_tokens` is bytes ÷ 4 (rounded up) of the compact JSON of the input from its most recent
`compaction` item onward — like the real server, which treats a compaction item as replacing everything
before it. A compaction item's `encrypted_content` is opaque to clients but decodable here
(`decode_compaction`): it records how many input items it summarised, so tests can check what was compacted.
Shapes: inline (`context_management` threshold crossed → one compaction item inside the normal stream),
v1 (`POST /responses/compact` → user messages + one compaction item), v2 (input ending with
`compaction_trigger` → exactly one compaction item, then `response.completed`).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

__all__ = [
    "compaction_item",
    "decode_compaction",
    "effective_input",
    "estimate_tokens",
    "inline_threshold",
    "input_items",
    "is_compaction_trigger",
    "last_user_text",
    "user_messages",
]

_PREFIX = "sim-compaction:"
_ids = itertools.count(1)


def input_items(body: Mapping[str, Any]) -> list[Any]:
    """The request's `input` as a list of items (a bare string is one user message, as the API treats it)."""
    raw = body.get("input")
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    return list(raw) if isinstance(raw, list) else []


def effective_input(items: Sequence[Any]) -> list[Any]:
    """The items the model would see: from the last compaction item (inclusive) onward."""
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if isinstance(item, dict) and item.get("type") in ("compaction", "compaction_summary"):
            return list(items[index:])
    return list(items)


def estimate_tokens(items: Sequence[Any]) -> int:
    size = len(msgspec.json.encode(effective_input(items)))
    return -(-size // 4)


def inline_threshold(body: Mapping[str, Any]) -> int | None:
    """`compact_threshold` of a `context_management` compaction entry, if the request carries one."""
    entries = body.get("context_management")
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("type") == "compaction":
            threshold = entry.get("compact_threshold")
            return threshold if isinstance(threshold, int) else 0
    return None


def is_compaction_trigger(items: Sequence[Any]) -> bool:
    return bool(items) and isinstance(items[-1], dict) and items[-1].get("type") == "compaction_trigger"


def compaction_item(summarized: int) -> dict[str, Any]:
    """A fresh compaction output item recording that `summarized` input items were folded into it."""
    number = next(_ids)
    payload = msgspec.json.encode({"sim": "compaction", "n": number, "summarized": summarized})
    content = _PREFIX + base64.urlsafe_b64encode(payload).decode("ascii")
    return {"type": "compaction", "id": f"cmp_sim_{number:06d}", "encrypted_content": content}


def decode_compaction(encrypted_content: str) -> dict[str, Any] | None:
    """What a simulator compaction item recorded (`summarized`, `n`), or None for foreign content."""
    if not encrypted_content.startswith(_PREFIX):
        return None
    try:
        decoded = msgspec.json.decode(base64.urlsafe_b64decode(encrypted_content[len(_PREFIX) :]))
    except (ValueError, msgspec.DecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _is_user_message(item: Any) -> bool:
    return isinstance(item, dict) and item.get("role") == "user" and item.get("type", "message") == "message"


def user_messages(items: Sequence[Any]) -> list[dict[str, Any]]:
    """The user messages of `items`, as `/responses/compact` returns them (all of them, in order)."""
    kept = []
    for item in items:
        if _is_user_message(item):
            content = item.get("content")
            if isinstance(content, str):
                content = [{"type": "input_text", "text": content}]
            kept.append({"type": "message", "role": "user", "content": content})
    return kept


def last_user_text(items: Sequence[Any]) -> str | None:
    """The text of the last user message, for the default reply."""
    for item in reversed(items):
        if not _is_user_message(item):
            continue
        content = item.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [part.get("text", "") for part in content if isinstance(part, dict) and "text" in part]
            return " ".join(t for t in texts if isinstance(t, str)) or None
    return None
