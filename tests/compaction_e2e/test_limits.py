"""When a turn compacts: the per-turn cap, the mid-turn check, and a switch to a model with a smaller window."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from server.config import Settings
from server.models import ModelInfo
from server.models import model_info as real_model_info
from server.simulator import FunctionCall, Reply, Simulator
from tests.harness import SIM_ENV, running_server

from .support import TOOL, config, items_completed, of, responses_bodies, text, tool_answer

pytestmark = pytest.mark.anyio

SMALL = "small-window-model"


def _small_window(settings: Settings, slug: str | None = None) -> ModelInfo:
    info = real_model_info(settings, slug)
    return replace(info, context_window=4_000) if slug == SMALL else info


async def test_a_turn_that_stays_over_its_limit_fails_after_the_cap_instead_of_looping(tmp_path: Path) -> None:
    with Simulator() as sim:
        for n in range(4):
            sim.enqueue(Reply(output=[FunctionCall("lookup", "{}", call_id=f"c{n}")]))
        async with running_server(tmp_path, overrides=config(sim, remote="v1"), env=SIM_ENV) as h:
            # Every tool round refills the context past the limit as fast as compaction empties it.
            h.client.handlers["item/tool/call"] = tool_answer("a huge tool output " * 300)
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [TOOL]}))["thread"]["id"]
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("small ask", 20)})
            assert turn["status"] == "failed"
            assert turn["error"]["codexErrorInfo"] == "contextWindowExceeded"
            assert "max_compactions_per_turn = 3" in turn["error"]["message"]
            assert len(of(events, "thread/compaction/applied")) == 3
            assert len(items_completed(events, "contextCompaction")) == 3


async def test_the_cap_is_configurable(tmp_path: Path) -> None:
    with Simulator() as sim:
        for n in range(2):
            sim.enqueue(Reply(output=[FunctionCall("lookup", "{}", call_id=f"c{n}")]))
        overrides = config(sim, remote="v1", extra=["max_compactions_per_turn=1"])
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = tool_answer("a huge tool output " * 300)
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [TOOL]}))["thread"]["id"]
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("small ask", 20)})
            assert turn["status"] == "failed" and len(of(events, "thread/compaction/applied")) == 1


async def test_a_large_tool_output_is_compacted_between_the_tool_round_and_its_follow_up(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", "{}", call_id="c1")]), Reply.text("summary of the work"),
                    Reply.text("final answer"))
        async with running_server(tmp_path, overrides=config(sim), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = tool_answer("a long tool output " * 300)
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [TOOL]}))["thread"]["id"]
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("small ask", 20)})
            assert turn["status"] == "completed"
            assert [a["mode"] for a in of(events, "thread/compaction/applied")] == ["local"]
        tool_round, summary, follow_up = responses_bodies(sim)
        assert summary["input"][-2]["type"] == "function_call_output"  # the summary saw the tool's output
        assert "function_call_output" not in [i.get("type") for i in follow_up["input"]]


async def test_switching_to_a_smaller_window_compacts_with_the_previous_model_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("server.sessions.services.model_info", _small_window)
    with Simulator() as sim:
        sim.enqueue(Reply.text("noted"), Reply.text("summary by the big model"), Reply.text("small answer"))
        async with running_server(tmp_path, overrides=config(sim, limit=100_000), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"model": "gpt-5.1-codex"}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("long context", 16_000)})
            turn, events = await h.client.run_turn({"threadId": thread_id, "model": SMALL,
                                                    "input": text("now small", 20)})
            assert turn["status"] == "completed"
            assert [a["mode"] for a in of(events, "thread/compaction/applied")] == ["local"]
        first, summary, answered = responses_bodies(sim)
        assert (first["model"], summary["model"], answered["model"]) == ("gpt-5.1-codex", "gpt-5.1-codex", SMALL)


async def test_with_inline_available_the_previous_model_preflight_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("server.sessions.services.model_info", _small_window)
    with Simulator() as sim:
        overrides = config(sim, inline=True, server_side=True, limit=100_000)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"model": "gpt-5.1-codex"}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("long context", 14_000)})
            turn, _ = await h.client.run_turn({"threadId": thread_id, "model": SMALL, "input": text("now small", 20)})
            assert turn["status"] == "completed"
        first, answered = responses_bodies(sim)
        assert answered["model"] == SMALL
        assert answered["context_management"] == [{"type": "compaction", "compact_threshold": 3_600}]
