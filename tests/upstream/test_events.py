"""Stream events decode into tagged Structs; unknown types are skipped, malformed payloads are reported."""

from __future__ import annotations

import pytest

from server.upstream.events import (
    CompactionCompacting,
    ErrorEvent,
    MalformedEvent,
    OutputItemDone,
    OutputTextDelta,
    ResponseCompleted,
    UnknownEvent,
    decode_event,
)


def test_a_text_delta_decodes_with_its_indexes() -> None:
    event = decode_event(
        b'{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1",'
        b'"output_index":1,"content_index":0,"delta":"Hi","logprobs":[]}'
    )
    assert event == OutputTextDelta(delta="Hi", item_id="msg_1", output_index=1, content_index=0, sequence_number=4)


def test_output_items_stay_plain_dicts_so_they_replay_verbatim() -> None:
    raw = b'{"type":"response.output_item.done","output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAA","future_field":[1]}}'
    event = decode_event(raw)
    assert isinstance(event, OutputItemDone)
    assert event.item == {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [],
        "encrypted_content": "gAAA",
        "future_field": [1],
    }


def test_completed_usage_exposes_cached_and_reasoning_tokens() -> None:
    event = decode_event(
        '{"type":"response.completed","response":{"id":"r1","status":"completed","usage":{"input_tokens":100,'
        '"input_tokens_details":{"cached_tokens":40},"output_tokens":20,'
        '"output_tokens_details":{"reasoning_tokens":5},"total_tokens":120}}}'
    )
    assert isinstance(event, ResponseCompleted) and event.response.usage is not None
    usage = event.response.usage
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens, usage.reasoning_tokens) == (100, 40, 20, 5)
    assert usage.total_tokens == 120


def test_fields_compatible_servers_omit_get_defaults() -> None:
    event = decode_event('{"type":"response.compaction.compacting"}')
    assert event == CompactionCompacting(item_id="", output_index=0, sequence_number=None)


def test_error_events_expose_flat_or_nested_fields_alike() -> None:
    flat = decode_event('{"type":"error","code":"server_error","message":"boom","param":null}')
    nested = decode_event('{"type":"error","error":{"code":"server_error","message":"boom"}}')
    assert isinstance(flat, ErrorEvent) and isinstance(nested, ErrorEvent)
    assert flat.fields()["code"] == nested.fields()["code"] == "server_error"


def test_unknown_event_types_decode_to_unknown_instead_of_failing() -> None:
    assert decode_event('{"type":"response.web_search_call.searching","x":1}') == UnknownEvent(
        type="response.web_search_call.searching"
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"no_type": 1}', "no string `type`"),
        ('{"type": 3}', "no string `type`"),
        ('{"type":"response.output_text.delta"}', "unexpected shape"),
    ],
)
def test_malformed_payloads_raise_a_clear_error_without_echoing_the_payload(payload: str, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason) as caught:
        decode_event(payload)
    assert payload not in str(caught.value)
