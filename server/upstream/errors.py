"""Every way an upstream request can fail, as one exception tree the turn loop can reason about.

::

    UpstreamError                    .retryable, .retry_after, .codex_error_info()
    ├── TransportError               no HTTP answer (connect/read/write failure)    httpConnectionFailed{null}  retry
    ├── MissingCredentials           no credential for the provider                  unauthorized
    ├── HttpStatusError              a non-2xx answer: .status .code .param .message .retry_after
    │   ├── BadRequest               400/404/422…                                    badRequest
    │   │   └── CompactEndpointMissing   404 on /responses/compact                   other
    │   ├── Unauthorized             401/403                                         unauthorized
    │   ├── RateLimited              429 rate limit                                  rateLimitExceeded          retry
    │   ├── UsageLimitExceeded       429 usage/quota exhausted                       usageLimitExceeded
    │   ├── UpstreamOverloaded       503, server_is_overloaded, slow_down            serverOverloaded           retry
    │   ├── UpstreamServerError      500 and other 5xx                               internalServerError        retry
    │   └── BadGateway               502/504                                         httpConnectionFailed{502}  retry
    ├── ContextWindowExceeded        context_length_exceeded (HTTP 400 or in-stream) contextWindowExceeded
    ├── StreamError                  the stream broke after it started               responseStreamDisconnected retry
    │   ├── StreamDisconnected       cut, or closed before response.completed
    │   └── IdleTimeout              no bytes for stream_idle_timeout_ms
    ├── ResponseFailed               response.failed / an `error` event (.code)      by code                    by code
    ├── ResponseIncomplete           response.incomplete (.reason)                   other
    └── RetriesExhausted             request retries used up (.last)                 responseTooManyFailedAttempts

Contract: messages and reprs never contain a credential; text echoed by a server goes through `redact`.
`codex_error_info()` returns the `codexErrorInfo` wire value (a string or a one-key object).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "BadGateway",
    "BadRequest",
    "CompactEndpointMissing",
    "ContextWindowExceeded",
    "HttpStatusError",
    "IdleTimeout",
    "MissingCredentials",
    "RateLimited",
    "ResponseFailed",
    "ResponseIncomplete",
    "RetriesExhausted",
    "StreamDisconnected",
    "StreamError",
    "TransportError",
    "Unauthorized",
    "UpstreamError",
    "UpstreamOverloaded",
    "UpstreamServerError",
    "UsageLimitExceeded",
    "redact",
]

# Key-shaped strings servers like to echo back ("Incorrect API key provided: sk-ab…yz").
_KEYISH = re.compile(r"(?i)\b(sk-[A-Za-z0-9_\-*.]{3,}|bearer\s+[A-Za-z0-9_\-.=~+/*]+)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each exact secret and anything key-shaped replaced by `[redacted]`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEYISH.sub("[redacted]", text)


class UpstreamError(Exception):
    """Base class. `retryable` says whether the same request may succeed if sent again."""

    retryable: bool = False
    info: str = "other"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def codex_error_info(self) -> Any:
        return self.info

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class TransportError(UpstreamError):
    retryable = True

    def codex_error_info(self) -> Any:
        return {"httpConnectionFailed": {"httpStatusCode": None}}


class MissingCredentials(UpstreamError):
    info = "unauthorized"


_PARAMETER_CODES = ("unknown_parameter", "unsupported_parameter", "invalid_parameter")
_REFUSED_WORDING = re.compile(r"unknown|unsupported|unrecognized|not (?:supported|permitted|allowed)", re.IGNORECASE)


class HttpStatusError(UpstreamError):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status
        self.code = code
        self.param = param

    def rejects_parameter(self, name: str) -> bool:
        """Whether the server refused the request because of the body field `name` (e.g. context_management).

        OpenAI names the field in `param` with code unknown_/unsupported_/invalid_parameter; proxies and Azure
        often leave `param` out and say it in the message ("Unrecognized request argument supplied: ...")."""
        if self.status != 400:
            return False
        if self.param == name and self.code in _PARAMETER_CODES:
            return True
        return name in self.message and _REFUSED_WORDING.search(self.message) is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class BadRequest(HttpStatusError):
    info = "badRequest"


class CompactEndpointMissing(BadRequest):
    info = "other"


class Unauthorized(HttpStatusError):
    info = "unauthorized"


class RateLimited(HttpStatusError):
    retryable = True
    info = "rateLimitExceeded"


class UsageLimitExceeded(HttpStatusError):
    info = "usageLimitExceeded"


class UpstreamOverloaded(HttpStatusError):
    retryable = True
    info = "serverOverloaded"


class UpstreamServerError(HttpStatusError):
    retryable = True
    info = "internalServerError"


class BadGateway(HttpStatusError):
    retryable = True

    def codex_error_info(self) -> Any:
        return {"httpConnectionFailed": {"httpStatusCode": self.status}}


class ContextWindowExceeded(UpstreamError):
    info = "contextWindowExceeded"


class StreamError(UpstreamError):
    retryable = True

    def codex_error_info(self) -> Any:
        return {"responseStreamDisconnected": {"httpStatusCode": None}}


class StreamDisconnected(StreamError):
    pass


class IdleTimeout(StreamError):
    pass


class ResponseFailed(UpstreamError):
    """`response.failed` (or an in-stream `error` event) whose code is not one of the specific cases."""

    def __init__(
        self, code: str | None, message: str, *, retryable: bool, info: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.code = code
        self.retryable = retryable
        self.info = info


class ResponseIncomplete(UpstreamError):
    """The response stopped early. Not retried: the same request would stop at the same place."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(f"Incomplete response returned, reason: {reason or 'unknown'}")
        self.reason = reason


class RetriesExhausted(UpstreamError):
    """Every request retry failed; `last` (also `__cause__`) is the final error."""

    def __init__(self, last: UpstreamError, attempts: int) -> None:
        super().__init__(f"exceeded retry limit after {attempts} attempts, last error: {last.message}")
        self.last = last
        self.attempts = attempts

    def codex_error_info(self) -> Any:
        status = getattr(self.last, "status", None)
        if status is None and isinstance(self.last, TransportError):
            return self.last.codex_error_info()  # as Codex: a connection that never came is httpConnectionFailed
        return {"responseTooManyFailedAttempts": {"httpStatusCode": status}}
