"""Reading a thread while a turn runs: every read shows the items the turn has completed so far, exactly as
their `item/completed` announced them and in that order, and none still in progress — as Codex 0.163.0 does,
so a client that reconnects mid-turn keeps what it was already shown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from server.simulator import FunctionCall, Gate, Reasoning, Reply, Simulator, Text
from server.store import SqliteStore, TurnRecord
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio

Message = dict[str, Any]


def _say(text: str) -> list[Message]:
    return [{"type": "text", "text": text}]


def _completed(events: list[Message]) -> list[Message]:
    """The items of ``events`` in the order their ``item/completed`` announced them."""
    return [e["params"]["item"] for e in events if e["method"] == "item/completed"]


def _deltas(events: list[Message]) -> int:
    return sum(1 for e in events if e["method"] == "item/agentMessage/delta")


async def _until(h: Harness, turn_id: str, done: Callable[[list[Message]], bool]) -> list[Message]:
    """The turn's notifications from its start until ``done`` holds for them (bounded)."""
    seen: list[Message] = []
    async with aclosing(h.client.turn_events(turn_id, timeout=10)) as events:
        async for event in events:
            seen.append(event)
            if done(seen):
                return seen
    raise AssertionError(f"the turn ended before the moment the test waits for: {[e['method'] for e in seen]}")


async def _rest(h: Harness, turn_id: str) -> list[Message]:
    return [e async for e in h.client.turn_events(turn_id, timeout=10)]


@dataclass
class Running:
    h: Harness
    thread_id: str
    turn_id: str
    shown: list[Message]
    """The turn's notifications so far."""


@asynccontextmanager
async def _stalled(tmp_path: Path, reply: Reply, gate: Gate, until: Callable[[list[Message]], bool],
                   **thread: Any) -> AsyncIterator[Running]:
    """A thread whose turn streams ``reply`` up to its stall and has shown what ``until`` waits for."""
    with Simulator() as sim:
        sim.enqueue(reply)
        try:
            async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
                thread_id = (await h.client.request("thread/start", thread))["thread"]["id"]
                started = await h.client.request("turn/start", {"threadId": thread_id, "input": _say("go")})
                turn_id = started["turn"]["id"]
                yield Running(h, thread_id, turn_id, await _until(h, turn_id, until))
        finally:
            gate.release()


def _two_messages(gate: Gate) -> Reply:
    # Events: 1-2 response, 3-8 the first message (one delta), 9-10 the second's start, 11-12 two of its deltas.
    return Reply(output=[Text("first message done", 1), Text("second message", 4)], stall_after=12, gate=gate)


def _second_message_streaming(events: list[Message]) -> bool:
    return _deltas(events) == 3  # the first message's delta, then two of the second's


async def test_a_read_mid_turn_shows_the_items_completed_so_far_as_announced_and_not_the_message_still_streaming(
        tmp_path: Path) -> None:
    gate = Gate()
    async with _stalled(tmp_path, _two_messages(gate), gate, _second_message_streaming) as run:
        h, thread_id = run.h, run.thread_id
        announced = _completed(run.shown)
        assert [(i["type"], i.get("text")) for i in announced] == [("userMessage", None),
                                                                   ("agentMessage", "first message done")]
        read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
        (turn,) = read["thread"]["turns"]
        assert turn["status"] == "inProgress" and turn["items"] == announced
        listed = await h.client.request("thread/turns/list", {"threadId": thread_id, "itemsView": "full"})
        assert [t["items"] for t in listed["data"]] == [announced]
        bare = await h.client.request("thread/turns/list", {"threadId": thread_id, "itemsView": "notLoaded"})
        assert [t["items"] for t in bare["data"]] == [[]]
        items = await h.client.request("thread/items/list", {"threadId": thread_id})
        notes = [e["params"] for e in run.shown if e["method"] == "item/completed"]
        assert [(e["turnId"], e["item"], e["completedAtMs"]) for e in items["data"]] == [
            (run.turn_id, n["item"], n["completedAtMs"]) for n in notes]
        one_turn = await h.client.request("thread/items/list", {"threadId": thread_id, "turnId": run.turn_id})
        assert [e["item"] for e in one_turn["data"]] == announced

        gate.release()
        rest = await _rest(h, run.turn_id)
        assert rest[-1]["params"]["turn"]["status"] == "completed"
        done = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
        assert done["thread"]["turns"][0]["items"] == announced + _completed(rest)  # nothing twice, nothing lost


async def test_resuming_mid_turn_carries_the_completed_items_in_its_turns_and_its_first_page(tmp_path: Path) -> None:
    gate = Gate()
    async with _stalled(tmp_path, _two_messages(gate), gate, _second_message_streaming) as run:
        announced = _completed(run.shown)
        resumed = await run.h.client.request("thread/resume", {
            "threadId": run.thread_id, "initialTurnsPage": {"itemsView": "full", "limit": 5}})
        assert resumed["thread"]["status"] == {"type": "active", "activeFlags": []}
        assert [(t["status"], t["items"]) for t in resumed["thread"]["turns"]] == [("inProgress", announced)]
        assert [t["items"] for t in resumed["initialTurnsPage"]["data"]] == [announced]


async def test_the_summary_view_of_a_running_turn_is_its_user_message_alone_until_it_has_answered(
        tmp_path: Path) -> None:
    # As Codex 0.163.0: a message completed mid-turn is not the turn's answer yet, in thread/turns/list and in
    # resume's first page alike; once the turn completes its summary is the opening message and the answer.
    gate = Gate()
    async with _stalled(tmp_path, _two_messages(gate), gate, _second_message_streaming) as run:
        h, opening = run.h, _completed(run.shown)[0]
        listed = await h.client.request("thread/turns/list", {"threadId": run.thread_id})
        assert [(t["itemsView"], t["items"]) for t in listed["data"]] == [("summary", [opening])]
        resumed = await h.client.request("thread/resume", {"threadId": run.thread_id, "excludeTurns": True,
                                                           "initialTurnsPage": {"itemsView": "summary"}})
        assert [t["items"] for t in resumed["initialTurnsPage"]["data"]] == [[opening]]
        gate.release()
        rest = await _rest(h, run.turn_id)
        listed = await h.client.request("thread/turns/list", {"threadId": run.thread_id})
        assert [t["items"] for t in listed["data"]] == [[opening, _completed(rest)[-1]]]


async def test_a_reasoning_item_that_finished_mid_response_reads_back_before_the_response_ends(tmp_path: Path) -> None:
    gate = Gate()
    # Events: 1-2 response, 3-8 the reasoning (one summary part), 9-10 the message's start, 11-12 two deltas.
    reply = Reply(output=[Reasoning(summary=("thinking it over",)), Text("the answer comes", 4)], stall_after=12,
                  gate=gate)
    async with _stalled(tmp_path, reply, gate, lambda events: _deltas(events) == 2) as run:
        announced = _completed(run.shown)
        assert [i["type"] for i in announced] == ["userMessage", "reasoning"]
        assert announced[1]["summary"] == ["thinking it over"]
        read = await run.h.client.request("thread/read", {"threadId": run.thread_id, "includeTurns": True})
        assert read["thread"]["turns"][0]["items"] == announced


async def test_a_fork_mid_turn_copies_the_items_completed_so_far_into_an_interrupted_turn(tmp_path: Path) -> None:
    gate = Gate()
    async with _stalled(tmp_path, _two_messages(gate), gate, _second_message_streaming) as run:
        forked = await run.h.client.request("thread/fork", {"threadId": run.thread_id})
        (turn,) = forked["thread"]["turns"]
        assert (turn["id"], turn["status"], turn["items"]) == (run.turn_id, "interrupted", _completed(run.shown))
        read = await run.h.client.request("thread/read", {"threadId": forked["thread"]["id"], "includeTurns": True})
        assert read["thread"]["turns"] == forked["thread"]["turns"]


async def test_a_steered_message_reads_back_while_the_response_it_started_streams(tmp_path: Path) -> None:
    gate, second_gate = Gate(), Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("working on it", 2)], stall_after=2, gate=gate),
                    Reply(output=[Text("done, with the tests", 2)], stall_after=2, gate=second_gate))
        try:
            async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
                thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
                started = await h.client.request("turn/start", {"threadId": thread_id, "input": _say("hi")})
                turn_id = started["turn"]["id"]
                assert await gate.wait_reached_async(10)
                await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": turn_id,
                                                      "input": _say("also add tests")})
                shown = await _until(h, turn_id, lambda events: len(_completed(events)) == 2)
                assert await second_gate.wait_reached_async(10)
                read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
                items = read["thread"]["turns"][0]["items"]
                assert items == _completed(shown)
                assert [i["content"][0]["text"] for i in items] == ["hi", "also add tests"]
        finally:
            gate.release()
            second_gate.release()


async def test_a_finished_tool_call_reads_back_while_the_next_call_waits_for_the_client(tmp_path: Path) -> None:
    tool = {"name": "lookup", "description": "Look a word up.", "inputSchema": {"type": "object"}}
    second_asked, answer_second = anyio.Event(), anyio.Event()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", '{"w": 1}', call_id="call_1"),
                                  FunctionCall("lookup", '{"w": 2}', call_id="call_2")]),
                    Reply.text("both found"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:

            async def answer(message: Message) -> Any:
                if message["params"]["callId"] == "call_2":
                    second_asked.set()
                    await answer_second.wait()
                return {"success": True, "contentItems": [{"type": "inputText", "text": "found"}]}

            h.client.handlers["item/tool/call"] = answer
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [tool]}))["thread"]["id"]
            turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": _say("go")}))["turn"]["id"]
            with anyio.fail_after(10):
                await second_asked.wait()
            shown = await _until(h, turn_id, lambda events: len(_completed(events)) == 2)
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            items = read["thread"]["turns"][0]["items"]
            assert items == _completed(shown)
            assert [(i["type"], i.get("id"), i.get("status")) for i in items] == [
                ("userMessage", items[0]["id"], None), ("dynamicToolCall", "call_1", "completed")]
            answer_second.set()
            rest = await _rest(h, turn_id)
            assert rest[-1]["params"]["turn"]["status"] == "completed"
        # The answered call went to the model with the client's answer, as it always did.
        outputs = [i for i in sim.requests[-1].body["input"] if i.get("type") == "function_call_output"]
        assert [o["call_id"] for o in outputs] == ["call_1", "call_2"]


@pytest.mark.parametrize(("method", "params"), [
    ("thread/read", {"includeTurns": True}),
    ("thread/turns/list", {"itemsView": "full"}),
    ("thread/resume", {}),
], ids=["read", "turns list", "resume"])
async def test_a_read_that_races_the_turns_ending_shows_it_ended_with_every_item_never_cut_short(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, params: Message) -> None:
    # The read's first look at the store finds the turn running; the turn then ends before the read has
    # answered. The answer must be the turn as it ended (completed, every item once), not a running turn
    # taken for one a crash cut short.
    looked, go_on = anyio.Event(), anyio.Event()
    armed = False
    read = SqliteStore._read

    async def read_then_wait(self: SqliteStore, fn: Any) -> Any:
        nonlocal armed
        result = await read(self, fn)
        if armed and _running_turn_in(result):
            armed = False
            looked.set()
            await go_on.wait()
        return result

    monkeypatch.setattr(SqliteStore, "_read", read_then_wait)
    gate = Gate()
    async with _stalled(tmp_path, _two_messages(gate), gate, _second_message_streaming) as run:
        h = run.h
        answer: list[Message] = []

        async def ask() -> None:
            answer.append(await h.client.request(method, {"threadId": run.thread_id, **params}))

        async with anyio.create_task_group() as tg:
            armed = True
            tg.start_soon(ask)
            with anyio.fail_after(10):
                await looked.wait()
            gate.release()
            rest = await _rest(h, run.turn_id)  # turn/completed: the ending is written and announced
            go_on.set()
        turns = answer[0]["data"] if method == "thread/turns/list" else answer[0]["thread"]["turns"]
        assert [(t["status"], t["items"]) for t in turns] == [("completed", _completed(run.shown + rest))]


def _running_turn_in(result: Any) -> bool:
    records = result[0].items if isinstance(result, tuple) else getattr(result, "items", ())
    return any(isinstance(r, TurnRecord) and r.status == "inProgress" for r in records)


async def test_a_fork_whose_copy_is_taken_after_the_turn_ended_holds_the_turn_as_it_ended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # thread/fork is asked while the turn runs, but the turn ends before the store copies the thread: the copy
    # is of a completed turn with all its items, and must not be relabelled as cut short.
    copying, go_on = anyio.Event(), anyio.Event()
    fork = SqliteStore.fork

    async def fork_after_the_end(self: SqliteStore, *args: Any, **kwargs: Any) -> Any:
        copying.set()
        await go_on.wait()
        return await fork(self, *args, **kwargs)

    monkeypatch.setattr(SqliteStore, "fork", fork_after_the_end)
    gate = Gate()
    async with _stalled(tmp_path, _two_messages(gate), gate, _second_message_streaming) as run:
        h = run.h
        answer: list[Message] = []

        async def ask() -> None:
            answer.append(await h.client.request("thread/fork", {"threadId": run.thread_id}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            with anyio.fail_after(10):
                await copying.wait()
            gate.release()
            rest = await _rest(h, run.turn_id)
            go_on.set()
        turns = answer[0]["thread"]["turns"]
        assert [(t["status"], t["items"]) for t in turns] == [("completed", _completed(run.shown + rest))]
