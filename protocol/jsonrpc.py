"""JSON-RPC 2.0 envelopes as Threadline speaks them (hand-written, beside the generated payload types).

Codex's dialect omits ``"jsonrpc": "2.0"`` on output and ignores it on input. Messages carry no tag field,
so inbound lines decode into one :class:`Envelope` with every member optional and are classified in code:
``method`` + ``id`` is a request, ``method`` alone a notification, ``id`` alone a response.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "SERVER_OVERLOADED",
    "Envelope",
    "ErrorObject",
    "ErrorResponse",
    "Notification",
    "Request",
    "RequestId",
    "Response",
]

RequestId = int | str

PARSE_ERROR = -32700
"""The line is not JSON. Answered with ``id: null``; the connection goes on."""
INVALID_REQUEST = -32600
"""Not a valid request: bad envelope, ``Not initialized``, ``Already initialized``, or a semantic refusal."""
METHOD_NOT_FOUND = -32601
"""The method is unknown, or known but not implemented by this server."""
INVALID_PARAMS = -32602
"""``params`` does not match the method's type; the message names the offending field path."""
INTERNAL_ERROR = -32603
"""A bug or an unexpected failure; the details go to the log, never to the wire."""
SERVER_OVERLOADED = -32001
"""A bounded queue is full; retry with backoff. ``data.codexErrorInfo == "serverOverloaded"``."""


class ErrorObject(msgspec.Struct, omit_defaults=True):
    code: int
    message: str
    data: Any | UnsetType = UNSET


class Envelope(msgspec.Struct):
    """Any inbound JSON object, before classification. Unknown keys (``jsonrpc``, ``trace``) are ignored.

    Members are loosely typed on purpose: a request with a malformed extra member still has an id to answer,
    so the types of ``id``, ``method`` and ``error`` are checked while classifying, not while decoding.
    """

    id: Any = UNSET
    method: Any = UNSET
    params: msgspec.Raw | UnsetType = UNSET
    result: msgspec.Raw | UnsetType = UNSET
    error: Any = UNSET


class Request(msgspec.Struct, omit_defaults=True):
    id: RequestId
    method: str
    params: Any | UnsetType = UNSET


class Notification(msgspec.Struct, omit_defaults=True, rename={"emitted_at_ms": "emittedAtMs"}):
    method: str
    params: Any | UnsetType = UNSET
    emitted_at_ms: int | UnsetType = UNSET
    """When the server sent it (Unix ms), on every server notification, as Codex's app-server stamps them."""


class Response(msgspec.Struct):
    id: RequestId
    result: Any


class ErrorResponse(msgspec.Struct):
    id: RequestId | None
    error: ErrorObject
