"""Thread.updatedAt: a turn moves it, a rename does not, and every view of a thread (loaded or not) agrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.sessions import lifecycle
from server.sessions import turn as turn_module
from server.simulator import Simulator
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000


class Clock:
    """The wall clock threads are stamped with (seconds), moved by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(lifecycle, "now_s", fake)  # createdAt / updatedAt of a new thread
    monkeypatch.setattr(turn_module, "now_s", fake)  # what a turn writes
    return fake


async def _turn(h: Harness, thread_id: str, text: str) -> None:
    await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": text}]})


async def _shown(h: Harness, thread_id: str) -> dict[str, Any]:
    """updatedAt as thread/read and thread/list (both sort keys) show it."""
    read = (await h.client.request("thread/read", {"threadId": thread_id}))["thread"]
    listed = {key: {t["id"]: t["updatedAt"] for t in (await h.client.request(
        "thread/list", {"sortKey": key}))["data"]} for key in ("created_at", "updated_at")}
    return {"read": read["updatedAt"], "created": read["createdAt"],
            "listed": listed["created_at"].get(thread_id), "by_updated_at": listed["updated_at"].get(thread_id)}


async def test_a_turn_moves_updated_at_of_a_loaded_thread_and_a_rename_does_not(tmp_path: Path, clock: Clock) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            clock.now = T0 + 10
            await _turn(h, thread_id, "first")
            assert await _shown(h, thread_id) == {"read": T0 + 10, "created": T0, "listed": T0 + 10,
                                                  "by_updated_at": T0 + 10}
            clock.now = T0 + 20
            await _turn(h, thread_id, "second")
            assert (await _shown(h, thread_id))["read"] == T0 + 20

            clock.now = T0 + 30
            await h.client.request("thread/name/set", {"threadId": thread_id, "name": "Renamed"})
            assert await _shown(h, thread_id) == {"read": T0 + 20, "created": T0, "listed": T0 + 20,
                                                  "by_updated_at": T0 + 20}
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            # Not loaded now: the store's values, the same ones; a rename of an unloaded thread keeps them too.
            assert await _shown(h, thread_id) == {"read": T0 + 20, "created": T0, "listed": T0 + 20,
                                                  "by_updated_at": T0 + 20}
            clock.now = T0 + 40
            await h.client.request("thread/name/set", {"threadId": thread_id, "name": "Renamed again"})
            read = (await h.client.request("thread/read", {"threadId": thread_id}))["thread"]
            assert (read["status"], read["name"], read["updatedAt"]) == ({"type": "notLoaded"}, "Renamed again",
                                                                        T0 + 20)


async def test_thread_list_by_updated_at_follows_the_latest_turn_and_shows_the_values_it_sorted_by(
        tmp_path: Path, clock: Clock) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            older = (await h.client.request("thread/start", {}))["thread"]["id"]
            await _turn(h, older, "older thread")
            clock.now = T0 + 5
            newer = (await h.client.request("thread/start", {}))["thread"]["id"]
            await _turn(h, newer, "newer thread")
            clock.now = T0 + 60
            await _turn(h, older, "the older thread again")  # both stay loaded

            page = (await h.client.request("thread/list", {"sortKey": "updated_at"}))["data"]
            assert [(t["id"], t["updatedAt"]) for t in page] == [(older, T0 + 60), (newer, T0 + 5)]
            page = (await h.client.request("thread/list", {"sortKey": "updated_at", "sortDirection": "asc"}))["data"]
            assert [t["id"] for t in page] == [newer, older]
            first = await h.client.request("thread/list", {"sortKey": "updated_at", "limit": 1})
            rest = await h.client.request("thread/list", {"sortKey": "updated_at", "limit": 1,
                                                          "cursor": first["nextCursor"]})
            assert [t["id"] for t in first["data"] + rest["data"]] == [older, newer]
