"""Fixtures for simulator tests: a running simulator and a plain HTTP client that reads its SSE answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from server.simulator import Simulator
from server.upstream.sse import parse_stream


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def post_stream(http: httpx.Client, sim: Simulator, body: dict[str, Any]) -> list[dict[str, Any]]:
    """POST /responses and return the decoded events (malformed payloads are dropped)."""
    response = http.post(sim.base_url + "/responses", json=body)
    assert response.status_code == 200, response.text
    events = []
    for message in parse_stream(response.content):
        try:
            events.append(msgspec.json.decode(message.data))
        except msgspec.DecodeError:
            continue
    return events


def done_items(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event["item"] for event in events if event["type"] == "response.output_item.done"]
