"""Interrupts at awkward moments and client tools that misbehave, in memory against the simulator.

`turn/interrupt` with a stale or wrong id answers an error at once and never touches the newer turn; an
interrupt during a stall answers, then `thread/status/changed {idle}`, then `turn/completed {interrupted}`.
A client tool (`dynamicTools`) answered with an error, with garbage or never leaves a consistent thread; an
unknown tool and invalid arguments go back to the model as error outputs and never reach the client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from protocol.client import RpcFailure
from server.simulator import FunctionCall, Gate, Reply, Simulator, Text
from tests.faults.conftest import SimConfig
from tests.faults.support import (
    LOOKUP_TOOL,
    assert_calls_paired,
    assert_persisted_as_seen,
    assert_serves_next_turn,
    completed_items,
    interrupt,
    new_thread,
    read_turns,
    run,
    start_turn,
    text_input,
)
from tests.harness import SIM_ENV, Harness, running_server

pytestmark = pytest.mark.anyio

Message = dict[str, Any]


async def _turn_waiting_on_the_tool(h: Harness, handler: Any, asked: anyio.Event) -> tuple[str, str]:
    """A new thread with the lookup tool whose first turn ("look") has asked ``handler`` to run it: (thread, turn)."""
    h.client.handlers["item/tool/call"] = handler
    thread_id = await new_thread(h.client, dynamicTools=[LOOKUP_TOOL])
    turn_id = await start_turn(h.client, thread_id, "look")
    with anyio.fail_after(10):
        await asked.wait()
    return thread_id, turn_id


async def test_interrupt_with_a_stale_or_wrong_turn_id_errors_at_once_and_spares_the_running_turn(
        tmp_path: Path, sim_config: SimConfig) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("first"), Reply(output=[Text("second answer", 3)], stall_after=4, gate=gate))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            first, _ = await run(h.client, thread_id, "one")
            started = await h.client.request("turn/start", {"threadId": thread_id, "input": text_input("two")})
            second = started["turn"]["id"]
            assert await gate.wait_reached_async(10)
            for stale in (first["id"], "01a211f7-0000-7000-8000-000000000000"):
                with anyio.fail_after(2):
                    with pytest.raises(RpcFailure) as refused:
                        await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": stale})
                assert refused.value.code == -32600, (stale, refused.value.message)
                assert refused.value.message == f"expected active turn id {stale} but found {second}"
            gate.release()
            events = [e async for e in h.client.turn_events(second, timeout=20)]
            assert events[-1]["params"]["turn"]["status"] == "completed"
            assert completed_items(events)[-1]["text"] == "second answer"
            with anyio.fail_after(2), pytest.raises(RpcFailure, match="no active turn to interrupt"):
                await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": second})
            assert [t["status"] for t in await read_turns(h.client, thread_id)] == ["completed", "completed"]


async def test_interrupt_during_a_stall_answers_then_goes_idle_then_completes_interrupted(tmp_path: Path, sim_config: SimConfig) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("never finished here", 4)], stall_after=6, gate=gate))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn_id = await start_turn(h.client, thread_id, "wait")
            assert await gate.wait_reached_async(10)
            events = await interrupt(h.client, thread_id, turn_id)
            gate.release()
            final = events[-1]["params"]["turn"]
            assert final["status"] == "interrupted" and final["error"] is None
            assert final["items"] == [] and final["itemsView"] == "notLoaded"  # as Codex: no answer to carry
            # Order on the wire: the interrupt response, thread/status/changed idle, turn/completed.
            seen = h.witness.seen
            answer = next(i for i, m in enumerate(seen) if "result" in m and
                          h.witness.sent_methods.get(m["id"]) == "turn/interrupt")
            idle = [i for i, m in enumerate(seen) if m.get("method") == "thread/status/changed"
                    and m["params"]["status"]["type"] == "idle"]
            done = next(i for i, m in enumerate(seen) if m.get("method") == "turn/completed")
            assert answer < idle[-1] < done
            await assert_persisted_as_seen(h.client, thread_id, final, events)
            await assert_serves_next_turn(h.client, sim, thread_id)


async def test_an_interrupted_message_completes_with_the_text_its_deltas_showed(tmp_path: Path, sim_config: SimConfig) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("never finished here", 4)], stall_after=6, gate=gate))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn_id = await start_turn(h.client, thread_id, "wait")
            assert await gate.wait_reached_async(10)
            events = await interrupt(h.client, thread_id, turn_id)
            gate.release()
            deltas = "".join(e["params"]["delta"] for e in events if e["method"] == "item/agentMessage/delta")
            assert deltas == "never fini"
            message = completed_items(events)[-1]
            (stored,) = [i for t in await read_turns(h.client, thread_id) for i in t["items"]
                         if i["type"] == "agentMessage"]
            assert message["text"] == deltas and stored["text"] == deltas


# -- client tools --------------------------------------------------------------------------------------------


async def _tool_turn(h: Any, sim: Simulator, thread_id: str) -> tuple[Message, list[Message]]:
    sim.enqueue(Reply(output=[FunctionCall("lookup", '{"q": "word"}', call_id="call_w")]),
                Reply.text("Answered after the tool."))
    return await run(h.client, thread_id, "look it up")


def _tool_output(sim: Simulator, call_id: str) -> Any:
    body = sim.requests[-1].body
    assert_calls_paired(body["input"])
    return next(e["output"] for e in body["input"] if e.get("type") == "function_call_output"
                and e["call_id"] == call_id)


@pytest.mark.parametrize("answer", ["error", "garbage"])
async def test_a_client_tool_answered_with_an_error_or_garbage_fails_the_call_and_the_turn_goes_on(
        tmp_path: Path, sim_config: SimConfig, answer: str) -> None:
    async def misbehave(message: Message) -> Any:
        if answer == "error":
            raise RuntimeError("the tool crashed")
        return {"nonsense": True}

    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = misbehave
            thread_id = await new_thread(h.client, dynamicTools=[LOOKUP_TOOL])
            turn, events = await _tool_turn(h, sim, thread_id)
            assert turn["status"] == "completed"
            tool = next(i for i in completed_items(events) if i["type"] == "dynamicToolCall")
            assert tool["status"] == "failed" and tool["success"] is False
            output = _tool_output(sim, "call_w")
            assert "the tool crashed" in str(output) if answer == "error" else "not a tool result" in str(output)
            assert completed_items(events)[-1]["text"] == "Answered after the tool."
            resolved = await h.client.next_global("serverRequest/resolved")
            assert resolved["threadId"] == thread_id
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await assert_serves_next_turn(h.client, sim, thread_id)


async def test_a_client_tool_that_never_answers_is_interrupted_and_a_late_answer_is_ignored(tmp_path: Path, sim_config: SimConfig) -> None:
    asked = anyio.Event()
    let_go = anyio.Event()

    async def never(message: Message) -> Any:
        asked.set()
        await let_go.wait()
        return {"contentItems": [{"type": "inputText", "text": "too late"}], "success": True}

    with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", '{"q": "word"}', call_id="call_w")]))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id, turn_id = await _turn_waiting_on_the_tool(h, never, asked)
            events = await interrupt(h.client, thread_id, turn_id)
            final = events[-1]["params"]["turn"]
            assert final["status"] == "interrupted"
            await h.client.next_global("serverRequest/resolved")
            let_go.set()  # the client answers after the turn ended: the daemon must shrug it off
            await assert_persisted_as_seen(h.client, thread_id, final, events)
            body = await assert_serves_next_turn(h.client, sim, thread_id)
            outputs = [e["output"] for e in body["input"] if e.get("type") == "function_call_output"]
            assert outputs == ["aborted"]


async def test_an_interrupted_client_tool_call_is_not_left_in_progress(tmp_path: Path, sim_config: SimConfig) -> None:
    asked = anyio.Event()
    never_set = anyio.Event()

    async def never(message: Message) -> Any:
        asked.set()
        await never_set.wait()

    with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", '{"q": "word"}', call_id="call_w")]))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id, turn_id = await _turn_waiting_on_the_tool(h, never, asked)
            events = await interrupt(h.client, thread_id, turn_id)
            tool = next(i for i in completed_items(events) if i["type"] == "dynamicToolCall")
            (stored,) = [i for t in await read_turns(h.client, thread_id) for i in t["items"]
                         if i["type"] == "dynamicToolCall"]
            assert tool["status"] != "inProgress" and stored["status"] != "inProgress"


@pytest.mark.parametrize("call", [
    FunctionCall("no_such_tool", '{"q": "word"}', call_id="call_x"),
    FunctionCall("lookup", '{"q": 5}', call_id="call_x"),
    FunctionCall("lookup", '{"q": "word", "extra": 1}', call_id="call_x"),
    FunctionCall("lookup", '{"q": ', call_id="call_x"),
], ids=["unknown tool", "wrong type", "extra property", "not json"])
async def test_a_bad_tool_call_goes_back_to_the_model_as_an_error_and_never_reaches_the_client(
        tmp_path: Path, sim_config: SimConfig, call: FunctionCall) -> None:
    asked: list[Message] = []

    async def record(message: Message) -> Any:
        asked.append(message)
        return {"contentItems": [{"type": "inputText", "text": "ok"}], "success": True}

    with Simulator() as sim:
        sim.enqueue(Reply(output=[call]), Reply.text("Recovered from the bad call."))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = record
            thread_id = await new_thread(h.client, dynamicTools=[LOOKUP_TOOL])
            turn, events = await run(h.client, thread_id, "use a tool")
            assert turn["status"] == "completed" and asked == []
            assert str(_tool_output(sim, "call_x")).startswith("error:")
            assert completed_items(events)[-1]["text"] == "Recovered from the bad call."
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await assert_serves_next_turn(h.client, sim, thread_id)


async def test_a_waiting_tool_call_is_sent_again_under_its_id_to_a_client_that_resumes_the_thread(
        tmp_path: Path, sim_config: SimConfig) -> None:
    asked: list[Message] = []
    first_asked, second_asked, answer_now = anyio.Event(), anyio.Event(), anyio.Event()

    async def lose_the_first_then_answer(message: Message) -> Any:
        asked.append(message)
        if len(asked) == 1:
            first_asked.set()
            await anyio.sleep_forever()  # e.g. the window that got it was reloaded: never answered
        second_asked.set()
        await answer_now.wait()
        return {"contentItems": [{"type": "inputText", "text": "found"}], "success": True}

    with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", '{"q": "word"}', call_id="call_w")]),
                    Reply.text("Answered after the tool."))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id, turn_id = await _turn_waiting_on_the_tool(h, lose_the_first_then_answer, first_asked)
            await h.client.request("thread/resume", {"threadId": thread_id})
            with anyio.fail_after(10):
                await second_asked.wait()
            assert asked[1]["id"] == asked[0]["id"] and asked[1]["params"] == asked[0]["params"]
            seen = h.witness.seen  # the replay follows the resume answer, as in Codex
            resumed = next(i for i, m in enumerate(seen) if "result" in m and
                           h.witness.sent_methods.get(m["id"]) == "thread/resume")
            replayed = [i for i, m in enumerate(seen) if m.get("method") == "item/tool/call"]
            assert len(replayed) == 2 and replayed[0] < resumed < replayed[1]
            answer_now.set()
            events = [e async for e in h.client.turn_events(turn_id, timeout=20)]
            assert events[-1]["params"]["turn"]["status"] == "completed"
            assert completed_items(events)[-1]["text"] == "Answered after the tool."
            assert _tool_output(sim, "call_w") == "found"
            resolved = [m for m in seen if m.get("method") == "serverRequest/resolved"]
            assert [m["params"]["requestId"] for m in resolved] == [asked[0]["id"]]


async def test_a_tool_call_on_a_thread_nobody_is_subscribed_to_fails_at_once_and_the_turn_goes_on(
        tmp_path: Path, sim_config: SimConfig) -> None:
    asked: list[Message] = []

    async def record(message: Message) -> Any:
        asked.append(message)
        return {"contentItems": [], "success": True}

    with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", '{"q": "word"}', call_id="call_w")]),
                    Reply.text("Answered without the tool."))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = record
            thread_id = await new_thread(h.client, dynamicTools=[LOOKUP_TOOL])
            assert await h.client.request("thread/unsubscribe", {"threadId": thread_id}) == {"status": "unsubscribed"}
            turn_id = await start_turn(h.client, thread_id, "look it up")
            await h.client.next_global("thread/status/changed", timeout=10,  # status changes reach every client
                                       where=lambda p: p["threadId"] == thread_id and p["status"]["type"] == "idle")
            (turn,) = await read_turns(h.client, thread_id)
            assert (turn["id"], turn["status"]) == (turn_id, "completed") and asked == []
            tool = next(i for i in turn["items"] if i["type"] == "dynamicToolCall")
            assert tool["status"] == "failed" and tool["success"] is False
            assert "no client is subscribed" in _tool_output(sim, "call_w")
            assert not any(m.get("method") == "serverRequest/resolved" for m in h.witness.seen)  # nothing was asked
