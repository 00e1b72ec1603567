"""A turn that is ending: what arrives while it stops, and what it saves once, whatever stops it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from server.sessions.sampling import _Attempt, _consume, _preemptible, kept_when_cut_short
from server.simulator import Gate, Reply, Simulator, Text
from server.store import apply
from server.upstream.events import OutputItemDone
from tests.harness import SIM_ENV, running_server, sim_overrides

pytestmark = pytest.mark.anyio


def _text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": value}]


def _user_texts(body: dict[str, Any]) -> list[str]:
    return [c["text"] for i in body["input"] if i.get("role") == "user" for c in i["content"]]


def _item_texts(turn: dict[str, Any]) -> list[str]:
    return [i["content"][0]["text"] for i in turn["items"] if i["type"] == "userMessage"]


async def _stalled_turn(h: Any, gate: Gate) -> tuple[str, str]:
    """A new thread whose first turn ("hi") is held mid-stream at `gate`: (thread id, turn id)."""
    thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": _text("hi")}))["turn"]["id"]
    assert await gate.wait_reached_async(10)
    return thread_id, turn_id


async def test_a_turn_start_right_behind_an_interrupt_starts_the_next_turn_and_loses_nothing(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("one two three", 3)], stall_after=3, gate=gate), Reply.text("fresh start"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id, first_id = await _stalled_turn(h, gate)
            answers: dict[str, Any] = {}

            async def interrupt() -> None:
                answers["interrupt"] = await h.client.request(
                    "turn/interrupt", {"threadId": thread_id, "turnId": first_id}, timeout=10)

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(interrupt)
                    await anyio.lowlevel.checkpoint()  # the interrupt goes first; neither is answered yet
                    started = await h.client.request("turn/start", {"threadId": thread_id, "input": _text("NEW")})
                gate.release()
                second = started["turn"]
                assert answers["interrupt"] == {} and second["id"] != first_id
                ends = [[e async for e in h.client.turn_events(t)][-1] for t in (first_id, second["id"])]
            assert [e["params"]["turn"]["status"] for e in ends] == ["interrupted", "completed"]
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert [_item_texts(t) for t in read["thread"]["turns"]] == [["hi"], ["NEW"]]
        assert _user_texts(sim.requests[-1].body) == ["hi", "NEW"]


async def test_input_steered_into_a_turn_that_is_then_interrupted_is_kept_for_the_next_turn(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("one two three", 3)], stall_after=3, gate=gate), Reply.text("both seen"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id, turn_id = await _stalled_turn(h, gate)
            await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": turn_id,
                                                  "input": _text("also this")})
            assert await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id}) == {}
            gate.release()
            events = [e async for e in h.client.turn_events(turn_id)]
            shown = [e["params"]["item"]["content"][0]["text"] for e in events
                     if e["method"] == "item/completed" and e["params"]["item"]["type"] == "userMessage"]
            assert shown == ["hi", "also this"]  # announced as the steer promised, though never sent
            await h.client.run_turn({"threadId": thread_id, "input": _text("next")})
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert _item_texts(read["thread"]["turns"][0]) == ["hi", "also this"]
        assert _user_texts(sim.requests[-1].body) == ["hi", "also this", "next"]


async def test_two_turn_starts_back_to_back_go_out_in_one_request(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("both at once"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            ids: list[str] = []

            async def start(text: str) -> None:
                ids.append((await h.client.request("turn/start", {"threadId": thread_id, "input": _text(text)}))
                           ["turn"]["id"])

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(start, "first")
                    await anyio.lowlevel.checkpoint()
                    tg.start_soon(start, "second")
                assert len(set(ids)) == 1  # the second joined the first
                events = [e async for e in h.client.turn_events(ids[0])]
            assert events[-1]["params"]["turn"]["status"] == "completed"
        assert len(sim.requests) == 1
        assert _user_texts(sim.requests[0].body) == ["first", "second"]


async def test_a_joining_turn_start_still_sets_the_threads_model_for_later_turns(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("one two", 2)], stall_after=2, gate=gate), Reply.text("ok"), Reply.text("ok"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id, turn_id = await _stalled_turn(h, gate)
            joined = await h.client.request("turn/start", {"threadId": thread_id, "input": _text("more"),
                                                           "model": "gpt-5.1-codex-mini"})
            assert joined["turn"]["id"] == turn_id
            gate.release()
            _ = [e async for e in h.client.turn_events(turn_id)]
            await h.client.run_turn({"threadId": thread_id, "input": _text("later")})
        assert sim.requests[-1].body["model"] == "gpt-5.1-codex-mini"


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


def _shape(body: dict[str, Any]) -> list[str]:
    """The request's input as one word per entry: role and text for messages, type and call id for the rest."""
    out = []
    for entry in body["input"]:
        if entry.get("type") == "message":
            out.append(f"{entry['role']}:{entry['content'][0]['text']}")
        else:
            out.append(f"{entry['type']}:{entry.get('call_id')}:{entry.get('output', '')}")
    return out


LOOKUP = {"type": "function", "name": "lookup", "description": "Look a word up.",
          "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}}}


async def _pending_tool_call(h: Any, thread_id: str, asked: anyio.Event) -> str:
    async def never(message: dict[str, Any]) -> Any:
        asked.set()
        await anyio.sleep_forever()

    h.client.handlers["item/tool/call"] = never
    turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": _text("hi")}))["turn"]["id"]
    with anyio.fail_after(10):
        await asked.wait()
    return turn_id


async def test_an_interrupt_after_a_steer_during_a_tool_call_stores_the_history_in_the_order_it_ran(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.tool_call("lookup", '{"q": "x"}', call_id="call_0"), Reply.text("one"), Reply.text("two"))
        overrides = sim_overrides(sim.base_url)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [LOOKUP]}))["thread"]["id"]
            turn_id = await _pending_tool_call(h, thread_id, anyio.Event())
            await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": turn_id,
                                                  "input": _text("STEER")})
            await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id})
            _ = [e async for e in h.client.turn_events(turn_id)]
            await h.client.run_turn({"threadId": thread_id, "input": _text("next")})
        in_memory = _shape(sim.requests[-1].body)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            await h.client.request("thread/resume", {"threadId": thread_id})
            await h.client.run_turn({"threadId": thread_id, "input": _text("after restart")})
        from_store = _shape(sim.requests[-1].body)
    assert in_memory == ["user:hi", "function_call:call_0:", "function_call_output:call_0:aborted", "user:STEER",
                         "user:next"]
    assert from_store[: len(in_memory)] == in_memory


async def test_an_ephemeral_fork_of_a_thread_waiting_on_a_tool_answers_the_call_before_its_first_request(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.tool_call("lookup", '{"q": "x"}', call_id="call_0"), Reply.text("forked answer"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [LOOKUP]}))["thread"]["id"]
            await _pending_tool_call(h, thread_id, anyio.Event())
            fork = (await h.client.request("thread/fork", {"threadId": thread_id, "ephemeral": True,
                                                           "excludeTurns": True}))["thread"]
            await h.client.run_turn({"threadId": fork["id"], "input": _text("in the fork")})
            # Picked by content: the source turn, still waiting on its tool, may send requests of its own.
            [forked] = [r.body for r in sim.requests if "user:in the fork" in _shape(r.body)]
        assert _shape(forked)[:3] == ["user:hi", "function_call:call_0:", "function_call_output:call_0:aborted"]


async def test_a_joining_turn_start_with_a_tool_output_delivers_it_and_adds_no_empty_message(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("one two", 2)], stall_after=2, gate=gate), Reply.text("seen the results"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id, turn_id = await _stalled_turn(h, gate)
            joined = await h.client.request("turn/start", {"threadId": thread_id, "input": [],
                                                           "toolOutput": {"name": "ci", "output": "3 tests failed"}})
            assert joined["turn"]["id"] == turn_id
            gate.release()
            events = [e async for e in h.client.turn_events(turn_id)]
            assert events[-1]["params"]["turn"]["status"] == "completed"
        follow_up = _shape(sim.requests[-1].body)
    assert follow_up[0] == "user:hi"  # the joined input cut the first response short: none of it goes back
    assert [word.split(":")[0] for word in follow_up[1:]] == ["function_call", "function_call_output"]  # no user:
    assert follow_up[-1].endswith(":3 tests failed")


async def test_a_steer_cuts_the_streaming_response_short_and_the_next_request_carries_it_at_once(
        tmp_path: Path) -> None:
    gate = Gate()  # held for the whole test: the first response never finishes on its own
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("one two three four", 4)], stall_after=6, gate=gate),
                    Reply.text("Stopping at two."), Reply.text("Next answer."))
        try:
            async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
                shown = h.on_arrival("item/agentMessage/delta")
                thread_id, turn_id = await _stalled_turn(h, gate)
                with anyio.fail_after(10):
                    await shown.wait()  # the daemon has shown part of the answer: the steer cuts it short there
                await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": turn_id,
                                                      "input": _text("stop at two")})
                events = [e async for e in h.client.turn_events(turn_id, timeout=20)]
                assert events[-1]["params"]["turn"]["status"] == "completed"
                done = [e["params"]["item"] for e in events if e["method"] == "item/completed"]
                assert [(i["type"], i.get("phase")) for i in done] == [
                    ("userMessage", None), ("agentMessage", "partial_answer"), ("userMessage", None),
                    ("agentMessage", None)]
                assert done[1]["text"] == "".join(e["params"]["delta"] for e in events
                                                  if e["params"].get("itemId") == done[1]["id"]
                                                  and e["method"] == "item/agentMessage/delta")
                assert done[-1]["text"] == "Stopping at two."
                await h.client.run_turn({"threadId": thread_id, "input": _text("go on")})
        finally:
            gate.release()
    steered, after = sim.requests[1].body, sim.requests[2].body
    assert _shape(steered) == ["user:hi", "user:stop at two"]  # what was cut short never goes back to the model
    assert _shape(after) == ["user:hi", "user:stop at two", "assistant:Stopping at two.", "user:go on"]


def _cut_short(*outputs: dict[str, Any]) -> list[str]:
    return [f"{item['type']}:{item.get('id')}" for item in kept_when_cut_short(outputs)]


def test_a_response_cut_short_keeps_its_completed_messages_and_the_reasoning_that_led_to_each() -> None:
    reasoning = {"type": "reasoning", "id": "rs_1"}
    message = {"type": "message", "id": "msg_1", "role": "assistant"}
    call = {"type": "function_call", "id": "fc_1", "call_id": "c1"}
    assert _cut_short(reasoning, message) == ["reasoning:rs_1", "message:msg_1"]
    assert _cut_short(message, {"type": "reasoning", "id": "rs_2"}) == ["message:msg_1"]  # no trailing reasoning
    # A call was never shown or run: it goes, and so does the reasoning that led to it, not to the message.
    assert _cut_short(reasoning, call, message) == ["message:msg_1"]
    # A checkpoint applies only at response.completed: nothing from it on is kept.
    assert _cut_short(message, {"type": "compaction", "id": "cmp_1"}, {**message, "id": "msg_2"}) == ["message:msg_1"]


async def test_an_event_arriving_as_a_steer_cancels_the_wait_is_dropped_never_half_handled() -> None:
    class Turn:  # handling the event would need a real turn: the stub fails loudly if it is handled
        pending_inputs = [object()]
        waiting_upstream = True
        sampling: anyio.CancelScope | None = None

    async def upstream() -> AsyncIterator[OutputItemDone]:
        yield OutputItemDone(item={"type": "message", "id": "msg_1", "role": "assistant",
                                   "content": [{"type": "output_text", "text": "arrived as the steer cancelled"}]})

    turn = Turn()
    with anyio.CancelScope() as scope:
        turn.sampling = scope
        scope.cancel()  # the steer's cancel: still pending when the turn task resumes with the event
        result = await _consume(_Attempt(turn), upstream())  # type: ignore[arg-type]
    assert result is None and turn.waiting_upstream is False


async def test_a_steer_during_a_retry_pause_ends_the_pause_and_goes_out_at_once(tmp_path: Path) -> None:
    with Simulator() as sim:
        # A retryable failure that asks for a 60 s pause: waiting it out would blow the test's bound.
        sim.enqueue(Reply(output=[], end="failed", error_message="Rate limited. Please try again in 60s."),
                    Reply.text("Heard you."))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": _text("hi")}))["turn"]["id"]
            events: list[dict[str, Any]] = []
            with anyio.fail_after(20):
                async for event in h.client.turn_events(turn_id):
                    events.append(event)
                    if event["method"] == "error" and event["params"]["willRetry"]:
                        await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": turn_id,
                                                              "input": _text("still there?")})
            assert events[-1]["params"]["turn"]["status"] == "completed"
    assert _shape(sim.requests[-1].body) == ["user:hi", "user:still there?"]


async def test_a_wait_begun_with_input_already_steered_in_ends_at_once() -> None:
    class Turn:  # steered while a failure was being handled, before the retry's pause began
        pending_inputs = [object()]
        waiting_upstream = False
        sampling: anyio.CancelScope | None = None

    turn = Turn()
    with anyio.fail_after(5):
        with _preemptible(turn):  # type: ignore[arg-type]
            await anyio.sleep(60)  # a server's "try again in 60s"
    assert turn.sampling is None and turn.waiting_upstream is False



class _TurnsStarted:
    """The ids of the turns the client sees start, in order (a compaction's turn has no other way to be named)."""

    def __init__(self, h: Any) -> None:
        self.ids: list[str] = []
        self._more = anyio.Event()
        h.client.on_message = self._see

    def _see(self, message: dict[str, Any]) -> None:
        if message.get("method") == "turn/started":
            self.ids.append(message["params"]["turn"]["id"])
            self._more.set()
            self._more = anyio.Event()

    async def nth(self, n: int) -> str:
        while len(self.ids) <= n:
            await self._more.wait()
        return self.ids[n]


async def test_a_turn_a_compaction_interrupts_before_it_begins_keeps_its_input(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("one"), Reply.text("the summary"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": _text("hi")})
            started = _TurnsStarted(h)
            answers: dict[str, Any] = {}

            async def start() -> None:
                answers["turn"] = (await h.client.request(
                    "turn/start", {"threadId": thread_id, "input": _text("PLEASE KEEP ME")}))["turn"]

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:  # pipelined: the compaction interrupts the new turn
                    tg.start_soon(start)
                    await anyio.lowlevel.checkpoint()
                    assert await h.client.request("thread/compact/start", {"threadId": thread_id}) == {}
                events = [e async for e in h.client.turn_events(answers["turn"]["id"])]
                _ = [e async for e in h.client.turn_events(await started.nth(1))]  # the compaction's turn
            assert [e["method"] for e in events] == ["turn/started", "item/started", "item/completed", "turn/completed"]
            assert events[-1]["params"]["turn"]["status"] == "interrupted"
            shown = [e["params"]["item"]["content"][0]["text"] for e in events
                     if e["method"] == "item/completed" and e["params"]["item"]["type"] == "userMessage"]
            assert shown == ["PLEASE KEEP ME"]
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert [_item_texts(t) for t in read["thread"]["turns"][:2]] == [["hi"], ["PLEASE KEEP ME"]]
        assert _user_texts(sim.requests[1].body)[:2] == ["hi", "PLEASE KEEP ME"]  # the compaction summed it up


async def test_a_resumed_thread_whose_first_turn_is_interrupted_before_it_begins_keeps_its_input(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("one"), Reply.text("the summary"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": _text("hi")})
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})  # history not read
            started = _TurnsStarted(h)
            ids: list[str] = []

            async def start(text: str) -> None:
                ids.append((await h.client.request("turn/start", {"threadId": thread_id, "input": _text(text)}))
                           ["turn"]["id"])

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:  # pipelined: the compaction interrupts the new turn
                    tg.start_soon(start, "FIRST")
                    await anyio.lowlevel.checkpoint()
                    tg.start_soon(start, "JOINED")
                    await anyio.lowlevel.checkpoint()
                    assert await h.client.request("thread/compact/start", {"threadId": thread_id}) == {}
                assert len(set(ids)) == 1  # the second joined the first
                events = [e async for e in h.client.turn_events(ids[0])]
                _ = [e async for e in h.client.turn_events(await started.nth(1))]  # the compaction's turn
            assert events[-1]["params"]["turn"]["status"] == "interrupted"
            assert (await h.client.request("thread/loaded/list", {}))["data"] == [thread_id]  # its actor lives on
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert [_item_texts(t) for t in read["thread"]["turns"][:2]] == [["hi"], ["FIRST", "JOINED"]]
        assert _user_texts(sim.requests[1].body)[:3] == ["hi", "FIRST", "JOINED"]  # the compaction summed them up

