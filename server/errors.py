"""Errors a client is meant to see, raised anywhere below the connection.

This module is a leaf: every layer may raise these. ``server.rpc.connection`` is the one place that turns
them (and everything else) into wire errors::

    ThreadlineError            code, message, data → the wire error, as is
    ├── InvalidRequest         -32600  (also "Not initialized", thread/turn mistakes in Codex's wording)
    ├── MethodNotFound         -32601
    ├── InvalidParams          -32602  (the message names the offending field path)
    ├── ServerOverloaded       -32001  data {"codexErrorInfo": "serverOverloaded"}
    └── StoreFailed            -32603  the store failed to do what the request needed (not a bug: it says so)
    ConnectionClosed           a server→client request whose connection went away (never on the wire)

Any other exception is a bug: it is logged with its traceback and answered -32603 with a generic message.
"""

from __future__ import annotations

from typing import Any, ClassVar

from protocol.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, SERVER_OVERLOADED

__all__ = [
    "ConnectionClosed",
    "InvalidParams",
    "InvalidRequest",
    "MethodNotFound",
    "RemoteError",
    "ServerOverloaded",
    "StoreFailed",
    "ThreadlineError",
]


class ThreadlineError(Exception):
    code: ClassVar[int] = INVALID_REQUEST

    def __init__(self, message: str, *, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class InvalidRequest(ThreadlineError):
    code = INVALID_REQUEST


class MethodNotFound(ThreadlineError):
    code = METHOD_NOT_FOUND


class InvalidParams(ThreadlineError):
    code = INVALID_PARAMS


class ServerOverloaded(ThreadlineError):
    code = SERVER_OVERLOADED

    def __init__(self, message: str = "Server overloaded; retry later.") -> None:
        super().__init__(message, data={"codexErrorInfo": "serverOverloaded"})


class StoreFailed(ThreadlineError):
    """The store failed to do what a request needed (a disk error, a store being closed); the message says what
    failed. Not a bug, so nothing else ends with it (see ``ThreadSession``)."""

    code = INTERNAL_ERROR

    @classmethod
    def because(cls, error: Exception, thread_id: str | None = None) -> StoreFailed:
        where = f"thread {thread_id}: " if thread_id else ""
        return cls(f"{where}the store failed: {error}")


class ConnectionClosed(Exception):
    """The peer went away before answering a server→client request."""


class RemoteError(Exception):
    """The peer answered a server→client request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data
