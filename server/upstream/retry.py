"""Retry timing: exponential backoff with jitter, and the server's own hints about when to come back.

Contract: pure functions, no I/O and no clock reads except through the `now` argument. `backoff_delay`
follows Codex (200 ms × 2^(n−1) × jitter in [0.9, 1.1)). `retry_after_seconds` reads a `Retry-After`
header (delta-seconds or an HTTP date); `try_again_in_seconds` reads OpenAI's "Please try again in 1.898s"
/ "…in 250ms" message text. Both return None for anything they cannot read, never raise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.upstream.errors import UpstreamError

__all__ = [
    "BASE_DELAY",
    "MAX_SERVER_DELAY",
    "RetryNotice",
    "backoff_delay",
    "retry_after_seconds",
    "try_again_in_seconds",
]

BASE_DELAY = 0.2
# A server asking us to wait longer than this is not coming back within a turn; fail instead of hanging.
MAX_SERVER_DELAY = 120.0
_MAX_EXPONENT = 16  # 200 ms × 2^16 ≈ 3.6 h: far past any sane retry count, keeps floats finite.

_TRY_AGAIN = re.compile(r"try again in\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|sec(?:ond)?s?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class RetryNotice:
    """Handed to the caller's `on_retry` before each retry: attempt n of `max_attempts`, after `delay` s."""

    attempt: int
    max_attempts: int
    delay: float
    error: UpstreamError


def backoff_delay(attempt: int, rand: Callable[[], float]) -> float:
    """Seconds to wait before retry number `attempt` (1-based); `rand` returns a float in [0, 1)."""
    exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
    jitter = 0.9 + 0.2 * rand()
    return BASE_DELAY * (2**exponent) * jitter


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Seconds from `now` (a Unix time) named by a `Retry-After` header value, or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means the zone was left off
            return None
        return max(0.0, when.timestamp() - now)
    return max(0.0, seconds) if seconds == seconds else None  # NaN is not a delay


def try_again_in_seconds(message: str | None) -> float | None:
    """The delay in an OpenAI rate-limit message ("Please try again in 1.898s" / "in 20ms"), or None."""
    if not message:
        return None
    match = _TRY_AGAIN.search(message)
    if match is None:
        return None
    amount = float(match.group(1))
    return amount / 1000 if match.group(2).lower().startswith("m") else amount
