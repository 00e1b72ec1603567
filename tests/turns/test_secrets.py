"""A provider key never shows up in notifications, errors, logs or the store — even when the upstream echoes it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from server.simulator import HttpError, Reply, Simulator
from tests.harness import running_server, sim_overrides

pytestmark = pytest.mark.anyio

SENTINEL = "sk-sentinel-4f1c9e0b7d"


async def test_the_key_appears_nowhere_a_person_or_program_could_read_it(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Simulator() as sim:
        sim.enqueue(Reply.text("fine"), HttpError.unauthorized(f"Incorrect API key provided: {SENTINEL}."),
                    HttpError.bad_request(f"bad key {SENTINEL} in header Authorization: Bearer {SENTINEL}"))
        env = {"SIM_API_KEY": SENTINEL}
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=env) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            ok, _ = await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]})
            denied, _ = await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "again"}]})
            rejected, _ = await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "3"}]})
            assert ok["status"] == "completed"
            assert denied["status"] == rejected["status"] == "failed"
            assert denied["error"]["codexErrorInfo"] == "unauthorized"
            await h.client.request("config/read", {"includeLayers": True})
            wire = b"".join(h.witness.raw)
        assert sim.requests[0].headers["authorization"] == f"Bearer {SENTINEL}"  # it was really used
    assert SENTINEL.encode() not in wire
    assert SENTINEL not in caplog.text
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert SENTINEL.encode() not in file.read_bytes(), file
