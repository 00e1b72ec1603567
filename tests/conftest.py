"""Shared fixtures: anyio on asyncio, and the in-memory daemon harness."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
