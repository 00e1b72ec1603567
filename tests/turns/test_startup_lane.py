"""The start-up lane: one turn starts at a time, and nothing a turn waits on upstream holds the others back.

The end-to-end tests give the lane one place and a 30-second wait, so a place that was not given back
shows as a turn that does not finish within the test's bounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from server.compaction import COMPACT_PROMPT
from server.sessions import loop, startup_lane
from server.sessions.startup_lane import StartupLane
from server.simulator import Gate, Reply, Simulator
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio

HI = [{"type": "text", "text": "hi"}]


# -- the lane on its own ---------------------------------------------------------------------------------------


async def test_a_full_lane_lets_the_next_turn_in_once_a_place_is_released() -> None:
    lane = StartupLane(capacity=1, max_wait=30)
    first = await lane.enter()
    entered: list[bool] = []

    async def second() -> None:
        entered.append((await lane.enter()).held)

    async with anyio.create_task_group() as tg:
        tg.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        assert entered == []  # waiting: the one place is taken
        first.release()
        first.release()  # releasing twice gives back one place, not two
    assert entered == [True]
    assert lane._slots.value == 0  # the second turn holds the place


async def test_a_turn_that_waited_too_long_starts_without_a_place() -> None:
    lane = StartupLane(capacity=1, max_wait=0.01)
    held = await lane.enter()
    late = await lane.enter()
    assert held.held and not late.held
    late.release()  # gives back nothing
    assert lane._slots.value == 0
    held.release()
    assert lane._slots.value == 1


async def test_a_cancelled_wait_holds_no_place() -> None:
    lane = StartupLane(capacity=1, max_wait=30)
    held = await lane.enter()
    with anyio.move_on_after(0.01):
        await lane.enter()
    held.release()
    assert lane._slots.value == 1


# -- turns through the daemon ------------------------------------------------------------------------------------


@pytest.fixture
def narrow_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup_lane, "CAPACITY", 1)
    monkeypatch.setattr(startup_lane, "MAX_WAIT", 30.0)


def _patient(sim: Simulator) -> list[str]:
    """The simulator as provider, with no idle timeout within a test: a stalled request ends only when the test
    releases it."""
    return sim_overrides(sim.base_url, stream_idle_timeout_ms=60_000)


def _words(n_bytes: int) -> list[dict[str, Any]]:
    return [{"type": "text", "text": "lorem ipsum dolor sit amet " * (n_bytes // 27)}]


async def _start(h: Harness) -> tuple[str, str]:
    thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
    return thread_id, turn_id


async def _final(h: Harness, turn_id: str) -> dict[str, Any]:
    events = [event async for event in h.client.turn_events(turn_id, timeout=10)]
    return events[-1]["params"]["turn"]


async def test_a_second_turn_starts_up_only_once_the_first_has_built_its_request(
        tmp_path: Path, narrow_lane: None, monkeypatch: pytest.MonkeyPatch) -> None:
    enter, ensure_history = StartupLane.enter, loop.ensure_history
    loading: list[str] = []
    first_loading, second_entering, first_may_go = anyio.Event(), anyio.Event(), anyio.Event()

    async def entering(lane: StartupLane) -> Any:
        if first_loading.is_set():
            second_entering.set()
        return await enter(lane)

    async def held_first(turn: Any) -> Any:
        loading.append(turn.thread_id)
        if len(loading) == 1:
            first_loading.set()
            await first_may_go.wait()  # the first turn's start-up, stretched out while it holds the place
        return await ensure_history(turn)

    monkeypatch.setattr(StartupLane, "enter", entering)
    monkeypatch.setattr(loop, "ensure_history", held_first)
    with Simulator() as sim:
        sim.enqueue(Reply.text("first answer"), Reply.text("second answer"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            first_thread, first = await _start(h)
            with anyio.fail_after(10):
                await first_loading.wait()
            second_thread, second = await _start(h)
            with anyio.fail_after(10):
                await second_entering.wait()
            await anyio.wait_all_tasks_blocked()  # the second turn has gone as far as it can
            assert loading == [first_thread]  # it waits for the place: its start-up has not begun
            first_may_go.set()
            assert (await _final(h, first))["status"] == "completed"
            assert (await _final(h, second))["status"] == "completed"
            assert loading == [first_thread, second_thread]


async def test_a_turn_waiting_on_upstream_does_not_hold_back_the_next_turn(
        tmp_path: Path, narrow_lane: None) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("late answer", stall_headers=True, gate=gate), Reply.text("quick answer"))
        async with running_server(tmp_path, overrides=_patient(sim), env=SIM_ENV) as h:
            _, slow = await _start(h)
            assert await gate.wait_reached_async(10)  # its request is upstream, which has not answered at all
            _, quick = await _start(h)
            assert (await _final(h, quick))["status"] == "completed"
            gate.release()
            assert (await _final(h, slow))["status"] == "completed"


async def test_a_turn_compacting_before_its_request_does_not_hold_back_the_next_turn(
        tmp_path: Path, narrow_lane: None) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("noted"), Reply.text("the summary", stall_headers=True, gate=gate),
                    Reply.text("quick answer"), Reply.text("answer"))
        overrides = [*sim_overrides(sim.base_url, inline_compaction=False, remote_compaction="off",
                                   stream_idle_timeout_ms=60_000),
                     "model_auto_compact_token_limit=1000"]  # summarised here, through /responses
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            compacting = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": compacting, "input": _words(3_000)})
            second = await h.client.request("turn/start", {"threadId": compacting, "input": _words(1_000)})
            assert await gate.wait_reached_async(10)  # the pre-turn summary is upstream, not answered yet
            _, quick = await _start(h)
            assert (await _final(h, quick))["status"] == "completed"
            gate.release()
            assert (await _final(h, second["turn"]["id"]))["status"] == "completed"
        summary_request = sim.requests_to("responses")[1].body  # the request the gate held: the summary's
        assert summary_request["input"][-1]["content"][0]["text"] == COMPACT_PROMPT


async def test_a_turn_that_failed_before_its_request_gives_its_place_back(
        tmp_path: Path, narrow_lane: None, monkeypatch: pytest.MonkeyPatch) -> None:
    build_request, calls = loop.build_request, []

    def fails_once(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("the request could not be built")
        return build_request(*args, **kwargs)

    with Simulator() as sim:
        sim.enqueue(Reply.text("answer"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            monkeypatch.setattr(loop, "build_request", fails_once)
            _, failed = await _start(h)
            assert (await _final(h, failed))["status"] == "failed"
            _, next_turn = await _start(h)
            assert (await _final(h, next_turn))["status"] == "completed"


async def test_a_turn_waiting_for_a_place_can_be_interrupted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup_lane, "CAPACITY", 0)  # no place ever comes free: every turn waits
    monkeypatch.setattr(startup_lane, "MAX_WAIT", 30.0)
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id, waiting = await _start(h)
            assert await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": waiting},
                                          timeout=10) == {}
            assert (await _final(h, waiting))["status"] == "interrupted"
        assert sim.requests_to("responses") == []  # the interrupted turn never asked upstream
