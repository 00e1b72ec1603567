"""A turn against the simulator, end to end in memory: the Codex notification sequence, byte-exact text."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from server.simulator import Reasoning, Reply, Simulator, Text, Usage
from tests.harness import SIM_ENV, running_server, sim_overrides

pytestmark = pytest.mark.anyio


async def test_a_turn_streams_the_codex_sequence_and_ends_with_one_turn_completed(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Reasoning(summary=["Thinking."]), Text("Hello there, friend.", 7)],
                          usage=Usage(input_tokens=50, output_tokens=12)))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread = (await h.client.request("thread/start", {}))["thread"]
            turn, events = await h.client.run_turn({"threadId": thread["id"], "input": [{"type": "text", "text": "hi"}]})
            methods = [e["method"] for e in events]
            assert methods[0] == "turn/started" and methods[-1] == "turn/completed"
            assert methods.count("turn/completed") == 1
            assert turn["status"] == "completed" and turn["error"] is None and turn["durationMs"] is not None
            assert "item/reasoning/summaryPartAdded" in methods and "item/reasoning/summaryTextDelta" in methods
            assert methods.index("thread/tokenUsage/updated") < methods.index("turn/completed")
            completed = [e["params"]["item"] for e in events if e["method"] == "item/completed"]
            assert [i["type"] for i in completed] == ["userMessage", "reasoning", "agentMessage"]
            message = completed[-1]
            assert turn["items"] == [message] and turn["itemsView"] == "summary"  # as Codex: the answer rides along
            deltas = "".join(e["params"]["delta"] for e in events if e["method"] == "item/agentMessage/delta")
            assert deltas == message["text"] == "Hello there, friend."
            usage = [e for e in events if e["method"] == "thread/tokenUsage/updated"][-1]["params"]["tokenUsage"]
            assert usage["last"]["totalTokens"] == 62
            assert usage["modelContextWindow"] == 258_400  # 95% of the catalog's 272,000, as Codex reports it
            read = await h.client.request("thread/read", {"threadId": thread["id"], "includeTurns": True})
            stored = read["thread"]["turns"][0]
            timing = ("startedAt", "completedAt", "durationMs")
            assert [stored[k] for k in timing] == [turn[k] for k in timing]  # history says what the live end said
        request = sim.requests[-1].body
        assert request["stream"] is True and request["store"] is False
        assert request["prompt_cache_key"] == thread["id"]
        assert request["parallel_tool_calls"] is False  # no tools: providers refuse the flag without them
        assert request["input"][-1]["content"][0]["text"] == "hi"


async def test_two_threads_streaming_at_once_never_cross_talk(tmp_path: Path) -> None:
    with Simulator() as sim:  # the default reply quotes the user's message, so each answer names its thread
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            threads = [(await h.client.request("thread/start", {}))["thread"]["id"] for _ in range(2)]
            results: dict[str, list] = {}

            async def run(thread_id: str, word: str) -> None:
                turn, events = await h.client.run_turn({"threadId": thread_id,
                                                        "input": [{"type": "text", "text": word}]})
                results[word] = [thread_id, turn, events]

            async with anyio.create_task_group() as tg:
                tg.start_soon(run, threads[0], "alpha")
                tg.start_soon(run, threads[1], "bravo")
            for word, (thread_id, turn, events) in results.items():
                assert turn["status"] == "completed"
                assert all(e["params"]["threadId"] == thread_id for e in events)
                answer = [e["params"]["item"]["text"] for e in events if e["method"] == "item/completed"
                          and e["params"]["item"]["type"] == "agentMessage"]
                assert len(answer) == 1 and word in answer[0]


async def test_turns_one_after_another_share_one_upstream_connection(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            for _ in range(3):
                thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
                turn, _ = await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]})
                assert turn["status"] == "completed"
        assert [request.connection for request in sim.requests] == [1, 1, 1]


@pytest.mark.parametrize(("model", "offered"), [(None, True), ("house-model-7b", False)],
                         ids=["catalog model", "model outside the catalog"])
async def test_parallel_tool_calls_are_offered_with_tools_to_catalog_models_only(
        tmp_path: Path, model: str | None, offered: bool) -> None:
    tool = {"type": "function", "name": "lookup", "description": "d", "inputSchema": {"type": "object"}}
    with Simulator() as sim:
        overrides = [*sim_overrides(sim.base_url), *([f'model="{model}"'] if model else [])]
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread = (await h.client.request("thread/start", {"dynamicTools": [tool]}))["thread"]
            turn, _ = await h.client.run_turn({"threadId": thread["id"], "input": [{"type": "text", "text": "hi"}]})
            assert turn["status"] == "completed"
    request = sim.requests[-1].body
    assert [t["name"] for t in request["tools"]] == ["lookup"]
    assert request["parallel_tool_calls"] is offered  # as Codex sends for the models it knows
