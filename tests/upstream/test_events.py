"""Stream events decode into tagged Structs; unknown types are skipped, malformed payloads are reported, and
invalid text (bad UTF-8, lone surrogates) is repaired instead of losing its event."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.upstream.events import (
    CompactionCompacting,
    ErrorEvent,
    MalformedEvent,
    OutputItemDone,
    OutputTextDelta,
    ReasoningSummaryTextDelta,
    ResponseCompleted,
    UnknownEvent,
    decode_event,
    join_split_pairs,
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


def ascii_json_string(text: str) -> bytes:
    """`text` as a JSON string escaping every non-ASCII UTF-16 code unit, as Python's `json.dumps` does; a lone
    surrogate (half of a pair cut off) is escaped on its own, as such servers send it."""
    units = text.encode("utf-16-le", "surrogatepass")
    out = []
    for index in range(0, len(units), 2):
        code = int.from_bytes(units[index:index + 2], "little")
        char = chr(code)
        out.append(char if code < 0x80 and char not in '"\\' and code >= 0x20 else f"\\u{code:04x}")
    return ('"' + "".join(out) + '"').encode()


def delta_event(delta: bytes) -> bytes:
    return b'{"type":"response.output_text.delta","item_id":"msg_1","delta":' + delta + b"}"


def test_a_completed_response_carries_every_output_item_in_order() -> None:
    event = decode_event(b'{"type":"response.completed","response":{"id":"r1","output":[{"type":"message","id":"m"},'
                         b'{"type":"function_call","id":"f"}]}}')
    assert isinstance(event, ResponseCompleted) and not event.repaired
    assert [item["id"] for item in event.response.output or []] == ["m", "f"]
    assert decode_event(b'{"type":"response.completed","response":{"id":"r1"}}').response.output is None  # type: ignore[union-attr]


def test_an_invalid_utf8_byte_becomes_a_replacement_character_instead_of_losing_the_event() -> None:
    event = decode_event(delta_event(b'"q\xffr"'))
    assert event == OutputTextDelta(delta="q\ufffdr", item_id="msg_1", repaired=True)
    item = decode_event(b'{"type":"response.output_item.done","item":{"type":"message","text":"q\xffr"}}')
    assert isinstance(item, OutputItemDone) and item.repaired and item.item["text"] == "q\ufffdr"


def test_a_lone_surrogate_in_an_item_becomes_a_replacement_character_and_pairs_and_escaped_backslashes_stay() -> None:
    raw = rb'{"type":"response.output_item.done","item":{"text":"\ud83d|\\ud83d|\ud83d\ude00|\ude00"}}'
    event = decode_event(raw)
    assert isinstance(event, OutputItemDone) and event.repaired
    assert event.item["text"] == "\ufffd|\\ud83d|\U0001f600|\ufffd"


def test_a_delta_keeps_a_lone_surrogate_so_the_halves_of_a_split_pair_join_again() -> None:
    first, second = decode_event(delta_event(rb'"Done \ud83d"')), decode_event(delta_event(rb'"\ude00 see"'))
    assert isinstance(first, OutputTextDelta) and isinstance(second, OutputTextDelta)
    assert first.repaired and second.repaired
    shown, held = join_split_pairs("", first.delta)
    assert (shown, held) == ("Done ", "\ud83d")
    assert join_split_pairs(held, second.delta) == ("\U0001f600 see", "")


def test_a_surrogate_that_never_finds_its_other_half_is_shown_as_a_replacement_character() -> None:
    assert join_split_pairs("\ud83d", "x") == ("\ufffdx", "")
    assert join_split_pairs("", "a\ude00b") == ("a\ufffdb", "")
    summary = decode_event(b'{"type":"response.reasoning_summary_text.delta","delta":"\\udc00"}')
    assert isinstance(summary, ReasoningSummaryTextDelta) and join_split_pairs("", summary.delta) == ("\ufffd", "")


@given(text=st.text(max_size=30), cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_text_cut_anywhere_between_utf16_code_units_is_shown_whole_once_the_deltas_are_joined(
    text: str, cuts: list[int]
) -> None:
    units = len(text.encode("utf-16-le")) // 2
    bounds = sorted({0, units, *(c % (units + 1) for c in cuts)})
    utf16 = text.encode("utf-16-le")
    shown, held = [], ""
    for start, end in zip(bounds, bounds[1:], strict=False):
        piece = utf16[2 * start:2 * end].decode("utf-16-le", "surrogatepass")
        event = decode_event(delta_event(ascii_json_string(piece)))
        assert isinstance(event, OutputTextDelta)
        part, held = join_split_pairs(held, event.delta) if event.repaired or held else (event.delta, held)
        shown.append(part)
    assert held == "" and "".join(shown) == text


def test_a_payload_still_broken_once_its_text_is_repaired_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="not valid JSON"):
        decode_event(b'{"type":"response.output_text.delta","delta":"\xff')
