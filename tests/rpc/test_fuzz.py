"""Garbage in never takes the daemon down: 10,000 random and mutated lines, every request answered."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from protocol.client import RpcFailure
from tests.harness import running_server

pytestmark = pytest.mark.anyio

_SEEDS = [
    {"method": "initialize", "params": {"clientInfo": {"name": "fuzz", "version": "1"}}},
    {"method": "thread/start", "params": {}},
    {"method": "thread/read", "params": {"threadId": "0198c6a0-0000-7000-8000-000000000000"}},
    {"method": "thread/list", "params": {"limit": 2}},
    {"method": "turn/start", "params": {"threadId": "x", "input": [{"type": "text", "text": "hi"}]}},
    {"method": "model/list", "params": {}},
    {"method": "bogus/method", "params": {}},
    {"method": "initialized"},
]
_JUNK: list[Any] = [None, True, -1, 2**70, 1.5, "", "\u2028", [], {}, [1, {"a": None}], {"type": "?"}, "x" * 300]


def _mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(_JUNK)
    if isinstance(value, dict):
        out = dict(value)
        for key in list(out):
            roll = rng.random()
            if roll < 0.2:
                del out[key]
            elif roll < 0.5:
                out[key] = _mutate(rng, out[key], depth + 1)
        if rng.random() < 0.2:
            out[rng.choice(["params", "id", "method", "extra", "result", "error"])] = rng.choice(_JUNK)
        return out
    if isinstance(value, list):
        return [_mutate(rng, v, depth + 1) for v in value]
    return rng.choice(_JUNK)


def _valid_id(value: Any) -> bool:
    """A request id the wire allows: a string or a signed 64-bit integer (bools are not integers here)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, str) or (isinstance(value, int) and -(2**63) <= value < 2**63)


def _line(rng: random.Random, next_id: int) -> tuple[bytes, int | str | None]:
    """One fuzz line and the request id the server must answer (None when it need not answer)."""
    kind = rng.random()
    if kind < 0.15:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60))).replace(b"\n", b" ") + b"\n", None
    message = dict(rng.choice(_SEEDS))
    if kind < 0.75:
        message = _mutate(rng, message)
    rid: int | str = next_id if rng.random() < 0.5 else f"req-{next_id}"
    if isinstance(message, dict) and "method" in message and rng.random() < 0.9:
        message["id"] = rid
    data = msgspec.json.encode(message)
    if kind > 0.95:
        data = data[: rng.randint(0, len(data))]  # truncated JSON
    expected = None
    try:
        decoded = msgspec.json.decode(data)
        if isinstance(decoded, dict) and isinstance(decoded.get("method"), str) and _valid_id(decoded.get("id")):
            expected = decoded["id"]
    except msgspec.DecodeError:
        pass
    return data + (b"\r\n" if rng.random() < 0.1 else b"\n"), expected


async def test_ten_thousand_random_lines_leave_every_request_answered_and_the_daemon_serving(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    expected: set[int | str] = set()
    answered: set[Any] = set()
    async with running_server(tmp_path / "home", initialize=False) as harness:
        previous = harness.client.on_message

        def record(message: dict[str, Any]) -> None:
            if previous is not None:
                previous(message)
            if "id" in message and "method" not in message:
                answered.add(message["id"])

        harness.client.on_message = record
        for n in range(10_000):
            line, rid = _line(rng, 1_000_000 + n)
            if rid is not None:
                if rid in expected:
                    continue
                expected.add(rid)
            await harness.write(line)
        try:
            with anyio.fail_after(30):
                while not expected <= answered:
                    await anyio.wait_all_tasks_blocked()
        except TimeoutError:
            missing = sorted(map(str, expected - answered))[:5]
            raise AssertionError(f"{len(expected - answered)} requests unanswered, e.g. {missing}") from None
        # Still alive, and initialize-gated requests are served once the handshake is done.
        try:
            await harness.client.initialize()
        except RpcFailure as exc:
            assert exc.message == "Already initialized"
        result = await harness.client.request("thread/loaded/list", {})
        assert isinstance(result.get("data"), list)
    assert expected <= answered
