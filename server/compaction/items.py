"""The vocabulary of Responses API input items that compaction reasons about.

Items are plain dicts as they travel to and from the API (`{"type": "message", "role": "user", ...}`).
These predicates never mutate an item; builders return new dicts. A message may omit `"type"` (the API's
short form), so a dict with a `role` and no `type` counts as a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from server.compaction.prompts import SUMMARY_MARKER

__all__ = [
    "CALL_OUTPUT_TYPES",
    "CONTEXT_MARKERS",
    "Item",
    "TRANSIENT_TYPES",
    "call_id",
    "canonical_item",
    "count_compactions",
    "is_compaction",
    "is_message",
    "is_model_generated",
    "is_real_user_message",
    "is_summary_message",
    "is_tool_call",
    "is_tool_output",
    "message_texts",
    "role",
    "user_text_message",
]

Item = dict[str, Any]

# Call type -> the output type that answers it. A local shell call is answered by a function_call_output.
CALL_OUTPUT_TYPES: Mapping[str, str] = {
    "function_call": "function_call_output",
    "custom_tool_call": "custom_tool_call_output",
    "local_shell_call": "function_call_output",
}
_OUTPUT_TYPES = frozenset(CALL_OUTPUT_TYPES.values())

# Opening tags of the context the server injects as user-role messages (environment, instructions, notes
# about aborted turns). A message opening with one of these, or with the summary marker, was not typed.
CONTEXT_MARKERS: tuple[str, ...] = (
    "<environment_context>",
    "<user_instructions>",
    "<developer_instructions>",
    "<turn_aborted>",
    SUMMARY_MARKER,
)


# Item types that must never reach the API as history: Codex's interim `context_compaction` (rejected by the
# API's schema) and the `compaction_trigger` request marker, which only ever ends one v2 request.
TRANSIENT_TYPES = frozenset({"context_compaction", "compaction_trigger"})
# An older spelling of the compaction item some servers still emit.
_LEGACY_COMPACTION = "compaction_summary"


def is_message(item: Mapping[str, Any]) -> bool:
    """Whether `item` is a message, in the long (`type: message`) or short (role only) form."""
    kind = item.get("type")
    return kind == "message" or (kind is None and "role" in item)


def role(item: Mapping[str, Any]) -> str | None:
    """The role of a message (`user`, `assistant`, `developer`, `system`), None for other items."""
    value = item.get("role")
    return value if is_message(item) and isinstance(value, str) else None


def is_compaction(item: Mapping[str, Any]) -> bool:
    """Whether `item` is an API compaction item (the only compaction type we ever send)."""
    return item.get("type") == "compaction"


def is_tool_call(item: Mapping[str, Any]) -> bool:
    """Whether `item` is a model-issued tool call that expects an output item."""
    return item.get("type") in CALL_OUTPUT_TYPES


def is_tool_output(item: Mapping[str, Any]) -> bool:
    """Whether `item` is the output of a client-run tool call."""
    return item.get("type") in _OUTPUT_TYPES


def call_id(item: Mapping[str, Any]) -> str | None:
    """The `call_id` pairing a call with its output, None when absent."""
    value = item.get("call_id")
    return value if isinstance(value, str) else None


def is_model_generated(item: Mapping[str, Any]) -> bool:
    """Whether the model produced `item`: assistant messages and every non-message item except tool outputs."""
    if is_message(item):
        return role(item) == "assistant"
    return not is_tool_output(item)


def message_texts(item: Mapping[str, Any]) -> list[str]:
    """The text of every text part of a message (a bare string `content` counts as one part)."""
    content = item.get("content")
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    if isinstance(content, list):
        for part in cast(list[object], content):
            if isinstance(part, dict) and isinstance(text := cast(dict[str, object], part).get("text"), str):
                texts.append(text)
    return texts


def is_real_user_message(item: Mapping[str, Any]) -> bool:
    """Whether `item` is a user message the user actually typed (or steered in), not injected context.

    Injected context is a user-role message whose first text part opens with one of `CONTEXT_MARKERS`
    (environment or instruction wrappers, or a summary bridge we wrote). An empty message is not real;
    an image-only message is (the user pasted it).
    """
    if role(item) != "user":
        return False
    content = item.get("content")
    if not content:
        return False
    texts = message_texts(item)
    if not texts:
        return True
    first = texts[0].lstrip()
    return not any(first.startswith(marker) for marker in CONTEXT_MARKERS)


def is_summary_message(item: Mapping[str, Any]) -> bool:
    """Whether `item` is the bridge message a local compaction wrote (user role, opening with the marker)."""
    texts = message_texts(item) if role(item) == "user" else []
    return bool(texts) and texts[0].lstrip().startswith(SUMMARY_MARKER)


def user_text_message(text: str) -> Item:
    """A user-role input message holding one text part."""
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def count_compactions(items: Iterable[Mapping[str, Any]]) -> int:
    """How many compaction items `items` holds."""
    return sum(1 for item in items if is_compaction(item))


def canonical_item(item: Mapping[str, Any]) -> Item | None:
    """A copy of `item` fit to send back to the API: legacy compaction spelling fixed, transient types None."""
    kind = item.get("type")
    if kind in TRANSIENT_TYPES:
        return None
    copy = dict(item)
    if kind == _LEGACY_COMPACTION:
        copy["type"] = "compaction"
    return copy
