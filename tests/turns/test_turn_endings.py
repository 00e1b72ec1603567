"""A turn that is ending: what arrives while it stops, and what it saves once, whatever stops it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from server.simulator import Reply, Simulator
from server.store import apply
from tests.harness import SIM_ENV, running_server, sim_overrides

pytestmark = pytest.mark.anyio


def _text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": value}]


def _user_texts(body: dict[str, Any]) -> list[str]:
    return [c["text"] for i in body["input"] if i.get("role") == "user" for c in i["content"]]


def _item_texts(turn: dict[str, Any]) -> list[str]:
    return [i["content"][0]["text"] for i in turn["items"] if i["type"] == "userMessage"]


async def test_an_interrupt_while_the_turn_is_being_saved_writes_its_history_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, saving = apply.apply_batch, threading.Event()

    def slow_history_write(conn: sqlite3.Connection, thread_id: str, ops: Sequence[Any]) -> None:
        if not saving.is_set() and any(isinstance(op, apply.AppendHistory) for op in ops):
            saving.set()
            threading.Event().wait(0.5)  # the writer thread is busy with it while the interrupt lands
        real(conn, thread_id, ops)

    monkeypatch.setattr(apply, "apply_batch", slow_history_write)
    with Simulator() as sim:
        sim.enqueue(Reply.text("never streamed"), Reply.text("again"))
        overrides = sim_overrides(sim.base_url)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": _text("hi")}))["turn"]["id"]
            with anyio.fail_after(10):
                while not saving.is_set():
                    await anyio.sleep(0.005)
            assert await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id}) == {}
            events = [e async for e in h.client.turn_events(turn_id)]
            assert events[-1]["params"]["turn"]["status"] == "interrupted"
        sim.requests.clear()
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            await h.client.request("thread/resume", {"threadId": thread_id})
            await h.client.run_turn({"threadId": thread_id, "input": _text("again")})
        assert _user_texts(sim.requests[-1].body) == ["hi", "again"]
