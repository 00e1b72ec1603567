"""The explicit paths end to end: local summaries, remote v1 and v2, and the fallbacks between them."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.compaction import COMPACT_PROMPT, SUMMARY_BRIDGE_PREFIX
from server.simulator import Garble, HttpError, Reply, Simulator
from tests.harness import SIM_ENV, running_server

from .support import (
    assert_compaction_paid_then_estimated,
    config,
    input_texts,
    input_types,
    of,
    responses_bodies,
    run_compaction,
    text,
)

pytestmark = pytest.mark.anyio


async def test_a_provider_without_remote_compaction_gets_a_local_summary_before_the_turn(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("noted"), Reply.text("The user pasted lorem ipsum twice."), Reply.text("answer"))
        async with running_server(tmp_path, overrides=config(sim), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            _, first = await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 3000)})
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 1000)})
            assert turn["status"] == "completed"
            [applied] = of(events, "thread/compaction/applied")
            assert (applied["mode"], applied["trigger"]) == ("local", "auto")
            assert_compaction_paid_then_estimated(first, events)  # the summary request was paid for
        summary_request, answered = responses_bodies(sim)[1:]
        assert input_texts(summary_request)[-1] == COMPACT_PROMPT and summary_request["tools"] == []
        assert not any(t.startswith("second turn") for t in input_texts(summary_request))
        texts = input_texts(answered)
        assert texts[-2] == f"{SUMMARY_BRIDGE_PREFIX}\n\nThe user pasted lorem ipsum twice."
        assert texts[-1].startswith("second turn")  # the message being answered stays last
        assert texts[0].startswith("first turn")  # real user messages survive within their budget:
        assert "part of this message was cut" in texts[0]  # a quarter of a small limit, so it is cut to fit
        assert "message:assistant" not in input_types(answered)


async def test_the_configured_compact_prompt_replaces_ours(tmp_path: Path) -> None:
    with Simulator() as sim:
        extra = ['compact_prompt="Summarize in one line."']
        async with running_server(tmp_path, overrides=config(sim, extra=extra), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 3000)})
            turn, _ = await run_compaction(h, thread_id)
            assert turn["status"] == "completed"
        assert input_texts(responses_bodies(sim)[-1])[-1] == "Summarize in one line."


async def test_a_summary_request_over_the_window_drops_the_oldest_items_and_retries(tmp_path: Path) -> None:
    long_answer = "the answer goes on " * 130  # about 600 tokens: assistant text is summarised, never kept
    with Simulator(context_window=1_400) as sim:
        sim.enqueue(Reply.text(long_answer), Reply.text(long_answer), Reply.text("the summary"), Reply.text("ok"))
        async with running_server(tmp_path, overrides=config(sim), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            for label in ("alpha", "beta"):
                await h.client.run_turn({"threadId": thread_id, "input": text(label, 40)})
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("gamma", 40)})
            assert turn["status"] == "completed", turn["error"]
            assert [a["mode"] for a in of(events, "thread/compaction/applied")] == ["local"]
        requests = sim.requests_to("responses")
        assert [r.status for r in requests][2:] == [400, 400, 200, 200]
        tried = [input_texts(r.body)[0][:5] for r in requests[2:5]]
        assert tried == ["alpha", "the a", "beta "]  # the oldest item goes first, one at a time
        summary, question = input_texts(requests[-1].body)[-2:]
        assert summary == f"{SUMMARY_BRIDGE_PREFIX}\n\nthe summary" and question.startswith("gamma")


async def test_remote_v1_posts_the_history_to_responses_compact_without_tools_or_compression(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=config(sim, remote="v1"), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 3000)})
            _, events = await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 1000)})
            assert [a["mode"] for a in of(events, "thread/compaction/applied")] == ["remote"]
        [compact] = sim.requests_to("compact")
        assert compact.body["tools"] == [] and not compact.compressed
        assert input_texts(compact.body)[0].startswith("first turn")
        assert input_types(responses_bodies(sim)[-1]) == ["message:user", "compaction", "message:user"]


async def test_remote_v2_ends_a_streamed_request_with_a_trigger_that_is_never_kept(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=config(sim, remote="v2"), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            _, first = await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 3000)})
            _, events = await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 1000)})
            assert [a["mode"] for a in of(events, "thread/compaction/applied")] == ["remote"]
            assert_compaction_paid_then_estimated(first, events)  # the trigger request was paid for
            await h.client.run_turn({"threadId": thread_id, "input": text("third turn", 10)})
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert "compaction_trigger" not in str(read)
        bodies = responses_bodies(sim)
        trigger = bodies[1]
        assert trigger["input"][-1] == {"type": "compaction_trigger"}
        assert sim.requests_to("responses")[1].headers["x-codex-beta-features"] == "remote_compaction_v2"
        assert not sim.requests_to("compact")
        for later in bodies[2:]:
            assert "compaction_trigger" not in input_types(later)
        assert input_types(bodies[2]) == ["message:user", "compaction", "message:user"]


async def test_a_refused_trigger_falls_back_to_v1_and_is_remembered(tmp_path: Path) -> None:
    with Simulator(reject_compaction_trigger=True) as sim:
        async with running_server(tmp_path, overrides=config(sim, remote="v2"), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            for label in ("one", "two", "three"):
                turn, _ = await h.client.run_turn({"threadId": thread_id, "input": text(label, 3000)})
                assert turn["status"] == "completed"
        triggers = [b for b in responses_bodies(sim) if b["input"][-1].get("type") == "compaction_trigger"]
        assert len(triggers) == 1 and len(sim.requests_to("compact")) >= 2


async def test_a_refused_context_management_falls_back_to_remote_and_the_turn_succeeds(tmp_path: Path) -> None:
    with Simulator(reject_context_management=True) as sim:
        overrides = config(sim, inline=True, remote="v1", server_side=True)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            first, _ = await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 3000)})
            second, events = await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 1000)})
            assert first["status"] == second["status"] == "completed"
            assert [a["mode"] for a in of(events, "thread/compaction/applied")] == ["remote"]
        log = [(r.path.rsplit("/", 1)[-1], "context_management" in r.body, r.status) for r in sim.requests]
        assert log == [("responses", True, 400), ("responses", False, 200), ("compact", False, 200),
                       ("responses", False, 200)]


async def test_a_missing_compact_endpoint_falls_back_to_local_once_and_for_all(tmp_path: Path) -> None:
    with Simulator(compact_endpoint=False) as sim:
        async with running_server(tmp_path, overrides=config(sim, remote="v1"), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            modes = []
            for label in ("one", "two", "three"):
                turn, events = await h.client.run_turn({"threadId": thread_id, "input": text(label, 3000)})
                assert turn["status"] == "completed"
                modes += [a["mode"] for a in of(events, "thread/compaction/applied")]
        assert modes == ["local", "local"]
        assert [r.status for r in sim.requests_to("compact")] == [404]


@pytest.mark.parametrize("refusal", [
    HttpError.api_error(400, "Unsupported parameter: 'context_management'.", code="unsupported_parameter",
                        param="context_management"),
    HttpError.api_error(400, "Unrecognized request argument supplied: context_management", code=None, param=None),
], ids=["unsupported_parameter", "only in the message"])
async def test_other_wordings_of_a_refused_context_management_are_remembered_too(
        tmp_path: Path, refusal: HttpError) -> None:
    with Simulator() as sim:
        sim.enqueue(refusal, Reply.text("answered without it"), Reply.text("and again"))
        overrides = config(sim, inline=True, server_side=True)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            for label in ("first turn", "second turn"):
                turn, _ = await h.client.run_turn({"threadId": thread_id, "input": text(label, 300)})
                assert turn["status"] == "completed"
        assert [("context_management" in r.body, r.status) for r in sim.requests] == [(True, 400), (False, 200),
                                                                                      (False, 200)]


async def test_a_v2_compaction_item_whose_output_item_done_cannot_be_decoded_is_taken_from_response_completed(
    tmp_path: Path,
) -> None:
    lost = Garble(event="response.output_item.done", item="compaction", truncate=True)
    with Simulator() as sim:
        sim.enqueue(Reply.text("noted"), Reply(garble=[lost]))  # the second request is the trigger's
        async with running_server(tmp_path, overrides=config(sim, remote="v2"), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 3000)})
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 1000)})
            assert turn["status"] == "completed"
            assert [a["mode"] for a in of(events, "thread/compaction/applied")] == ["remote"]
        bodies = responses_bodies(sim)
        assert bodies[1]["input"][-1] == {"type": "compaction_trigger"} and not sim.requests_to("compact")
        assert input_types(bodies[2]) == ["message:user", "compaction", "message:user"]
