"""Upstream failures map onto the error tree and Codex's `codexErrorInfo` wire values."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from server.upstream import errors as e
from server.upstream.mapping import failed_response_error, http_status_error


def api_body(
    code: str | None, message: str = "msg", type_: str = "invalid_request_error", param: str | None = None
) -> bytes:
    return msgspec.json.encode({"error": {"message": message, "type": type_, "code": code, "param": param}})


@pytest.mark.parametrize(
    ("status", "body", "cls", "info", "retryable"),
    [
        (400, api_body("context_length_exceeded"), e.ContextWindowExceeded, "contextWindowExceeded", False),
        (400, api_body("unknown_parameter", param="context_management"), e.BadRequest, "badRequest", False),
        (401, api_body("invalid_api_key"), e.Unauthorized, "unauthorized", False),
        (403, b"forbidden", e.Unauthorized, "unauthorized", False),
        (429, api_body("rate_limit_exceeded"), e.RateLimited, "rateLimitExceeded", True),
        (
            429,
            b'{"error":{"type":"usage_limit_reached","resets_in_seconds":60}}',
            e.UsageLimitExceeded,
            "usageLimitExceeded",
            False,
        ),
        (429, api_body("insufficient_quota"), e.UsageLimitExceeded, "usageLimitExceeded", False),
        (500, api_body(None, type_="server_error"), e.UpstreamServerError, "internalServerError", True),
        (503, b"<html>unavailable</html>", e.UpstreamOverloaded, "serverOverloaded", True),
        (502, b"bad gateway", e.BadGateway, {"httpConnectionFailed": {"httpStatusCode": 502}}, True),
    ],
)
def test_http_answers_map_to_their_error_class_and_wire_value(
    status: int, body: bytes, cls: type[e.UpstreamError], info: Any, retryable: bool
) -> None:
    error = http_status_error(status, body, {}, now=0)
    assert type(error) is cls
    assert error.codex_error_info() == info
    assert error.retryable is retryable


def test_a_404_on_the_compact_endpoint_is_its_own_error() -> None:
    error = http_status_error(404, api_body(None, "Invalid URL (POST /v1/responses/compact)"), {}, compact=True, now=0)
    assert isinstance(error, e.CompactEndpointMissing)
    assert isinstance(http_status_error(404, b"", {}, now=0), e.BadRequest)


@pytest.mark.parametrize(("code", "message", "param"), [
    ("unknown_parameter", "Unknown parameter: 'context_management'.", "context_management"),
    ("unsupported_parameter", "Unsupported parameter: 'context_management'.", "context_management"),
    (None, "Unrecognized request argument supplied: context_management", None),  # Azure, proxies: no param
], ids=["unknown", "unsupported", "only in the message"])
def test_rejected_parameters_are_recognisable(code: str | None, message: str, param: str | None) -> None:
    error = http_status_error(400, api_body(code, message, param=param), {}, now=0)
    assert isinstance(error, e.HttpStatusError) and error.rejects_parameter("context_management")
    assert not error.rejects_parameter("reasoning")


def test_a_bad_request_about_something_else_is_not_a_rejected_parameter() -> None:
    error = http_status_error(400, api_body("invalid_value", "context_management.compact_threshold is too small"),
                              {}, now=0)
    assert isinstance(error, e.HttpStatusError) and not error.rejects_parameter("context_management")


def test_retry_after_header_wins_over_the_message_hint() -> None:
    body = api_body("rate_limit_exceeded", "Please try again in 1.898s.")
    assert http_status_error(429, body, {"retry-after": "7"}, now=0).retry_after == 7.0
    assert http_status_error(429, body, {}, now=0).retry_after == pytest.approx(1.898)


def test_server_text_is_scrubbed_of_the_request_secrets_and_key_shapes() -> None:
    body = api_body("invalid_api_key", "Incorrect API key provided: sk-abc123secretvalue. Bearer tok-xyz")
    error = http_status_error(401, body, {}, secrets=["tok-xyz"], now=0)
    assert "sk-abc123secretvalue" not in str(error) and "tok-xyz" not in repr(error)


@pytest.mark.parametrize(
    ("code", "info", "retryable"),
    [
        ("server_error", "internalServerError", True),
        ("rate_limit_exceeded", "other", True),
        ("insufficient_quota", "usageLimitExceeded", False),
        ("usage_not_included", "usageLimitExceeded", False),
        ("invalid_prompt", "badRequest", False),
        ("server_is_overloaded", "serverOverloaded", True),
        ("slow_down", "serverOverloaded", True),
        ("something_new", "other", True),
    ],
)
def test_response_failed_codes_map_like_codex(code: str, info: str, retryable: bool) -> None:
    error = failed_response_error({"code": code, "message": "m"})
    assert (error.codex_error_info(), error.retryable) == (info, retryable)


def test_response_failed_context_length_is_a_context_window_error() -> None:
    assert isinstance(
        failed_response_error({"code": "context_length_exceeded", "message": "m"}), e.ContextWindowExceeded
    )


def test_rate_limited_failures_carry_the_hinted_delay() -> None:
    error = failed_response_error({"code": "rate_limit_exceeded", "message": "Please try again in 20ms"})
    assert error.retry_after == pytest.approx(0.02)


def test_stream_and_exhaustion_errors_have_their_wire_values() -> None:
    assert e.StreamDisconnected("x").codex_error_info() == {"responseStreamDisconnected": {"httpStatusCode": None}}
    assert e.IdleTimeout("x").retryable
    last = e.UpstreamServerError(500, "boom")
    assert e.RetriesExhausted(last, 5).codex_error_info() == {"responseTooManyFailedAttempts": {"httpStatusCode": 500}}
    assert e.TransportError("x").codex_error_info() == {"httpConnectionFailed": {"httpStatusCode": None}}
    assert (
        e.ResponseIncomplete("max_output_tokens").message == "Incomplete response returned, reason: max_output_tokens"
    )
