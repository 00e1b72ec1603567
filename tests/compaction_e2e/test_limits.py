"""When a turn compacts: the per-turn cap, the mid-turn check, a switch to a model with a smaller window, and the
turn after the server refused a request as over the window."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from server.compaction import COMPACT_PROMPT, SUMMARY_BRIDGE_PREFIX
from server.config import Settings
from server.models import ModelInfo
from server.models import model_info as real_model_info
from server.simulator import FunctionCall, Reply, Simulator, Text, Usage
from tests.harness import SIM_ENV, running_server

from .support import TOOL, config, input_texts, items_completed, methods, of, responses_bodies, text, tool_answer

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


REFUSAL = "Your input exceeds the context window of this model. Please adjust your input and try again."


@pytest.mark.parametrize("paths", [{}, {"inline": True, "server_side": True}], ids=["local", "inline-provider"])
async def test_after_a_response_failed_over_the_window_the_usage_reads_full_and_the_next_turn_compacts_first(
    tmp_path: Path, paths: dict[str, bool]
) -> None:
    refused = Reply(output=[Text("shown before the refusal")], end="failed", error_code="context_length_exceeded",
                    error_message=REFUSAL)
    with Simulator() as sim:
        sim.enqueue(Reply.text("normal answer", usage=Usage(100, 5)), refused, Reply.text("the summary"),
                    Reply.text("next answer"))
        overrides = config(sim, limit=100_000, **paths)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("normal", 10)})
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("overflow", 10)})
            assert turn["status"] == "failed" and turn["error"]["codexErrorInfo"] == "contextWindowExceeded"
            [usage] = [p["tokenUsage"] for p in of(events, "thread/tokenUsage/updated")]
            # As Codex: the context reads full, at the window clients are told, before the error is announced.
            assert usage["last"]["totalTokens"] == usage["modelContextWindow"] == 258_400
            assert usage["total"]["totalTokens"] == 105  # the total is what was paid for: a refusal adds nothing
            assert methods(events)[-3:] == ["thread/tokenUsage/updated", "error", "turn/completed"]
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:  # stored with the failed turn
            await h.client.request("thread/resume", {"threadId": thread_id})
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("next", 10)})
            assert turn["status"] == "completed"
            assert items_completed(events, "agentMessage")[-1]["text"] == "next answer"
            [applied] = of(events, "thread/compaction/applied")
            assert (applied["mode"], applied["trigger"]) == ("local", "auto")  # never inline: the window is full
        summary_request, answered = responses_bodies(sim)[2:]
        # What the refused response showed is summarised with the rest; the new message waits for the summary.
        assert input_texts(summary_request)[-2:] == ["shown before the refusal", COMPACT_PROMPT]
        summary, question = input_texts(answered)[-2:]
        assert summary == f"{SUMMARY_BRIDGE_PREFIX}\n\nthe summary" and question.startswith("next")


async def test_after_an_http_400_over_the_window_the_next_turn_compacts_instead_of_being_refused_again(
    tmp_path: Path,
) -> None:
    # Codex 0.163.0 leaves this form alone: its next request is the refused one plus the new message, refused
    # again, turn after turn, until its estimate alone crosses the limit.
    with Simulator(context_window=4_000) as sim:
        # The first answer's usage understates the context, so the estimate stays under the limit while the
        # server counts the next request over its window.
        sim.enqueue(Reply.text("noted", usage=Usage(10, 5)), Reply.text("the summary"), Reply.text("recovered"))
        overrides = config(sim, limit=3_600, extra=["model_context_window=4000"])
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("alpha", 6_000)})
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("beta", 12_000)})
            assert turn["status"] == "failed" and turn["error"]["codexErrorInfo"] == "contextWindowExceeded"
            [usage] = [p["tokenUsage"] for p in of(events, "thread/tokenUsage/updated")]
            assert usage["last"]["totalTokens"] == usage["modelContextWindow"] == 3_800
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("again", 10)})
            assert turn["status"] == "completed", turn["error"]
            assert items_completed(events, "agentMessage")[-1]["text"] == "recovered"
            assert [a["trigger"] for a in of(events, "thread/compaction/applied")] == ["auto"]
        assert [r.status for r in sim.requests_to("responses")] == [200, 400, 200, 200]
