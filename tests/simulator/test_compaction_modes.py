"""The simulator's compaction: inline via context_management, /responses/compact (v1), compaction_trigger (v2)."""

from __future__ import annotations

from typing import Any

import httpx

from server.simulator import Reply, Simulator, Text, decode_compaction
from tests.simulator.conftest import done_items, post_stream, user

BIG = [
    user("a" * 2000),
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "b" * 2000}]},
]


def inline(threshold: int) -> list[dict[str, Any]]:
    return [{"type": "compaction", "compact_threshold": threshold}]


def test_crossing_the_inline_threshold_emits_a_compaction_item_then_the_reply(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.enqueue(Reply(output=[Text("after compaction")]))
    events = post_stream(http, sim, {"model": "m", "input": [*BIG, user("go on")], "context_management": inline(1000)})
    items = done_items(events)
    assert [item["type"] for item in items] == ["compaction", "message"]
    assert decode_compaction(items[0]["encrypted_content"])["summarized"] == 3
    assert "response.compaction.compacting" in [e["type"] for e in events]
    assert events[-1]["response"]["usage"]["input_tokens"] < 200  # the model sampled on the compacted context


def test_below_the_threshold_nothing_is_compacted(sim: Simulator, http: httpx.Client) -> None:
    events = post_stream(http, sim, {"model": "m", "input": [user("short")], "context_management": inline(1000)})
    assert [item["type"] for item in done_items(events)] == ["message"]


def test_the_compaction_item_can_be_placed_after_other_output(sim: Simulator, http: httpx.Client) -> None:
    sim.enqueue(Reply(output=[Text("before"), Text("after")], compaction_at=1))
    events = post_stream(http, sim, {"model": "m", "input": BIG, "context_management": inline(1000)})
    assert [item["type"] for item in done_items(events)] == ["message", "compaction", "message"]


def test_items_before_a_compaction_item_no_longer_count_toward_the_threshold(
    sim: Simulator, http: httpx.Client
) -> None:
    first = done_items(post_stream(http, sim, {"model": "m", "input": BIG, "context_management": inline(1000)}))[0]
    body = {"model": "m", "input": [*BIG, first, user("next")], "context_management": inline(1000)}
    assert [item["type"] for item in done_items(post_stream(http, sim, body))] == ["message"]


def test_context_management_can_be_rejected_without_consuming_the_script(sim: Simulator, http: httpx.Client) -> None:
    sim.reject_context_management = True
    sim.enqueue(Reply.text("kept"))
    answer = http.post(sim.base_url + "/responses", json={"input": BIG, "context_management": inline(1000)})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "message": "Unknown parameter: 'context_management'.",
            "type": "invalid_request_error",
            "param": "context_management",
            "code": "unknown_parameter",
        }
    }
    assert done_items(post_stream(http, sim, {"input": BIG}))[0]["content"][0]["text"] == "kept"


def test_the_compact_endpoint_returns_user_messages_then_one_compaction_item(
    sim: Simulator, http: httpx.Client
) -> None:
    answer = http.post(sim.base_url + "/responses/compact", json={"model": "m", "input": [*BIG, user("last")]})
    body = answer.json()
    assert answer.status_code == 200 and body["object"] == "response.compaction"
    assert [(i["type"], i.get("role")) for i in body["output"]] == [
        ("message", "user"),
        ("message", "user"),
        ("compaction", None),
    ]
    assert decode_compaction(body["output"][-1]["encrypted_content"])["summarized"] == 3
    assert {"input_tokens", "output_tokens", "total_tokens"} <= body["usage"].keys()


def test_the_compact_endpoint_can_be_missing(http: httpx.Client) -> None:
    with Simulator(compact_endpoint=False) as sim:
        answer = http.post(sim.base_url + "/responses/compact", json={"input": []})
        assert answer.status_code == 404
        assert answer.json()["error"]["message"] == "Invalid URL (POST /v1/responses/compact)"


def test_a_compaction_trigger_gets_exactly_one_compaction_item_then_completed(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.enqueue(Reply.text("ignored for a trigger"))
    events = post_stream(http, sim, {"model": "m", "input": [*BIG, {"type": "compaction_trigger"}]})
    (item,) = done_items(events)
    assert item["type"] == "compaction" and decode_compaction(item["encrypted_content"])["summarized"] == 2
    assert events[-1]["type"] == "response.completed"


def test_a_compaction_trigger_can_be_rejected(sim: Simulator, http: httpx.Client) -> None:
    sim.reject_compaction_trigger = True
    answer = http.post(sim.base_url + "/responses", json={"input": [user("x"), {"type": "compaction_trigger"}]})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_value"


def test_an_input_over_the_context_window_is_rejected_on_both_endpoints(http: httpx.Client) -> None:
    with Simulator(context_window=500) as sim:
        for path in ("/responses", "/responses/compact"):
            answer = http.post(sim.base_url + path, json={"input": BIG})
            assert answer.status_code == 400
            assert answer.json()["error"]["code"] == "context_length_exceeded"
        assert http.post(sim.base_url + "/responses", json={"input": [user("small")]}).status_code == 200


def test_decode_compaction_ignores_foreign_content() -> None:
    assert decode_compaction("gAAAAB-real-encrypted-blob") is None
    assert decode_compaction("sim-compaction:!!!") is None
