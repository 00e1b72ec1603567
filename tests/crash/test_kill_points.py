"""SIGKILL at chosen moments, then a fresh daemon on the same home: what a reopened thread must show.

Decided here: a turn cut by a crash cannot go on, so once reopened it reads as `interrupted` (as a turn cut
by stdin EOF or snapshotted by a fork does), never `inProgress` forever; and the model-visible history a
crash leaves behind must still be one the Responses API accepts (every call answered).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from server.simulator import FunctionCall, Gate, Reply, Simulator, Text
from tests.faults.daemon import spawn_daemon
from tests.faults.support import (
    LOOKUP_TOOL,
    assert_serves_next_turn,
    new_thread,
    read_turns,
    run,
    start_turn,
    text_input,
)

pytestmark = pytest.mark.anyio

Message = dict[str, Any]


async def _killed_mid_stream(home: Path, sim: Simulator) -> tuple[str, str]:
    """SIGKILL lands once a turn has shown two deltas; returns (thread id, turn id)."""
    gate = Gate()
    sim.enqueue(Reply(output=[Text("an answer cut by a crash", 4)], stall_after=7, gate=gate))
    shown = 0
    try:
        async with spawn_daemon(home, sim.base_url) as daemon:
            thread_id = await new_thread(daemon.client)
            turn_id = await start_turn(daemon.client, thread_id, "go")
            assert await gate.wait_reached_async(10)
            async for event in daemon.client.turn_events(turn_id, timeout=10):
                if event["method"] == "item/agentMessage/delta":
                    shown += 1
                    if shown == 2:
                        break
            daemon.kill()
            await daemon.process.wait()
    finally:
        gate.release()  # the simulator's stalled handler thread may finish
    return thread_id, turn_id


async def test_a_reopened_thread_cut_mid_turn_still_reads_resumes_and_runs(tmp_path: Path) -> None:
    async with Simulator() as sim:
        thread_id, turn_id = await _killed_mid_stream(tmp_path / "home", sim)
        async with spawn_daemon(tmp_path / "home", sim.base_url) as fresh:
            (turn,) = await read_turns(fresh.client, thread_id)
            assert turn["id"] == turn_id and turn["status"] == "interrupted"
            resumed = await fresh.client.request("thread/resume", {"threadId": thread_id})
            assert resumed["thread"]["status"]["type"] != "active"
            await assert_serves_next_turn(fresh.client, sim, thread_id)
            turns = await read_turns(fresh.client, thread_id)
            assert [t["id"] for t in turns][0] == turn_id and turns[-1]["status"] == "completed"


async def test_the_user_message_of_a_turn_cut_by_sigkill_survives(tmp_path: Path) -> None:
    async with Simulator() as sim:
        thread_id, _ = await _killed_mid_stream(tmp_path / "home", sim)
        async with spawn_daemon(tmp_path / "home", sim.base_url) as fresh:
            (turn,) = await read_turns(fresh.client, thread_id)
            assert [i["type"] for i in turn["items"]][:1] == ["userMessage"]
            await fresh.client.request("thread/resume", {"threadId": thread_id})
            body = await assert_serves_next_turn(fresh.client, sim, thread_id)
            assert body["input"][0]["content"][0]["text"] == "go"


async def test_a_turn_cut_by_sigkill_reads_as_interrupted_after_reopen(tmp_path: Path) -> None:
    async with Simulator() as sim:
        thread_id, turn_id = await _killed_mid_stream(tmp_path / "home", sim)
        async with spawn_daemon(tmp_path / "home", sim.base_url) as fresh:
            (turn,) = await read_turns(fresh.client, thread_id)
            assert turn["status"] == "interrupted"
            await fresh.client.request("thread/resume", {"threadId": thread_id})
            await run(fresh.client, thread_id, "next")
            assert (await read_turns(fresh.client, thread_id))[0]["status"] == "interrupted"


async def test_a_tool_call_cut_by_sigkill_leaves_a_history_the_api_accepts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("Let me look.", 2), FunctionCall("lookup", '{"q": "x"}', call_id="call_k")]))
        async with spawn_daemon(home, sim.base_url) as daemon:
            asked = anyio.Event()

            async def crash_instead_of_answering(message: Message) -> Any:
                daemon.kill()
                asked.set()
                await anyio.sleep_forever()

            daemon.client.handlers["item/tool/call"] = crash_instead_of_answering
            thread_id = await new_thread(daemon.client, dynamicTools=[LOOKUP_TOOL])
            await daemon.client.request("turn/start", {"threadId": thread_id, "input": text_input("look")})
            with anyio.fail_after(10):
                await asked.wait()
            await daemon.process.wait()
        async with spawn_daemon(home, sim.base_url) as fresh:
            await fresh.client.request("thread/resume", {"threadId": thread_id})
            await assert_serves_next_turn(fresh.client, sim, thread_id)  # asserts every call has its output


async def test_sigkill_mid_response_keeps_every_item_the_client_saw_complete_and_none_it_saw_streaming(
        tmp_path: Path) -> None:
    # Items are written before they are announced: a reopened thread shows what a client reconnecting before the
    # crash would have read, the turn as an interrupt at that moment would have left it.
    home, gate = tmp_path / "home", Gate()
    async with Simulator() as sim:
        # Events: 1-2 response, 3-8 the first message, 9-10 the second's start, 11-12 two of its deltas.
        sim.enqueue(Reply(output=[Text("first message done", 1), Text("second message", 4)], stall_after=12,
                          gate=gate))
        seen: list[Message] = []
        try:
            async with spawn_daemon(home, sim.base_url) as daemon:
                thread_id = await new_thread(daemon.client)
                turn_id = await start_turn(daemon.client, thread_id, "go")
                async for event in daemon.client.turn_events(turn_id, timeout=10):
                    seen.append(event)
                    if sum(e["method"] == "item/agentMessage/delta" for e in seen) == 3:
                        break
                daemon.kill()
                await daemon.process.wait()
        finally:
            gate.release()
        announced = [e["params"]["item"] for e in seen if e["method"] == "item/completed"]
        assert [i["type"] for i in announced] == ["userMessage", "agentMessage"]
        async with spawn_daemon(home, sim.base_url) as fresh:
            (stored,) = await read_turns(fresh.client, thread_id)
            assert (stored["status"], stored["items"]) == ("interrupted", announced)
            await fresh.client.request("thread/resume", {"threadId": thread_id})
            await assert_serves_next_turn(fresh.client, sim, thread_id)


async def test_sigkill_while_a_second_tool_call_waits_keeps_the_first_calls_answer_for_the_model(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", '{"q": "a"}', call_id="call_a"),
                                  FunctionCall("lookup", '{"q": "b"}', call_id="call_b")]))
        async with spawn_daemon(home, sim.base_url) as daemon:
            asked_b = anyio.Event()

            async def answer_a_then_crash(message: Message) -> Any:
                if message["params"]["callId"] == "call_a":
                    return {"contentItems": [{"type": "inputText", "text": "a is 42"}], "success": True}
                daemon.kill()
                asked_b.set()
                await anyio.sleep_forever()

            daemon.client.handlers["item/tool/call"] = answer_a_then_crash
            thread_id = await new_thread(daemon.client, dynamicTools=[LOOKUP_TOOL])
            await daemon.client.request("turn/start", {"threadId": thread_id, "input": text_input("look")})
            with anyio.fail_after(10):
                await asked_b.wait()
            await daemon.process.wait()
        async with spawn_daemon(home, sim.base_url) as fresh:
            (stored,) = await read_turns(fresh.client, thread_id)
            assert [(i["type"], i.get("id"), i.get("status")) for i in stored["items"][1:]] == [
                ("dynamicToolCall", "call_a", "completed")]
            await fresh.client.request("thread/resume", {"threadId": thread_id})
            body = await assert_serves_next_turn(fresh.client, sim, thread_id)
        outputs = {e["call_id"]: e["output"] for e in body["input"] if e.get("type") == "function_call_output"}
        assert "a is 42" in str(outputs["call_a"])  # the client's answer, written with its completed item
        assert outputs["call_b"] == "aborted"


async def test_sigkill_right_after_turn_completed_keeps_the_whole_turn(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("Let me look.", 2), FunctionCall("lookup", '{"q": "x"}')]),
                    Reply.text("Found it.", deltas=3))
        async with spawn_daemon(home, sim.base_url) as daemon:
            async def answer(message: Message) -> Message:
                return {"contentItems": [{"type": "inputText", "text": "x is 42"}], "success": True}

            def kill_on_completion(message: Message) -> None:
                if message.get("method") == "turn/completed":
                    daemon.kill()

            daemon.client.handlers["item/tool/call"] = answer
            daemon.on_message = kill_on_completion
            thread_id = await new_thread(daemon.client, dynamicTools=[LOOKUP_TOOL])
            turn, events = await run(daemon.client, thread_id, "look")
            await daemon.process.wait()
        seen = [e["params"]["item"] for e in events if e["method"] == "item/completed"]
        async with spawn_daemon(home, sim.base_url) as fresh:
            (stored,) = await read_turns(fresh.client, thread_id)
            assert stored["status"] == "completed" and stored["items"] == seen
            assert [i["type"] for i in seen] == ["userMessage", "agentMessage", "dynamicToolCall", "agentMessage"]


async def test_sigkill_right_after_a_fork_answer_keeps_the_fork(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with Simulator() as sim:
        async with spawn_daemon(home, sim.base_url) as daemon:
            thread_id = await new_thread(daemon.client)
            await run(daemon.client, thread_id, "one")
            await daemon.client.request("thread/name/set", {"threadId": thread_id, "name": "before the crash"})

            def kill_on_fork_answer(message: Message) -> None:
                if "result" in message and isinstance(message["result"].get("thread"), dict):
                    daemon.kill()

            daemon.on_message = kill_on_fork_answer
            fork = (await daemon.client.request("thread/fork", {"threadId": thread_id}))["thread"]
            await daemon.process.wait()
        async with spawn_daemon(home, sim.base_url) as fresh:
            read = (await fresh.client.request("thread/read", {"threadId": fork["id"], "includeTurns": True}))
            assert read["thread"]["forkedFromId"] == thread_id
            assert [(t["status"], t["items"]) for t in read["thread"]["turns"]] == \
                [(t["status"], t["items"]) for t in fork["turns"]]
            source = (await fresh.client.request("thread/read", {"threadId": thread_id}))["thread"]
            assert source["name"] == "before the crash"
