"""The simulator's events have the real API's shapes, checked against the `openai` package's own types."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from server.simulator import FunctionCall, Reasoning, Reply, Simulator, Text
from server.upstream.sse import parse_stream
from tests.simulator.conftest import post_stream, user

openai_types = pytest.importorskip("openai.types.responses", reason="the openai package is not installed")
pydantic = pytest.importorskip("pydantic")

_stream_event = pydantic.TypeAdapter(openai_types.ResponseStreamEvent)


def validate_all(events: list[dict[str, Any]]) -> None:
    for event in events:
        parsed = _stream_event.validate_python(event)
        assert parsed.type == event["type"]


def test_every_event_of_a_rich_reply_validates_against_the_sdk(sim: Simulator, http: httpx.Client) -> None:
    sim.enqueue(
        Reply(
            output=[
                Reasoning(summary=["First", "Second"], content=["raw thought"], deltas=3),
                Text("Hello, world", deltas=4),
                FunctionCall("shell", '{"cmd": ["ls"]}', deltas=2),
            ]
        )
    )
    body = {
        "model": "m",
        "input": [user("x" * 400)],
        "context_management": [{"type": "compaction", "compact_threshold": 10}],
    }
    events = post_stream(http, sim, body)
    validate_all(events)
    types = {event["type"] for event in events}
    assert {"response.compaction.compacting", "response.reasoning_text.delta", "response.completed"} <= types


def test_every_event_has_type_and_increasing_sequence_numbers(sim: Simulator, http: httpx.Client) -> None:
    events = post_stream(http, sim, {"model": "m", "input": [user("hi")]})
    assert [event["sequence_number"] for event in events] == list(range(len(events)))


@pytest.mark.parametrize(
    "reply",
    [
        Reply.text("x", end="failed", error_code="server_error"),
        Reply.text("x", end="incomplete", incomplete_reason="max_output_tokens"),
        Reply.text("x", end="error", error_code="server_error"),
    ],
)
def test_terminal_failure_events_validate_against_the_sdk(sim: Simulator, http: httpx.Client, reply: Reply) -> None:
    sim.enqueue(reply)
    validate_all(post_stream(http, sim, {"model": "m", "input": [user("hi")]}))


def test_output_items_carry_id_type_and_status(sim: Simulator, http: httpx.Client) -> None:
    sim.enqueue(Reply(output=[Reasoning(), Text("t"), FunctionCall("f")]))
    events = post_stream(http, sim, {"model": "m", "input": [user("hi")]})
    for event in events:
        if event["type"].startswith("response.output_item."):
            item = event["item"]
            assert {"id", "type", "status"} <= item.keys() and isinstance(event["output_index"], int)
    message = next(
        e["item"] for e in events if e["type"] == "response.output_item.done" and e["item"]["type"] == "message"
    )
    assert message["role"] == "assistant"
    assert message["content"] == [{"type": "output_text", "text": "t", "annotations": [], "logprobs": []}]


def test_the_compact_answer_validates_as_a_compacted_response(sim: Simulator, http: httpx.Client) -> None:
    answer = http.post(sim.base_url + "/responses/compact", json={"model": "m", "input": [user("keep me")]}).json()
    *messages, compaction = answer["output"]
    # The SDK types `output` as output items only, yet documents (and the API returns) the user messages
    # first; so the envelope is checked with the compaction item alone and the messages as input messages.
    envelope = pydantic.TypeAdapter(openai_types.CompactedResponse).validate_python({**answer, "output": [compaction]})
    assert envelope.object == "response.compaction" and compaction["type"] == "compaction"
    message_type = pydantic.TypeAdapter(openai_types.response_input_item.Message)
    assert [message_type.validate_python(m).role for m in messages] == ["user"]


def test_ascii_only_events_keep_the_sdk_shapes(sim: Simulator, http: httpx.Client) -> None:
    sim.enqueue(Reply(output=[Reasoning(summary=["Café ☕"]), Text("naïve 😀", deltas=3), FunctionCall("f", '{"q":"é"}')],
                      ascii_only=True))
    response = http.post(sim.base_url + "/responses", json={"model": "m", "input": [user("hi")]})
    messages = parse_stream(response.content)
    assert all(message.data.isascii() for message in messages)
    validate_all([msgspec.json.decode(message.data) for message in messages])
