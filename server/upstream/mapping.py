"""Translate what the upstream said into the `UpstreamError` tree (see `errors.py`).

Contract: pure functions over already-received data — an HTTP status with its body and headers, the
`error` object of a `response.failed` or in-stream `error` event, or the exception httpx raised. Server text
goes through `redact` with the request's secrets, so a key the server echoes never reaches a message.
Codes follow Codex's mapping: `context_length_exceeded` → ContextWindowExceeded; `insufficient_quota`,
`usage_not_included`, `usage_limit_reached` → UsageLimitExceeded; `server_is_overloaded`/`slow_down` →
overloaded; `rate_limit_exceeded` → retry after the hinted delay; anything else in-stream → retryable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from server.upstream import errors as e
from server.upstream.retry import retry_after_seconds, try_again_in_seconds

__all__ = ["failed_response_error", "http_status_error", "refuses_compression"]

_USAGE_CODES = frozenset({"insufficient_quota", "usage_not_included", "usage_limit_reached"})
_OVERLOADED_CODES = frozenset({"server_is_overloaded", "slow_down"})
_MAX_TEXT = 500  # enough of a non-JSON error page to recognise it, not a whole HTML document


class _ErrorObject(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


class _ErrorBody(msgspec.Struct):
    error: _ErrorObject | str | None = None
    detail: str | None = None
    message: str | None = None


def _parse_body(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """(message, type, code, param) from an error body, tolerating every shape proxies invent."""
    try:
        parsed = msgspec.json.decode(body, type=_ErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body[:_MAX_TEXT].decode("utf-8", "replace").strip()
        return (text or None), None, None, None
    if isinstance(parsed.error, _ErrorObject):
        err = parsed.error
        code = None if err.code is None else str(err.code)
        return err.message, err.type, code, err.param
    return parsed.error or parsed.detail or parsed.message, None, None, None


def http_status_error(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    compact: bool = False,
    secrets: Sequence[str] = (),
    now: float,
) -> e.UpstreamError:
    """The error for a non-2xx answer. `compact` marks the `/responses/compact` endpoint (404 is special)."""
    message, err_type, code, param = _parse_body(body)
    text = e.redact(message or f"HTTP {status}", secrets)
    kind = code or err_type
    retry_after = retry_after_seconds(headers.get("retry-after"), now=now)
    if retry_after is None:
        retry_after = try_again_in_seconds(message)
    kwargs: dict[str, Any] = {"code": kind, "param": param, "retry_after": retry_after}
    if kind == "context_length_exceeded":
        return e.ContextWindowExceeded(text)
    if kind in _USAGE_CODES or err_type == "usage_limit_reached":
        return e.UsageLimitExceeded(status, text, **kwargs)
    if kind in _OVERLOADED_CODES or status == 503:
        return e.UpstreamOverloaded(status, text, **kwargs)
    if status == 429:
        return e.RateLimited(status, text, **kwargs)
    if status in (401, 403):
        return e.Unauthorized(status, text, **kwargs)
    if status == 404 and compact:
        return e.CompactEndpointMissing(status, text, **kwargs)
    if status in (502, 504):
        return e.BadGateway(status, text, **kwargs)
    if status >= 500:
        return e.UpstreamServerError(status, text, **kwargs)
    return e.BadRequest(status, text, **kwargs)


def failed_response_error(error: Mapping[str, Any] | None, *, secrets: Sequence[str] = ()) -> e.UpstreamError:
    """The error for `response.failed`'s `response.error` (or an in-stream `error` event's fields)."""
    error = error or {}
    code = error.get("code")
    code = None if code is None else str(code)
    raw_message = error.get("message")
    message = e.redact(str(raw_message) if raw_message else f"response failed ({code or 'no code'})", secrets)
    if code == "context_length_exceeded":
        return e.ContextWindowExceeded(message)
    if code in _USAGE_CODES:
        return e.ResponseFailed(code, message, retryable=False, info="usageLimitExceeded")
    if code == "invalid_prompt":
        return e.ResponseFailed(code, message, retryable=False, info="badRequest")
    if code in _OVERLOADED_CODES:
        return e.ResponseFailed(code, message, retryable=True, info="serverOverloaded")
    if code == "server_error":
        return e.ResponseFailed(code, message, retryable=True, info="internalServerError")
    delay = try_again_in_seconds(str(raw_message)) if code == "rate_limit_exceeded" and raw_message else None
    return e.ResponseFailed(code, message, retryable=True, info="other", retry_after=delay)


def refuses_compression(error: e.UpstreamError) -> bool:
    """Whether `error`, answering a zstd body, says the server could not read the body (415, invalid JSON)."""
    if not isinstance(error, e.HttpStatusError):
        return False
    if error.status == 415:
        return True
    if error.status != 400:
        return False
    # Gateways word it differently ("Request body must be valid JSON", "Failed to parse the request body as
    # JSON", "invalid character '('" — zstd's magic number starts with that byte).
    message = error.message.lower()
    return (
        error.code == "invalid_json"
        or "valid json" in message
        or ("parse" in message and "json" in message)
        or "invalid character '('" in message
    )
