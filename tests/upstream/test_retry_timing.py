"""Retry timing: Codex's backoff and the server's delay hints."""

from __future__ import annotations

import pytest

from server.upstream.retry import backoff_delay, retry_after_seconds, try_again_in_seconds


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0.18, 0.22), (2, 0.36, 0.44), (5, 2.88, 3.52)])
def test_backoff_doubles_from_200ms_with_ten_percent_jitter(attempt: int, low: float, high: float) -> None:
    assert backoff_delay(attempt, lambda: 0.0) == pytest.approx(low)
    assert backoff_delay(attempt, lambda: 0.999999) == pytest.approx(high, rel=1e-5)


def test_backoff_stays_finite_for_absurd_attempt_numbers() -> None:
    assert backoff_delay(10_000, lambda: 0.5) < 1e5


def test_retry_after_reads_delta_seconds_and_http_dates() -> None:
    assert retry_after_seconds("3", now=0) == 3.0
    assert retry_after_seconds("0.5", now=0) == 0.5
    assert retry_after_seconds("Thu, 01 Jan 1970 00:00:10 GMT", now=4.0) == pytest.approx(6.0)
    assert retry_after_seconds("Thu, 01 Jan 1970 00:00:10 GMT", now=100.0) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "Thu, 01 Jan 1970 00:00:10"])
def test_retry_after_ignores_values_it_cannot_read(value: str | None) -> None:
    assert retry_after_seconds(value, now=0) is None


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Rate limit reached. Please try again in 1.898s. Visit ...", 1.898),
        ("Please try again in 20ms.", 0.020),
        ("try again in 3 seconds", 3.0),
        ("Try again in 250 milliseconds", 0.25),
        ("no hint here", None),
        (None, None),
    ],
)
def test_try_again_in_reads_openai_rate_limit_messages(message: str | None, seconds: float | None) -> None:
    assert try_again_in_seconds(message) == (pytest.approx(seconds) if seconds is not None else None)
