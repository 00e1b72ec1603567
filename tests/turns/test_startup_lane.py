"""The start-up lane: a few turns start at a time, and nothing a turn waits on upstream holds the others back.

The end-to-end tests narrow the lane to one place and a 30-second wait, so a place that was not given back
shows as a turn that does not finish within the test's bounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from server.sessions import startup_lane
from server.sessions.startup_lane import StartupLane
from server.simulator import Gate, HttpError, Reply, Simulator
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
    """The simulator as provider, with no idle timeout within a test: a stalled turn's retry would give its place
    back and hide a place that was never released."""
    return sim_overrides(sim.base_url, stream_idle_timeout_ms=60_000)


async def _start(h: Harness) -> tuple[str, str]:
    thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
    return thread_id, turn_id


async def _final(h: Harness, turn_id: str) -> dict[str, Any]:
    events = [event async for event in h.client.turn_events(turn_id, timeout=10)]
    return events[-1]["params"]["turn"]


async def test_a_turn_whose_stream_is_open_no_longer_holds_back_the_next_turn(
        tmp_path: Path, narrow_lane: None) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("slow answer", stall_after=1, gate=gate), Reply.text("quick answer"))
        async with running_server(tmp_path, overrides=_patient(sim), env=SIM_ENV) as h:
            _, slow = await _start(h)
            assert await gate.wait_reached_async(10)  # the slow turn is streaming, stalled mid-response
            _, quick = await _start(h)
            assert (await _final(h, quick))["status"] == "completed"
            gate.release()
            assert (await _final(h, slow))["status"] == "completed"


async def test_a_turn_that_failed_before_its_stream_opened_gives_its_place_back(
        tmp_path: Path, narrow_lane: None) -> None:
    with Simulator() as sim:
        sim.enqueue(HttpError.api_error(400, "bad request", code="invalid_request"), Reply.text("answer"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            _, failed = await _start(h)
            assert (await _final(h, failed))["status"] == "failed"
            _, next_turn = await _start(h)
            assert (await _final(h, next_turn))["status"] == "completed"


async def test_a_turn_pausing_to_retry_lets_another_turn_start_meanwhile(tmp_path: Path, narrow_lane: None) -> None:
    with Simulator() as sim:
        sim.enqueue(HttpError.rate_limited(retry_after="2", message="Rate limit reached."),
                    Reply.text("other answer"), Reply.text("retried answer"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            paused = h.on_arrival("error")  # the retry's notice: its pause has begun
            retrying_thread, retrying = await _start(h)
            with anyio.fail_after(10):
                await paused.wait()
            other_thread, other = await _start(h)
            assert (await _final(h, other))["status"] == "completed"
            assert (await _final(h, retrying))["status"] == "completed"
            # The other turn asked upstream in the pause, before the retrying turn's second try.
            asked = [request.body["prompt_cache_key"] for request in sim.requests_to("responses")]
            assert asked == [retrying_thread, other_thread, retrying_thread]


async def test_a_turn_waiting_for_a_place_can_be_interrupted(tmp_path: Path, narrow_lane: None) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("answer", stall_headers=True, gate=gate))
        async with running_server(tmp_path, overrides=_patient(sim), env=SIM_ENV) as h:
            _, holder = await _start(h)
            assert await gate.wait_reached_async(10)  # holds the one place: its upstream has not answered yet
            thread_id, waiting = await _start(h)
            assert await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": waiting},
                                          timeout=10) == {}
            assert (await _final(h, waiting))["status"] == "interrupted"
            assert len(sim.requests_to("responses")) == 1  # the interrupted turn never asked upstream
            gate.release()
            assert (await _final(h, holder))["status"] == "completed"


async def test_an_upstream_slow_to_answer_delays_other_turns_only_briefly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup_lane, "CAPACITY", 1)
    monkeypatch.setattr(startup_lane, "MAX_WAIT", 0.05)
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("late answer", stall_headers=True, gate=gate), Reply.text("answer"))
        async with running_server(tmp_path, overrides=_patient(sim), env=SIM_ENV) as h:
            _, holder = await _start(h)
            assert await gate.wait_reached_async(10)
            _, other = await _start(h)
            assert (await _final(h, other))["status"] == "completed"  # while the first still waits for headers
            gate.release()
            assert (await _final(h, holder))["status"] == "completed"
