"""The Responses API stream events Threadline consumes, as msgspec Structs tagged on `type`.

Contract: `decode_event(data)` turns one SSE `data` payload into a `StreamEvent`. Event types we do not model
(or that a newer API adds) decode to `UnknownEvent` — skipped by callers, never a crash. A payload that is not
JSON, has no `type`, or is a known type with fields of the wrong shape raises `MalformedEvent`. Output items
stay plain dicts: they are replayed verbatim into later requests' `input`, so they must round-trip unchanged.
Fields default leniently because OpenAI-compatible servers often omit `sequence_number`, `item_id`, etc.

Text that is not valid Unicode does not lose its event. A payload that fails to decode only because of invalid
UTF-8 bytes or a lone UTF-16 surrogate escape (a server that cut an emoji in two between deltas, as JavaScript
string slicing does, sends `"\\ud83d"` then `"\\ude00"`) is repaired and decoded again, and the event comes back
with `repaired=True`: each invalid byte sequence and each lone surrogate becomes U+FFFD — except in the `delta`
of a delta event, which keeps a lone surrogate as is, so the consumer can join the two halves of a pair split
between deltas (`join_split_pairs`). Such a `delta` must go through `join_split_pairs` before it is encoded
(a lone surrogate cannot be written as UTF-8). The same bytes always repair the same way, so a delta and the
item that repeats its text agree. A repaired item may still be damaged (a replacement character inside an enum
value): callers prefer an intact copy of it when one exists (`response.completed` lists every output item).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

__all__ = [
    "CompactionCompacting",
    "CompletedResponse",
    "ErrorEvent",
    "FunctionCallArgumentsDelta",
    "FunctionCallArgumentsDone",
    "InputTokensDetails",
    "MalformedEvent",
    "OutputItemAdded",
    "OutputItemDone",
    "OutputTextDelta",
    "OutputTokensDetails",
    "ReasoningSummaryPartAdded",
    "ReasoningSummaryTextDelta",
    "ReasoningTextDelta",
    "ResponseCompleted",
    "ResponseCreated",
    "ResponseFailedEvent",
    "ResponseInProgress",
    "ResponseIncompleteEvent",
    "ResponseObject",
    "StreamEvent",
    "UnknownEvent",
    "Usage",
    "decode_event",
    "join_split_pairs",
]


class MalformedEvent(ValueError):
    """An SSE data payload that is not a usable event (the message says why, never the payload itself)."""


class InputTokensDetails(msgspec.Struct):
    cached_tokens: int = 0


class OutputTokensDetails(msgspec.Struct):
    reasoning_tokens: int = 0


class Usage(msgspec.Struct):
    """Token usage from `response.completed`."""

    input_tokens: int = 0
    input_tokens_details: InputTokensDetails | None = None
    output_tokens: int = 0
    output_tokens_details: OutputTokensDetails | None = None
    total_tokens: int = 0

    @property
    def cached_tokens(self) -> int:
        return self.input_tokens_details.cached_tokens if self.input_tokens_details else 0

    @property
    def reasoning_tokens(self) -> int:
        return self.output_tokens_details.reasoning_tokens if self.output_tokens_details else 0


class IncompleteDetails(msgspec.Struct):
    reason: str | None = None


class ResponseObject(msgspec.Struct):
    """The `response` object of lifecycle events; `output` is left out (items arrive as output_item.done)."""

    id: str = ""
    status: str | None = None
    model: str | None = None
    usage: Usage | None = None
    error: dict[str, Any] | None = None
    incomplete_details: IncompleteDetails | None = None


class CompletedResponse(ResponseObject):
    """`response.completed`'s response, with `output`: every output item of the response, in order. None when the
    server left it out (some OpenAI-compatible servers do); an item missing from it was not necessarily lost."""

    output: list[dict[str, Any]] | None = None


class _Event(msgspec.Struct, tag_field="type", kw_only=True):
    sequence_number: int | None = None
    repaired: bool = False
    """Decoded only after invalid UTF-8 or a lone surrogate was replaced (see the module docstring). Never on the
    wire in practice; a server that sent it would only make the consumer prefer another copy of an item."""


class ResponseCreated(_Event, tag="response.created"):
    response: ResponseObject


class ResponseInProgress(_Event, tag="response.in_progress"):
    response: ResponseObject | None = None


class OutputItemAdded(_Event, tag="response.output_item.added"):
    item: dict[str, Any]
    output_index: int = 0


class OutputItemDone(_Event, tag="response.output_item.done"):
    """The authoritative, complete item: record it, replay it, dispatch tools from it."""

    item: dict[str, Any]
    output_index: int = 0


class OutputTextDelta(_Event, tag="response.output_text.delta"):
    delta: str
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0


class ReasoningSummaryPartAdded(_Event, tag="response.reasoning_summary_part.added"):
    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0


class ReasoningSummaryTextDelta(_Event, tag="response.reasoning_summary_text.delta"):
    delta: str
    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0


class ReasoningTextDelta(_Event, tag="response.reasoning_text.delta"):
    delta: str
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0


class FunctionCallArgumentsDelta(_Event, tag="response.function_call_arguments.delta"):
    delta: str
    item_id: str = ""
    output_index: int = 0


class FunctionCallArgumentsDone(_Event, tag="response.function_call_arguments.done"):
    arguments: str
    item_id: str = ""
    output_index: int = 0


class CompactionCompacting(_Event, tag="response.compaction.compacting"):
    """The server is summarising for a compaction item; carries no content."""

    item_id: str = ""
    output_index: int = 0


class ResponseCompleted(_Event, tag="response.completed"):
    response: CompletedResponse


class ResponseFailedEvent(_Event, tag="response.failed"):
    response: ResponseObject


class ResponseIncompleteEvent(_Event, tag="response.incomplete"):
    response: ResponseObject


class ErrorEvent(_Event, tag="error"):
    """An in-stream error: flat (`code`, `message`, `param`) per the SDK, or nested under `error` by some servers."""

    code: str | None = None
    message: str | None = None
    param: str | None = None
    error: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The error object, whichever shape the server used."""
        if self.error:
            return self.error
        return {"code": self.code, "message": self.message, "param": self.param}


class UnknownEvent(msgspec.Struct):
    """An event type Threadline does not model; `type` is kept for logs."""

    type: str
    sequence_number: int | None = None


_KnownEvent = (
    ResponseCreated
    | ResponseInProgress
    | OutputItemAdded
    | OutputItemDone
    | OutputTextDelta
    | ReasoningSummaryPartAdded
    | ReasoningSummaryTextDelta
    | ReasoningTextDelta
    | FunctionCallArgumentsDelta
    | FunctionCallArgumentsDone
    | CompactionCompacting
    | ResponseCompleted
    | ResponseFailedEvent
    | ResponseIncompleteEvent
    | ErrorEvent
)
StreamEvent = _KnownEvent | UnknownEvent

_KNOWN_TAGS = frozenset(cls.__struct_config__.tag for cls in _KnownEvent.__args__)
_known_decoder = msgspec.json.Decoder(_KnownEvent)
_unknown_decoder = msgspec.json.Decoder(UnknownEvent)


_DELTA_EVENTS = (OutputTextDelta, ReasoningSummaryTextDelta, ReasoningTextDelta, FunctionCallArgumentsDelta)
_DELTA_TAGS = frozenset(cls.__struct_config__.tag for cls in _DELTA_EVENTS)
# An escaped backslash (so the `u` after it is plain text), or a `\uXXXX` escape of a UTF-16 surrogate. Matched
# left to right, a backslash pair is always consumed first, so `\\ud83d` (a backslash, then "ud83d") is no escape.
_SURROGATE_ESCAPE = re.compile(rb"\\\\|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_REPLACEMENT_ESCAPE = b"\\ufffd"
# While a repaired delta is decoded, a lone surrogate U+D800+k stands in as the private-use code point
# U+10F800+k (the last 2,048 of plane 16), which msgspec accepts; it is turned back into the surrogate after.
_STAND_IN = 0x10F800 - 0xD800
_FROM_STAND_IN = {code + _STAND_IN: code for code in range(0xD800, 0xE000)}


def _is_high(escape: bytes) -> bool:
    return escape[2:4].lower() in (b"d8", b"d9", b"da", b"db")


def _repair_surrogates(data: bytes, *, keep: bool) -> tuple[bytes, int]:
    """`data` with every lone surrogate escape replaced — by `\\ufffd`, or (`keep`) by its stand-in — and how many
    there were. A high surrogate escape directly followed by a low one is a pair, left alone."""
    out: list[bytes] = []
    start = lone = 0
    matches = [m for m in _SURROGATE_ESCAPE.finditer(data) if m.end() - m.start() == 6]
    index = 0
    while index < len(matches):
        match = matches[index]
        following = matches[index + 1] if index + 1 < len(matches) else None
        if (_is_high(match.group()) and following is not None and following.start() == match.end()
                and not _is_high(following.group())):
            index += 2  # a well-formed pair
            continue
        lone += 1
        out.append(data[start:match.start()])
        code = int(match.group()[2:], 16)
        out.append(chr(code + _STAND_IN).encode() if keep else _REPLACEMENT_ESCAPE)
        start = match.end()
        index += 1
    out.append(data[start:])
    return b"".join(out), lone


def _repaired(data: bytes) -> StreamEvent | None:
    """The event, once invalid UTF-8 and lone surrogates are replaced; None when there was nothing to repair."""
    try:
        data.decode("utf-8")
        text_repaired = False
    except UnicodeDecodeError:
        data = data.decode("utf-8", "replace").encode()  # each invalid sequence: one U+FFFD, deterministically
        text_repaired = True
    replaced, lone = _repair_surrogates(data, keep=False)
    if not text_repaired and not lone:
        return None
    event = _decode_strict(replaced)
    if isinstance(event, UnknownEvent):
        return event  # skipped anyway
    if lone and isinstance(event, _DELTA_EVENTS):
        kept, _ = _repair_surrogates(data, keep=True)
        event = _decode_strict(kept)
        assert isinstance(event, _DELTA_EVENTS)  # the same payload, the same type
        event.delta = event.delta.translate(_FROM_STAND_IN)
    event.repaired = True
    return event


def join_split_pairs(held: str, delta: str) -> tuple[str, str]:
    """Text fit to show for a repaired delta: `(text, held)`, where `text` is `held + delta` with a surrogate pair
    split between two deltas joined into its character and any other lone surrogate as U+FFFD, and `held` is a
    high surrogate ending it, kept back for the next delta (which may start with its other half)."""
    text = held + delta
    held = ""
    if text and "\ud800" <= text[-1] <= "\udbff":
        text, held = text[:-1], text[-1]
    # UTF-16 with surrogatepass writes the surrogates as they are; reading it back pairs them up.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace"), held


def decode_event(data: str | bytes) -> StreamEvent:
    """Decode one SSE data payload, repairing invalid text (see the module docstring).

    Raises:
        MalformedEvent: not JSON, no string `type`, or a known type whose fields have the wrong shape.
    """
    try:
        return _known_decoder.decode(data)  # the hot path: one C call, nothing around it
    except msgspec.DecodeError as exc:
        try:
            return _after_failure(data, exc)
        except MalformedEvent:
            # Off the hot path: only a payload that failed to decode pays for looking at its text.
            repaired = _repaired(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
            if repaired is None:
                raise
            return repaired


def _decode_strict(data: str | bytes) -> StreamEvent:
    try:
        return _known_decoder.decode(data)
    except msgspec.DecodeError as exc:
        return _after_failure(data, exc)


def _after_failure(data: str | bytes, exc: msgspec.DecodeError) -> StreamEvent:
    """A payload the fast path refused: an unmodelled event type, or `MalformedEvent`."""
    if not isinstance(exc, msgspec.ValidationError):
        raise MalformedEvent(f"event is not valid JSON: {exc}") from None
    # Well-formed JSON: one more parse tells an unmodelled type apart from a broken known one.
    try:
        unknown = _unknown_decoder.decode(data)
    except msgspec.DecodeError:
        raise MalformedEvent("event has no string `type`") from None
    if unknown.type in _KNOWN_TAGS:
        raise MalformedEvent(f"{unknown.type} event has an unexpected shape: {exc}") from None
    return unknown
