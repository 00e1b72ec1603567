"""Fault-test fixtures: every in-memory fault test runs once over each HTTP transport the daemon offers."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from server.upstream.http import TRANSPORTS
from tests.harness import sim_overrides

SimConfig = Callable[..., list[str]]


@pytest.fixture(params=TRANSPORTS)
def sim_config(request: pytest.FixtureRequest) -> SimConfig:
    """`sim_overrides` with `http_transport` set: the same fault, carried by aiohttp and by httpx's own transport."""
    return partial(sim_overrides, http_transport=request.param)
