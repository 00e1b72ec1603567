"""Faults through the real daemon subprocess: upstream errors over real pipes, a client that stops reading
stdout for a while, and stdin EOF in the middle of a turn.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from server.simulator import FunctionCall, Gate, HttpError, Reply, Simulator, Text
from tests.faults.daemon import spawn_daemon
from tests.faults.support import (
    LOOKUP_TOOL,
    assert_calls_paired,
    assert_persisted_as_seen,
    assert_serves_next_turn,
    check_turn_events,
    completed_items,
    new_thread,
    read_turns,
    run,
    text_input,
)

pytestmark = pytest.mark.anyio

# The length of the fault itself (how long the client ignores stdout), not a wait for anything: correctness
# must not depend on it.
SLOW_READER_PAUSE = 1.5


async def test_a_500_and_a_cut_stream_are_retried_through_a_real_subprocess(tmp_path: Path) -> None:
    async with Simulator() as sim:
        sim.enqueue(HttpError.server_error(), Reply(output=[Text("Complete answer.", 6)], cut_after=5),
                    Reply.text("Complete answer."))
        async with spawn_daemon(tmp_path / "home", sim.base_url, stderr=tmp_path / "stderr.log") as daemon:
            thread_id = await new_thread(daemon.client)
            turn, events = await run(daemon.client, thread_id, "hi")
            assert turn["status"] == "completed"
            # The 500 is retried silently, as Codex does; the cut stream is announced.
            assert [e["params"]["willRetry"] for e in events if e["method"] == "error"] == [True]
            assert completed_items(events)[-1]["text"] == "Complete answer."
            await assert_persisted_as_seen(daemon.client, thread_id, turn, events)
            await assert_serves_next_turn(daemon.client, sim, thread_id)


async def test_a_client_that_stops_reading_stdout_loses_nothing_and_keeps_the_order(tmp_path: Path) -> None:
    text = Text.words(4000)  # ~700 KB of notifications: far more than a pipe holds
    async with Simulator() as sim:
        sim.enqueue(Reply(output=[text]))
        async with spawn_daemon(tmp_path / "home", sim.base_url, stderr=tmp_path / "stderr.log") as daemon:
            thread_id = await new_thread(daemon.client)
            started = await daemon.client.request("turn/start", {"threadId": thread_id, "input": text_input("go")})
            daemon.pause_reading()
            paused_at = daemon.stdout_bytes
            async with anyio.create_task_group() as tg:
                answers: list[dict] = []

                async def ask_while_paused() -> None:
                    answers.append(await daemon.client.request("thread/loaded/list", {}, timeout=30))

                tg.start_soon(ask_while_paused)  # stdin must keep flowing while stdout is blocked
                await anyio.sleep(SLOW_READER_PAUSE)
                assert daemon.stdout_bytes - paused_at <= 65536, "still reading: at most the read in flight"
                daemon.resume_reading()
            assert answers and answers[0]["data"] == [thread_id]
            events = [e async for e in daemon.client.turn_events(started["turn"]["id"], timeout=60)]
            check_turn_events(events)
            deltas = [e["params"]["delta"] for e in events if e["method"] == "item/agentMessage/delta"]
            assert deltas == text.pieces(), "a delta was lost, duplicated or reordered"
            turn = events[-1]["params"]["turn"]
            assert turn["status"] == "completed"
            await assert_persisted_as_seen(daemon.client, thread_id, turn, events)
            await assert_serves_next_turn(daemon.client, sim, thread_id)


async def test_stdin_eof_mid_turn_ends_the_turn_persists_it_and_exits_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    gate = Gate()
    async with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("half of an answer", 4)], stall_after=6, gate=gate))
        async with spawn_daemon(home, sim.base_url, stderr=tmp_path / "stderr.log") as daemon:
            thread_id = await new_thread(daemon.client)
            started = await daemon.client.request("turn/start", {"threadId": thread_id, "input": text_input("go")})
            turn_id = started["turn"]["id"]
            assert await gate.wait_reached_async(10)
            await daemon.close_stdin()
            with anyio.fail_after(5):
                assert await daemon.process.wait() == 0
            await daemon.client.closed.wait()
        gate.release()
        async with spawn_daemon(home, sim.base_url, stderr=tmp_path / "stderr2.log") as fresh:
            (turn,) = await read_turns(fresh.client, thread_id)
            assert turn["id"] == turn_id and turn["status"] == "interrupted"
            assert turn["items"][0]["type"] == "userMessage"
            await fresh.client.request("thread/resume", {"threadId": thread_id})
            body = await assert_serves_next_turn(fresh.client, sim, thread_id)
            assert body["input"][0]["content"][0]["text"] == "go"


async def test_stdin_eof_while_the_client_has_stopped_reading_still_exits_and_keeps_what_streamed(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with Simulator() as sim:
        sim.enqueue(Reply(output=[Text.words(20_000)]))  # far more than the pipe and the outbox hold
        async with spawn_daemon(home, sim.base_url, stderr=tmp_path / "stderr.log") as daemon:
            thread_id = await new_thread(daemon.client)
            started = await daemon.client.request("turn/start", {"threadId": thread_id, "input": text_input("go")})
            daemon.pause_reading()
            await anyio.sleep(SLOW_READER_PAUSE)  # the fault: stdout backs up while the turn streams
            await daemon.close_stdin()
            with anyio.fail_after(15):  # bounded by the shutdown grace, not by the client
                await daemon.process.wait()
        async with spawn_daemon(home, sim.base_url, stderr=tmp_path / "stderr2.log") as fresh:
            (turn,) = await read_turns(fresh.client, thread_id)
    assert turn["id"] == started["turn"]["id"] and turn["status"] == "interrupted"
    kinds = [item["type"] for item in turn["items"]]
    assert kinds == ["userMessage", "agentMessage"]  # the text it had streamed was written before being shown
    assert turn["items"][1]["text"]


async def test_stdin_eof_while_a_client_tool_call_waits_sends_nothing_more_upstream(tmp_path: Path) -> None:
    home = tmp_path / "home"
    asked = anyio.Event()

    async def never(message: dict) -> None:
        asked.set()
        await anyio.sleep_forever()

    async with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", '{"q": "word"}', call_id="call_w")]))
        async with spawn_daemon(home, sim.base_url, stderr=tmp_path / "stderr.log") as daemon:
            daemon.client.handlers["item/tool/call"] = never
            thread_id = await new_thread(daemon.client, dynamicTools=[LOOKUP_TOOL])
            started = await daemon.client.request("turn/start", {"threadId": thread_id, "input": text_input("look")})
            with anyio.fail_after(10):
                await asked.wait()
            await daemon.close_stdin()
            with anyio.fail_after(10):
                assert await daemon.process.wait() == 0
        # Nobody is left to run the tool: the model is not told the tool failed and asked to go on.
        assert len(sim.requests) == 1
        async with spawn_daemon(home, sim.base_url, stderr=tmp_path / "stderr2.log") as fresh:
            (turn,) = await read_turns(fresh.client, thread_id)
            assert turn["id"] == started["turn"]["id"] and turn["status"] == "interrupted"
            await fresh.client.request("thread/resume", {"threadId": thread_id})
            body = await assert_serves_next_turn(fresh.client, sim, thread_id)
    assert_calls_paired(body["input"])
    assert [e["output"] for e in body["input"] if e.get("type") == "function_call_output"] == ["aborted"]
