"""Every request Threadline sends upstream is one the OpenAI API accepts, by the `openai` package's own types.

This is what `threadline demo --live` and every real provider rely on, shown without a network: whole
conversations (reasoning replayed encrypted, a client tool call and its output, images, an output schema, a
steer) and a compaction on each of the four paths run through the daemon against the simulator, and each body
it recorded is validated against `ResponseCreateParamsStreaming` or `ResponseCompactParams`. Validation also
reports any key the types do not know (the check itself, and what goes beyond the SDK's types on purpose, is in
`request_types`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import anyio
import pytest

from server.simulator import FunctionCall, Gate, Reasoning, RecordedRequest, Reply, Simulator, Text
from tests.compaction_e2e.support import config, of, text, tool_answer
from tests.faults.support import LOOKUP_TOOL
from tests.harness import SIM_ENV, running_server, sim_overrides
from tests.upstream.request_types import assert_all_valid, problems

pytestmark = pytest.mark.anyio

_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def test_the_check_itself_refuses_a_bad_type_and_names_an_unknown_key() -> None:
    def recorded(body: dict[str, Any]) -> RecordedRequest:
        return RecordedRequest(0, "POST", "/v1/responses", "", {}, 0, False, body=body)

    good = {"model": "m", "stream": True, "input": [{"type": "message", "role": "user",
                                                     "content": [{"type": "input_text", "text": "hi"}]}]}
    assert problems(recorded(good)) == []
    assert problems(recorded({**good, "stream": "yes"}))
    bad_content = {**good, "input": [{"type": "message", "role": "user",
                                      "content": [{"type": "input_text", "text": "hi", "colour": "red"}]}]}
    assert problems(recorded(bad_content)) == ["/v1/responses: unknown key /input/0/content/0/colour"]


async def test_a_conversation_with_reasoning_tools_images_a_schema_and_a_steer_sends_only_valid_requests(
        tmp_path: Path) -> None:
    picture = tmp_path / "pixel.png"
    picture.write_bytes(_PNG)
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(
            Reply(output=[Reasoning(summary=["Looking it up."]), FunctionCall("lookup", '{"q": "otter"}')]),
            Reply.text("Otters hold hands while they sleep."),
            Reply.text('{"answer": "a pixel"}'),
            Reply(output=[Text("Let me think about rivers", 5)], stall_after=3, gate=gate),
            Reply.text("Rivers and seas both, then."),
        )
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = tool_answer("otters: aquatic mammals")
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [LOOKUP_TOOL]}))["thread"]["id"]
            tool_turn, _ = await h.client.run_turn({"threadId": thread_id, "effort": "high", "summary": "detailed",
                                                    "input": [{"type": "text", "text": "Tell me about otters."}]})
            images = [{"type": "text", "text": "What is in these?"},
                      {"type": "image", "url": "https://example.com/otter.png"},
                      {"type": "localImage", "path": str(picture)}]
            schema_turn, _ = await h.client.run_turn({"threadId": thread_id, "input": images, "outputSchema": schema})
            started = await h.client.request("turn/start", {"threadId": thread_id,
                                                            "input": [{"type": "text", "text": "Where do they live?"}]})
            assert await gate.wait_reached_async(10)
            await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": started["turn"]["id"],
                                                  "input": [{"type": "text", "text": "And the sea?"}]})
            gate.release()
            steered = [e async for e in h.client.turn_events(started["turn"]["id"], timeout=20)]
            assert [tool_turn["status"], schema_turn["status"], steered[-1]["params"]["turn"]["status"]] == [
                "completed"] * 3
        assert_all_valid(sim)
        bodies = [request.body for request in sim.requests]
        assert bodies[0]["reasoning"] == {"effort": "high", "summary": "detailed"}
        assert bodies[0]["include"] == ["reasoning.encrypted_content"] and bodies[0]["tools"]
        assert {"function_call", "function_call_output", "reasoning"} <= {item["type"] for item in bodies[1]["input"]}
        assert bodies[2]["text"]["format"]["type"] == "json_schema"
        assert [part["type"] for part in bodies[2]["input"][-1]["content"]] == ["input_text", "input_image",
                                                                               "input_image"]
        assert len(bodies) == 5  # the steer cut the fourth response short and the fifth carried it


async def test_what_an_answer_cut_short_by_max_output_tokens_leaves_the_next_request_is_valid(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Reasoning(summary=["Looking it up."]), FunctionCall("lookup", '{"q": "otter"}'),
                                  Reasoning(summary=["Answering."]), Text("Otters are semiaquatic", 3)],
                          end="incomplete"),
                    Reply.text("...mammals."))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = tool_answer("never asked")
            thread_id = (await h.client.request("thread/start", {"dynamicTools": [LOOKUP_TOOL]}))["thread"]["id"]
            cut, _ = await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "Otters?"}]})
            going_on, _ = await h.client.run_turn({"threadId": thread_id,
                                                   "input": [{"type": "text", "text": "Go on."}]})
            assert [cut["status"], going_on["status"]] == ["failed", "completed"]
        assert_all_valid(sim)
        kept = sim.requests[-1].body["input"][1:-1]
        # The answer the user saw, with the reasoning that led to it and its "incomplete" status; not the call,
        # which never ran, nor the reasoning that led to that call (the API refuses reasoning without its item).
        assert [(item["type"], item.get("status")) for item in kept] == [("reasoning", "completed"),
                                                                         ("message", "incomplete")]
        assert kept[0]["summary"][0]["text"] == "Answering."


@pytest.mark.parametrize(("path", "overrides"), [
    ("local", {}),
    ("remote", {"remote": "v1"}),
    ("remote", {"remote": "v2"}),
    ("inline", {"inline": True, "server_side": True}),
], ids=["local", "remote-v1", "remote-v2", "inline"])
async def test_a_compaction_and_the_turns_around_it_send_only_valid_requests(
        tmp_path: Path, path: str, overrides: dict[str, Any]) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=config(sim, **overrides), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            applied = []
            for label, size in (("first turn", 2000), ("second turn", 2400), ("third turn", 200)):
                with anyio.fail_after(30):
                    turn, events = await h.client.run_turn({"threadId": thread_id, "input": text(label, size)})
                assert turn["status"] == "completed", turn["error"]
                applied += [a["mode"] for a in of(events, "thread/compaction/applied")]
            assert applied and set(applied) == {path}
        assert_all_valid(sim)
