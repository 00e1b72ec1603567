"""Steer, interrupt and joining a running turn; persistence and replay across turns and restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from protocol.client import RpcFailure
from server.sessions import ops
from server.sessions.actor import ThreadSession
from server.simulator import Gate, Reasoning, Reply, Simulator, Text
from tests.harness import SIM_ENV, running_server, sim_overrides

pytestmark = pytest.mark.anyio

HI = [{"type": "text", "text": "hi"}]


def _text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": value}]


async def test_interrupt_answers_then_idle_then_turn_completed_interrupted(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("one two three four", 4)], stall_after=3, gate=gate))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            order: list[str] = []
            previous = h.client.on_message

            def record(message: dict[str, Any]) -> None:
                previous(message)  # type: ignore[misc]
                order.append(message.get("method") or f"response:{message.get('id')}")

            h.client.on_message = record
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
            assert await gate.wait_reached_async(10)
            assert await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id}) == {}
            events = [e async for e in h.client.turn_events(turn_id)]
            gate.release()
            final = events[-1]["params"]["turn"]
            assert final["status"] == "interrupted" and final["error"] is None
            ending = [m if not m.startswith("response:") else "response" for m in order
                      if m.startswith("response:") or m in ("thread/status/changed", "turn/completed")]
            assert ending[-3:] == ["response", "thread/status/changed", "turn/completed"]
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert read["thread"]["turns"][0]["status"] == "interrupted"


async def test_interrupting_a_finished_or_unknown_turn_is_refused_at_once(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            with pytest.raises(RpcFailure, match="no active turn to interrupt"):
                await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": "nope"}, timeout=5)
            first, _ = await h.client.run_turn({"threadId": thread_id, "input": HI})
            with pytest.raises(RpcFailure, match="no active turn to interrupt"):
                await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": first["id"]}, timeout=5)


async def test_an_interrupt_once_the_turn_has_ended_otherwise_is_refused_while_its_ending_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writing, finish_writing = anyio.Event(), anyio.Event()
    persist = ThreadSession.persist

    async def slow_final_write(self: ThreadSession, batch: Any) -> None:
        if any(getattr(op, "status", None) == "completed" for op in batch.ops):
            writing.set()  # the body has stopped and the turn's status is decided
            await finish_writing.wait()
        await persist(self, batch)

    monkeypatch.setattr(ThreadSession, "persist", slow_final_write)
    with Simulator() as sim:
        sim.enqueue(Reply.text("the answer"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
            with anyio.fail_after(10):
                await writing.wait()
            with pytest.raises(RpcFailure, match="no active turn to interrupt"):  # at once, not after the ending
                await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id}, timeout=5)
            finish_writing.set()
            events = [e async for e in h.client.turn_events(turn_id)]
            assert events[-1]["params"]["turn"]["status"] == "completed"


async def test_a_repeated_interrupt_is_answered_too_and_the_turn_still_ends_once(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("one two three four", 4)], stall_after=3, gate=gate))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
            assert await gate.wait_reached_async(10)
            answers: list[Any] = []

            async def interrupt() -> None:
                params = {"threadId": thread_id, "turnId": turn_id}
                answers.append(await h.client.request("turn/interrupt", params, timeout=5))

            async with anyio.create_task_group() as tg:  # as a client that retries an interrupt it thinks was lost
                tg.start_soon(interrupt)
                tg.start_soon(interrupt)
            gate.release()
            events = [e async for e in h.client.turn_events(turn_id)]
            assert answers == [{}, {}]
            assert [e["params"]["turn"]["status"] for e in events if e["method"] == "turn/completed"] == ["interrupted"]
            with pytest.raises(RpcFailure, match="no active turn to interrupt"):
                await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id}, timeout=5)


async def test_a_turn_started_behind_an_interrupted_one_announces_itself_only_after_that_ones_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interrupt_answered = anyio.Event()
    real_interrupt = ops.interrupt_turn

    async def interrupt_answered_late(*args: Any) -> Any:  # as when the answer waits behind other output
        release = await real_interrupt(*args)

        async def later() -> None:
            await interrupt_answered.wait()
            await release()

        return later

    monkeypatch.setattr(ops, "interrupt_turn", interrupt_answered_late)
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("one two three four", 4)], stall_after=3, gate=gate), Reply.text("next"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            first = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
            assert await gate.wait_reached_async(10)
            order: list[tuple[str, Any]] = []
            previous = h.client.on_message

            def record(message: dict[str, Any]) -> None:
                previous(message)  # type: ignore[misc]
                params = message.get("params") or {}
                order.append((message.get("method", "response"), params.get("turn", {}).get("id")
                              or params.get("status", {}).get("type")))

            h.client.on_message = record
            assert await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": first}) == {}
            second = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
            interrupt_answered.set()
            events = [e async for e in h.client.turn_events(second)]
            gate.release()
            assert events[-1]["params"]["turn"]["status"] == "completed"
            ending = order.index(("turn/completed", first))
            assert order[ending - 1] == ("thread/status/changed", "idle")
            assert order[ending + 1:ending + 3] == [("thread/status/changed", "active"), ("turn/started", second)]


async def test_a_stale_turn_id_never_interrupts_the_newer_turn(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("first answer"), Reply(output=[Text("second answer", 2)], stall_after=2, gate=gate))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            old, _ = await h.client.run_turn({"threadId": thread_id, "input": HI})
            new_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
            assert await gate.wait_reached_async(10)
            with pytest.raises(RpcFailure) as failure:
                await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": old["id"]}, timeout=5)
            assert failure.value.message == f"expected active turn id {old['id']} but found {new_id}"
            gate.release()
            events = [e async for e in h.client.turn_events(new_id)]
            assert events[-1]["params"]["turn"]["status"] == "completed"


async def test_steered_input_joins_the_running_turn_before_its_next_request(tmp_path: Path) -> None:
    gate, second_gate = Gate(), Gate()  # the steer cuts the first response short; the second waits for the join
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("working on it", 2)], stall_after=2, gate=gate),
                    Reply(output=[Text("done, with the tests", 2)], stall_after=2, gate=second_gate),
                    Reply.text("done, with tests and docs"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
            assert await gate.wait_reached_async(10)
            with pytest.raises(RpcFailure) as wrong:
                await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": "other", "input": HI})
            assert wrong.value.message == f"expected active turn id `other` but found `{turn_id}`"
            with pytest.raises(RpcFailure, match="input must not be empty"):  # as Codex refuses it
                await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": turn_id, "input": []})
            steered = await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": turn_id,
                                                            "input": _text("also add tests")})
            assert steered == {"turnId": turn_id}
            assert await second_gate.wait_reached_async(10)
            joined = await h.client.request("turn/start", {"threadId": thread_id, "input": _text("and docs")})
            assert joined["turn"]["id"] == turn_id
            gate.release()
            second_gate.release()
            events = [e async for e in h.client.turn_events(turn_id)]
            users = [e["params"]["item"]["content"][0]["text"] for e in events
                     if e["method"] == "item/completed" and e["params"]["item"]["type"] == "userMessage"]
            assert users == ["hi", "also add tests", "and docs"]
            assert events[-1]["params"]["turn"]["status"] == "completed"
            assert events[-1]["params"]["turn"]["items"][0]["text"] == "done, with tests and docs"
        assert len(sim.requests) == 3  # each input cut the response in flight short and went out at once
        second_input = sim.requests[-1].body["input"]
        texts = [c["text"] for i in second_input if i.get("role") == "user" for c in i["content"]]
        assert texts[-2:] == ["also add tests", "and docs"]
    async with running_server(tmp_path, overrides=sim_overrides("http://127.0.0.1:9"), env=SIM_ENV) as h:
        await h.client.request("thread/resume", {"threadId": thread_id})
        with pytest.raises(RpcFailure, match="no active turn to steer"):
            await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": turn_id, "input": HI})


async def test_history_and_encrypted_reasoning_are_replayed_after_a_restart(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Reasoning(encrypted_content="gAAA-secret-thoughts"), Text("first answer")]),
                    Reply.text("second answer"))
        overrides = sim_overrides(sim.base_url)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": _text("question one")})
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            usage_seen = h.on_arrival("thread/tokenUsage/updated")
            resumed = await h.client.request("thread/resume", {"threadId": thread_id})
            turns = resumed["thread"]["turns"]
            # As Codex: after the resume answer, the thread's token usage so far, under its last turn.
            with anyio.fail_after(5):
                await usage_seen.wait()
            seen = h.witness.seen
            answer = next(i for i, m in enumerate(seen) if h.witness.sent_methods.get(m.get("id")) == "thread/resume")
            [usage] = [m["params"] for m in seen[answer:] if m.get("method") == "thread/tokenUsage/updated"]
            assert usage["turnId"] == turns[-1]["id"] and usage["tokenUsage"]["total"]["totalTokens"] > 0
            assert [t["status"] for t in turns] == ["completed"]
            assert [i["type"] for i in turns[0]["items"]] == ["userMessage", "reasoning", "agentMessage"]
            await h.client.run_turn({"threadId": thread_id, "input": _text("question two")})
            listed = await h.client.request("thread/list", {})
            assert [t["id"] for t in listed["data"]] == [thread_id]
            assert listed["data"][0]["preview"] == "question one"
        body = sim.requests[-1].body
        kinds = [(i["type"], i.get("role")) for i in body["input"]]
        assert kinds == [("message", "user"), ("reasoning", None), ("message", "assistant"), ("message", "user")]
        assert body["input"][1]["encrypted_content"] == "gAAA-secret-thoughts"


async def test_a_client_tool_call_round_trips_and_the_turn_continues(tmp_path: Path) -> None:
    tool = {"type": "function", "name": "lookup", "description": "Look a word up.",
            "inputSchema": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}}
    with Simulator() as sim:
        sim.enqueue(Reply.tool_call("lookup", '{"word": "anyio"}', call_id="call_1"), Reply.text("anyio is a library"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            calls: list[dict[str, Any]] = []

            async def answer(message: dict[str, Any]) -> dict[str, Any]:
                calls.append(message["params"])
                return {"contentItems": [{"type": "inputText", "text": "an async library"}], "success": True}

            h.client.handlers["item/tool/call"] = answer
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [tool]}))["thread"]["id"]
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": HI})
            assert turn["status"] == "completed"
            assert calls == [{"threadId": thread_id, "turnId": turn["id"], "callId": "call_1", "tool": "lookup",
                              "namespace": None, "arguments": {"word": "anyio"}}]
            done = [e["params"]["item"] for e in events if e["method"] == "item/completed"
                    and e["params"]["item"]["type"] == "dynamicToolCall"]
            assert done[0]["status"] == "completed" and done[0]["success"] is True
            # Codex's order: the call runs to completion, then the response's token usage is announced.
            order = [(e["method"], e["params"].get("item", {}).get("type")) for e in events]
            tool_done = order.index(("item/completed", "dynamicToolCall"))
            assert order.index(("item/started", "dynamicToolCall")) < tool_done
            assert tool_done < order.index(("thread/tokenUsage/updated", None))
            resolved = await h.client.next_global("serverRequest/resolved")
            assert resolved["threadId"] == thread_id
        follow_up = sim.requests[-1].body["input"]
        assert follow_up[-1] == {"type": "function_call_output", "call_id": "call_1", "output": "an async library"}
        assert sim.requests[0].body["tools"][0]["name"] == "lookup"


async def test_an_output_schema_is_sent_upstream_and_a_mismatching_answer_fails_the_turn(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    with Simulator() as sim:
        sim.enqueue(Reply.text('{"ok": true}'), Reply.text("not json at all"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            good, _ = await h.client.run_turn({"threadId": thread_id, "input": HI, "outputSchema": schema})
            assert good["status"] == "completed"
            bad, _ = await h.client.run_turn({"threadId": thread_id, "input": HI, "outputSchema": schema})
            assert bad["status"] == "failed" and "outputSchema" in bad["error"]["message"]
            with pytest.raises(RpcFailure) as invalid:
                await h.client.request("turn/start", {"threadId": thread_id, "input": HI,
                                                      "outputSchema": {"type": 12}})
            assert invalid.value.code == -32602
        assert sim.requests[0].body["text"]["format"]["schema"] == schema


async def test_turn_start_on_a_thread_that_is_not_loaded_says_thread_not_found(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        missing = "0198c6a0-0000-7000-8000-000000000001"
        with pytest.raises(RpcFailure) as failure:
            await h.client.request("turn/start", {"threadId": missing, "input": HI})
        assert failure.value.message == f"thread not found: {missing}"
        await anyio.sleep(0)


async def test_a_turn_start_right_behind_an_interrupt_announces_its_new_settings_after_the_interrupted_turns_end(
        tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("one two three four", 4)], stall_after=3, gate=gate), Reply.text("next"))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            first = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
            assert await gate.wait_reached_async(10)
            order: list[str] = []
            previous = h.client.on_message

            def record(message: dict[str, Any]) -> None:
                previous(message)  # type: ignore[misc]
                order.append(message.get("method", "response"))

            h.client.on_message = record
            answers: list[Any] = []

            async def interrupt() -> None:
                answers.append(await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": first}))

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(interrupt)
                    await anyio.lowlevel.checkpoint()  # the interrupt goes first; neither is answered yet
                    second = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI,
                                                                    "model": "gpt-5.1-codex-mini"}))["turn"]["id"]
                events = [e async for e in h.client.turn_events(second)]
            gate.release()
            assert answers == [{}] and events[-1]["params"]["turn"]["status"] == "completed"
            assert order.index("turn/completed") < order.index("thread/settings/updated") < order.index("turn/started")
