"""The SSE parser is a pure function over lines (WHATWG event-stream rules; our choice to surface [DONE])."""

from __future__ import annotations

from server.upstream.sse import SseMessage, SseParser, parse_lines, split_lines


def parse(text: str) -> list[SseMessage]:
    return list(parse_lines(split_lines(text)))


def test_a_blank_line_dispatches_the_data_and_event_fields() -> None:
    assert parse("event: response.created\ndata: {}\n\n") == [SseMessage(data="{}", event="response.created")]


def test_multiple_data_lines_join_with_newlines() -> None:
    assert parse("data: a\ndata: b\ndata:\ndata: c\n\n")[0].data == "a\nb\n\nc"


def test_only_one_space_after_the_colon_is_dropped() -> None:
    assert parse("data:x\n\ndata:  y\n\n") == [SseMessage("x"), SseMessage(" y")]


def test_comments_are_ignored_and_do_not_dispatch() -> None:
    assert parse(": keep-alive\n\n: another\ndata: 1\n\n") == [SseMessage("1")]


def test_crlf_and_lone_cr_terminators_parse_like_lf() -> None:
    expected = [SseMessage("1", event="e"), SseMessage("2")]
    assert parse("event: e\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n") == expected
    assert parse("event: e\rdata: 1\r\rdata: 2\r\r") == expected


def test_lines_keep_working_when_fed_with_their_terminators() -> None:
    parser = SseParser()
    assert parser.feed("data: x\r\n") is None
    assert parser.feed("\r\n") == SseMessage("x")


def test_a_message_without_data_is_not_dispatched_and_event_does_not_leak() -> None:
    assert parse("event: lonely\n\ndata: next\n\n") == [SseMessage("next")]


def test_an_unterminated_last_message_is_dropped_and_reported_pending() -> None:
    parser = SseParser()
    assert [m for line in ["data: 1", "", "data: half"] if (m := parser.feed(line))] == [SseMessage("1")]
    assert parser.pending


def test_done_sentinel_is_a_message_marked_done() -> None:
    (message,) = parse("data: [DONE]\n\n")
    assert message.done
    assert not SseMessage("{}").done


def test_id_persists_across_messages_and_retry_must_be_digits() -> None:
    messages = parse("id: 7\nretry: 100\ndata: a\n\nretry: soon\ndata: b\n\n")
    assert [(m.id, m.retry) for m in messages] == [("7", 100), ("7", None)]


def test_a_field_without_colon_and_unknown_fields_are_handled_per_spec() -> None:
    assert parse("data\n\nfoo: bar\ndata: z\n\n") == [SseMessage(""), SseMessage("z")]
