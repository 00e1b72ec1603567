"""A credential never appears in logs, exception messages or reprs — even when the server echoes it back."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from server.config import Settings
from server.simulator import HttpError, Reply, Simulator
from server.upstream import errors as e
from tests.upstream.conftest import SENTINEL_KEY, Sleeps, make_client, sim_provider, user_body

pytestmark = pytest.mark.anyio


def _all_text(error: BaseException) -> str:
    parts: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen), str(getattr(seen, "args", ""))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


async def test_the_api_key_never_reaches_logs_errors_or_reprs(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"Incorrect API key provided: {SENTINEL_KEY}. Authorization: Bearer {SENTINEL_KEY}"
    sim.enqueue(
        HttpError.server_error(),
        Reply.text("fine", malformed_after=2),
        HttpError.unauthorized(echo),
        HttpError.bad_request(echo, param="input"),
        Reply.text("x", end="failed", error_code="server_error", error_message=echo),
    )
    client = make_client(sim_provider(sim), http, sleeps)
    errors: list[BaseException] = []
    with anyio.fail_after(10):
        async with client.stream(user_body()) as events:
            _ = [event async for event in events]
        for _ in range(3):
            with pytest.raises(e.UpstreamError) as caught:
                async with client.stream(user_body()) as events:
                    _ = [event async for event in events]
            errors.append(caught.value)
    assert all(SENTINEL_KEY in request.headers["authorization"] for request in sim.requests)  # it was sent
    leaked: list[Any] = [caplog.text, repr(client), repr(client.provider)]
    leaked += [_all_text(error) for error in errors]
    for text in leaked:
        assert SENTINEL_KEY not in text
    assert "[redacted]" in str(errors[0])


def test_the_settings_repr_never_shows_the_environment(tmp_path: Path) -> None:
    settings = Settings.load(env={"THREADLINE_HOME": str(tmp_path), "OPENAI_API_KEY": SENTINEL_KEY})
    assert SENTINEL_KEY not in repr(settings) and SENTINEL_KEY not in str(settings)
