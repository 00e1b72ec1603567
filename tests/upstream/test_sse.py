"""The SSE decoder is a pure function over body bytes (WHATWG event-stream rules; our choice to surface [DONE])."""

from __future__ import annotations

import random
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from server.upstream.sse import SseDecoder, SseMessage, parse_stream


def parse(text: str) -> list[SseMessage]:
    return parse_stream(text.encode())


def fed_in_pieces(body: bytes, cuts: list[int]) -> list[SseMessage]:
    decoder, messages, start = SseDecoder(), [], 0
    for cut in [*sorted(cuts), len(body)]:
        messages += decoder.feed(body[start:cut])
        start = cut
    return messages + decoder.finish()


def test_a_blank_line_dispatches_the_data_and_event_fields() -> None:
    assert parse("event: response.created\ndata: {}\n\n") == [SseMessage(data=b"{}", event="response.created")]


def test_multiple_data_lines_join_with_newlines() -> None:
    assert parse("data: a\ndata: b\ndata:\ndata: c\n\n")[0].data == b"a\nb\n\nc"


def test_only_one_space_after_the_colon_is_dropped() -> None:
    assert parse("data:x\n\ndata:  y\n\n") == [SseMessage(b"x"), SseMessage(b" y")]


def test_comments_are_ignored_and_do_not_dispatch() -> None:
    assert parse(": keep-alive\n\n: another\ndata: 1\n\n") == [SseMessage(b"1")]


def test_crlf_and_lone_cr_terminators_parse_like_lf() -> None:
    expected = [SseMessage(b"1", event="e"), SseMessage(b"2")]
    assert parse("event: e\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n") == expected
    assert parse("event: e\rdata: 1\r\rdata: 2\r\r") == expected


def test_a_crlf_split_between_two_chunks_is_one_line_end() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"\n\r") == []
    assert decoder.feed(b"\n") == [SseMessage(b"x")]
    assert not decoder.pending


def test_a_lone_cr_ending_the_body_still_ends_its_line() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: x\r\r") == []  # the second CR might yet be half of a CRLF
    assert decoder.finish() == [SseMessage(b"x")]


def test_every_way_of_cutting_a_body_into_chunks_decodes_the_same() -> None:
    body = b"event: a\r\ndata: 1\r\n\r\n: c\rdata: 2\rdata: 3\r\r" + "data: é\n\nid: 9\ndata: [DONE]\n\n".encode()
    whole = parse_stream(body)
    assert [m.data for m in whole] == [b"1", b"2\n3", "é".encode(), b"[DONE]"]
    for cut in range(len(body) + 1):
        assert fed_in_pieces(body, [cut]) == whole, cut
    rng = random.Random(7)
    for _ in range(300):
        assert fed_in_pieces(body, rng.sample(range(len(body) + 1), rng.randint(2, 12))) == whole


def test_a_message_without_data_is_not_dispatched_and_event_does_not_leak() -> None:
    assert parse("event: lonely\n\ndata: next\n\n") == [SseMessage(b"next")]


def test_an_unterminated_last_message_is_dropped_and_reported_pending() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: 1\n\ndata: half") == [SseMessage(b"1")]
    assert decoder.finish() == []
    assert decoder.pending


def test_done_sentinel_is_a_message_marked_done() -> None:
    (message,) = parse("data: [DONE]\n\n")
    assert message.done
    assert not SseMessage(b"{}").done


def test_id_persists_across_messages_and_retry_must_be_digits() -> None:
    messages = parse("id: 7\nretry: 100\ndata: a\n\nretry: soon\ndata: b\n\nid: x\0y\ndata: c\n\n")
    assert [(m.id, m.retry) for m in messages] == [("7", 100), ("7", None), ("7", None)]


def test_a_field_without_colon_and_unknown_fields_are_handled_per_spec() -> None:
    assert parse("data\n\nfoo: bar\ndata: z\n\n") == [SseMessage(b""), SseMessage(b"z")]


def test_a_large_message_arriving_in_many_pieces_is_one_message() -> None:
    payload = b'{"type":"response.output_item.done","text":"' + b"word " * 200_000 + b'"}'
    body = b"event: response.output_item.done\ndata: " + payload + b"\n\n"
    assert fed_in_pieces(body, list(range(65536, len(body), 65536))) == [
        SseMessage(payload, event="response.output_item.done")
    ]


def test_feeding_a_piece_of_a_long_line_allocates_in_proportion_to_the_piece_not_to_the_line() -> None:
    # The work a chunk costs is measured in bytes allocated, not seconds: a decoder that re-joined the unfinished
    # line on every chunk allocated the whole line so far each time (quadratic in an event tens of MiB long).
    piece, pieces = 4096, 1024  # one 4 MiB line
    payload = b'{"type":"response.completed","text":"' + b"x" * (piece * pieces) + b'"}'
    body = b"event: response.completed\ndata: " + payload + b"\n\n"
    chunks = [body[i:i + piece] for i in range(0, len(body), piece)]
    decoder, messages, worst = SseDecoder(), [], 0
    tracemalloc.start()
    try:
        for chunk in chunks:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            messages += decoder.feed(chunk)
            if chunk is not chunks[-1]:  # the last one ends the line: joining it once is the linear part
                worst = max(worst, tracemalloc.get_traced_memory()[1] - before)
    finally:
        tracemalloc.stop()
    assert messages == [SseMessage(payload, event="response.completed")]
    assert worst < 2 * piece, worst


_LINE_END = st.sampled_from([b"\n", b"\r\n", b"\r"])
_FIELD = st.one_of(
    st.builds(lambda v: b"data: " + v, st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))),
    st.sampled_from([b"event: response.output_text.delta", b"event:x", b": keep-alive", b"id: 3", b"retry: 10",
                     b"data", b"data:[DONE]", b""]),
)
_BODY = st.lists(st.tuples(_FIELD, _LINE_END), max_size=30).map(lambda lines: b"".join(f + e for f, e in lines))


@settings(max_examples=300, deadline=None)
@given(body=_BODY, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20))
def test_any_chunking_of_any_body_decodes_like_one_feed(body: bytes, cuts: list[int]) -> None:
    assert fed_in_pieces(body, [c % (len(body) + 1) for c in cuts]) == parse_stream(body)
    decoder, whole = SseDecoder(), SseDecoder()
    whole.feed(body)
    for index in range(len(body)):  # a byte at a time, the finest chunking there is
        decoder.feed(body[index:index + 1])
    assert decoder.pending == whole.pending
