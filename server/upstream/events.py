"""The Responses API stream events Threadline consumes, as msgspec Structs tagged on `type`.

Contract: `decode_event(data)` turns one SSE `data` payload into a `StreamEvent`. Event types we do not model
(or that a newer API adds) decode to `UnknownEvent` — skipped by callers, never a crash. A payload that is not
JSON, has no `type`, or is a known type with fields of the wrong shape raises `MalformedEvent`. Output items
stay plain dicts: they are replayed verbatim into later requests' `input`, so they must round-trip unchanged.
Fields default leniently because OpenAI-compatible servers often omit `sequence_number`, `item_id`, etc.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "CompactionCompacting",
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


class _Event(msgspec.Struct, tag_field="type", kw_only=True):
    sequence_number: int | None = None


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
    response: ResponseObject


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


def decode_event(data: str | bytes) -> StreamEvent:
    """Decode one SSE data payload.

    Raises:
        MalformedEvent: not JSON, no string `type`, or a known type whose fields have the wrong shape.
    """
    try:
        return _known_decoder.decode(data)
    except msgspec.ValidationError as exc:
        # (ValidationError subclasses DecodeError, so it is caught first.) The fast path failed; one more
        # parse tells an unmodelled type apart from a broken known one.
        try:
            unknown = _unknown_decoder.decode(data)
        except msgspec.DecodeError:
            raise MalformedEvent("event has no string `type`") from None
        if unknown.type in _KNOWN_TAGS:
            raise MalformedEvent(f"{unknown.type} event has an unexpected shape: {exc}") from None
        return unknown
    except msgspec.DecodeError as exc:
        raise MalformedEvent(f"event is not valid JSON: {exc}") from None
