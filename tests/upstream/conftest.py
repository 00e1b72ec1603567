"""Fixtures for upstream tests: anyio on asyncio, a running simulator, and clients wired to it.

`http` is parametrized over the daemon's HTTP transports, so every test that takes it runs over aiohttp and over
httpx's own transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from server.simulator import Simulator
from server.upstream import ProviderInfo, ResponsesClient
from server.upstream.http import TRANSPORTS, open_http

SENTINEL_KEY = "sk-sentinel-DO-NOT-LEAK-1234567890"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


def sim_provider(sim: Simulator, **overrides: Any) -> ProviderInfo:
    """A custom provider pointed at the simulator, authenticating with SENTINEL_KEY from `env_key`."""
    fields: dict[str, Any] = {
        "id": "sim",
        "name": "Simulator",
        "base_url": sim.base_url,
        "env_key": "SIM_API_KEY",
        "stream_idle_timeout_ms": 5_000,
    }
    fields.update(overrides)
    return ProviderInfo(**fields)


class Sleeps:
    """An injectable sleep that records requested delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(params=TRANSPORTS)
async def http(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    async with open_http(request.param) as client:
        yield client


def make_client(provider: ProviderInfo, http: httpx.AsyncClient, sleeps: Sleeps, **kwargs: Any) -> ResponsesClient:
    kwargs.setdefault("compression_feature", True)
    return ResponsesClient(provider, http, {"SIM_API_KEY": SENTINEL_KEY}, sleep=sleeps, rand=lambda: 0.5, **kwargs)


def user_body(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "model": "sim-model",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}],
        "stream": True,
        "store": False,
        **extra,
    }
