"""Inline (server-side) compaction end to end: the flag, the checkpoint, its shape, atomicity and restarts."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from server.simulator import FunctionCall, Reply, Simulator, Text
from tests.harness import SIM_ENV, running_server

from .support import (
    LIMIT,
    TOOL,
    config,
    input_texts,
    input_types,
    items_completed,
    methods,
    of,
    responses_bodies,
    stored_checkpoints,
    text,
    tool_answer,
)

pytestmark = pytest.mark.anyio


async def test_with_the_flag_off_no_request_carries_context_management(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=config(sim, inline=True), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            modes = []
            for n in range(3):
                turn, events = await h.client.run_turn({"threadId": thread_id, "input": text(f"turn {n}", 3000)})
                assert turn["status"] == "completed"
                modes += [applied["mode"] for applied in of(events, "thread/compaction/applied")]
        assert all("context_management" not in body for body in responses_bodies(sim))
        assert modes and "inline" not in modes  # the thread still compacts, through the local path


async def test_with_the_flag_on_every_request_carries_the_limit_and_a_checkpoint_is_applied(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("noted"), Reply(output=[FunctionCall("lookup", '{"word": "x"}', call_id="c1")]),
                    Reply.text("done"))
        async with running_server(tmp_path, overrides=config(sim, inline=True, server_side=True), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = tool_answer()
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [TOOL]}))["thread"]["id"]
            first, _ = await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 2000)})
            second, events = await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 2400)})
            assert first["status"] == second["status"] == "completed"
            [applied] = of(events, "thread/compaction/applied")
            assert applied["mode"] == "inline" and applied["trigger"] == "auto"
            assert applied["tokensAfter"] < applied["tokensBefore"] and applied["itemsReplaced"] > 0
            [item] = items_completed(events, "contextCompaction")
            assert applied["itemId"] == item["id"]
            order = methods(events)
            completed_at = next(i for i, e in enumerate(events) if e["method"] == "item/completed"
                                and e["params"]["item"]["type"] == "contextCompaction")
            applied_at = order.index("thread/compaction/applied")
            assert order[completed_at - 1] == "thread/tokenUsage/updated" and completed_at + 1 == applied_at  # Codex
            assert of(events, "thread/tokenUsage/updated")[0]["tokenUsage"]["last"]["totalTokens"] == applied["tokensAfter"]
            warning = await h.client.next_global("warning")  # every checkpoint is followed by one, inline too
            assert warning["threadId"] == thread_id and "summary" in warning["message"]
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert len(read["thread"]["turns"]) == 2  # clients still see the earlier turn; the model does not
        bodies = responses_bodies(sim)
        assert all(body["context_management"] == [{"type": "compaction", "compact_threshold": LIMIT}]
                   for body in bodies)
        follow_up = bodies[-1]
        assert input_types(follow_up) == ["message:user", "compaction", "function_call", "function_call_output"]
        assert input_texts(follow_up)[0].startswith("second turn")
        assert not any(t.startswith("first turn") for t in input_texts(follow_up))


async def test_a_stream_cut_after_the_compaction_item_commits_nothing_and_the_retry_succeeds(tmp_path: Path) -> None:
    with Simulator() as sim:
        # Events: created, in_progress, compaction added/compacting/done, message added — then the cut.
        sim.enqueue(Reply(output=[Text("partial answer", 4)], cut_after=6), Reply.text("whole answer"))
        async with running_server(tmp_path, overrides=config(sim, inline=True, server_side=True), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("big question", 5000)})
            assert turn["status"] == "completed"
            assert len(of(events, "thread/compaction/applied")) == 1
            assert len(items_completed(events, "contextCompaction")) == 1
            assert [e["willRetry"] for e in of(events, "error")] == [True]
        first, retry = responses_bodies(sim)
        assert first["input"] == retry["input"]  # the cut attempt changed nothing the retry sends
    checkpoint, history = await stored_checkpoints(tmp_path, thread_id)
    assert checkpoint is not None and checkpoint.mode == "inline"
    entries = [msgspec.json.decode(raw) for raw in history]
    assert [e["type"] for e in entries] == ["message", "compaction", "message"]
    assert entries[-1]["content"][0]["text"] == "whole answer"


async def test_a_second_checkpoint_in_the_same_turn_replaces_the_first(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", '{"word": "x"}', call_id="c1")]), Reply.text("done"),
                    Reply.text("next"))
        async with running_server(tmp_path, overrides=config(sim, inline=True, server_side=True), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = tool_answer("a long answer " * 400)
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [TOOL]}))["thread"]["id"]
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("big question", 5000)})
            assert turn["status"] == "completed"
            assert len(of(events, "thread/compaction/applied")) == 2
            await h.client.run_turn({"threadId": thread_id, "input": text("and then?", 10)})
        after = responses_bodies(sim)[-1]
        assert input_types(after).count("compaction") == 1
        assert input_types(after) == ["message:user", "function_call", "function_call_output", "compaction",
                                      "message:assistant", "message:user"]


async def test_after_a_restart_resume_read_and_fork_continue_from_the_checkpoint(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("noted"), Reply.text("compacted answer"), Reply.text("after restart"),
                    Reply.text("in the fork"))
        overrides = config(sim, inline=True, server_side=True)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 2000)})
            _, events = await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 2400)})
            assert len(of(events, "thread/compaction/applied")) == 1
        checkpoint, _ = await stored_checkpoints(tmp_path, thread_id)
        assert checkpoint is not None
        replacement = msgspec.json.decode(checkpoint.replacement)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            await h.client.request("thread/resume", {"threadId": thread_id})
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            kinds = [i["type"] for t in read["thread"]["turns"] for i in t["items"]]
            assert kinds.count("contextCompaction") == 1 and kinds.count("userMessage") == 2
            turn, _ = await h.client.run_turn({"threadId": thread_id, "input": text("third turn", 10)})
            assert turn["status"] == "completed"
            forked = (await h.client.request("thread/fork", {"threadId": thread_id}))["thread"]["id"]
            await h.client.run_turn({"threadId": forked, "input": text("fork turn", 10)})
        resumed, fork = responses_bodies(sim)[-2:]
        assert input_types(resumed) == ["message:user", "compaction", "message:assistant", "message:user"]
        texts = input_texts(resumed)
        assert texts[0].startswith("second turn") and texts[-1].startswith("third turn")
        assert resumed["input"][:-1] == replacement  # the checkpoint, item for item, then the new message
        assert input_types(fork)[:3] == ["message:user", "compaction", "message:assistant"]
        assert not any(t.startswith("first turn") for t in input_texts(resumed) + input_texts(fork))
