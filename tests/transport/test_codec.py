"""The output codec: compact JSON lines with every line-breaking character escaped, whole or from a delta template."""

from __future__ import annotations

import random
import time

import msgspec
import pytest

from protocol._generated.types import AgentMessageDeltaNotification
from protocol.codec import FrameTemplate, encode_line, encode_notification, request_id_in_head
from protocol.jsonrpc import Notification


def test_line_and_paragraph_separators_are_escaped_on_output() -> None:
    frame = encode_line({"text": "a\u2028b\u2029c"})
    assert b"\xe2\x80\xa8" not in frame and b"\xe2\x80\xa9" not in frame
    assert msgspec.json.decode(frame) == {"text": "a\u2028b\u2029c"}


def test_a_frame_is_one_physical_line_whatever_the_text_holds() -> None:
    frame = encode_line({"text": "line1\nline2\r\x00\u2028"})
    assert frame.endswith(b"\n") and frame.count(b"\n") == 1
    assert msgspec.json.decode(frame) == {"text": "line1\nline2\r\x00\u2028"}


DELTA = AgentMessageDeltaNotification(thread_id="thr", turn_id="turn", item_id="item", delta="")

# Whatever this Python's str.splitlines splits on, found by asking it rather than trusting a list.
LINE_BREAKS = [c for c in map(chr, range(0x110000)) if len(f"a{c}b".splitlines()) > 1]


def _one_line_under_both_splitters(frame: bytes) -> bool:
    return frame.split(b"\n") == [frame[:-1], b""] and frame.decode().splitlines() == [frame[:-1].decode()]


def test_python_splits_lines_on_exactly_the_characters_the_codec_knows_of() -> None:
    assert LINE_BREAKS == list("\n\x0b\x0c\r\x1c\x1d\x1e\x85\u2028\u2029")


@pytest.mark.parametrize("char", LINE_BREAKS, ids=[f"U+{ord(c):04X}" for c in LINE_BREAKS])
def test_every_line_breaking_character_in_a_notification_arrives_as_one_physical_line(char: str) -> None:
    text = f"before{char}after {char}é{char}"
    whole = encode_notification("item/agentMessage/delta", msgspec.structs.replace(DELTA, delta=text))
    templated = FrameTemplate("item/agentMessage/delta", DELTA, "delta").frame(text)
    for frame in (whole, templated):
        assert _one_line_under_both_splitters(frame), frame
        assert msgspec.json.decode(frame)["params"]["delta"] == text


def _stamp(frame: bytes) -> int:
    return msgspec.json.decode(frame)["emittedAtMs"]


def test_a_frame_template_makes_exactly_the_bytes_of_encoding_the_whole_message() -> None:
    template = FrameTemplate("item/agentMessage/delta", DELTA, "delta")
    rng = random.Random(3)
    alphabet = ["a", " ", '"', "\\", "\n", "\x00", "é", "—", "\u2028", "\u2029", "😀", "\x7f"]
    for value in ["", *("".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(300))]:
        frame = template.frame(value)
        params = msgspec.structs.replace(DELTA, delta=value)
        assert frame == encode_line(Notification("item/agentMessage/delta", params, _stamp(frame))), value


def test_every_server_notification_is_stamped_with_the_time_it_was_sent_as_the_last_key() -> None:
    before = time.time_ns() // 1_000_000
    whole = encode_notification("thread/status/changed", {"threadId": "t", "status": {"type": "idle"}})
    templated = FrameTemplate("item/agentMessage/delta", DELTA, "delta").frame("x")
    after = time.time_ns() // 1_000_000
    for frame in (whole, templated):
        assert list(msgspec.json.decode(frame)) == ["method", "params", "emittedAtMs"]  # Codex's key order
        assert before <= _stamp(frame) <= after


def test_a_template_refuses_a_field_whose_marker_would_not_be_unique() -> None:
    with pytest.raises(ValueError, match="cannot be templated"):
        FrameTemplate("item/agentMessage/delta", msgspec.structs.replace(DELTA, thread_id="\x00"), "delta")


@pytest.mark.parametrize(("head", "request_id"), [
    (b'{"id":7,"method":"thread/start","params":{"baseInstructions":"xxxx', 7),
    (b' {"jsonrpc": "2.0", "method" : "turn/start", "id" : "a\\"b", "params": [', 'a"b'),
    (b'{"id":-3,"method":"x"}', -3),
    (b'{"params":{"id":3},"id":4,"method":"x"}', None),  # behind params: the line's end is never seen
    (b'{"id":7,"result":{"contentItems":[', None),  # a reply to a server request: the id is the server's own
    (b'{"id":1,"id":2,"method":"x","params":{', None),  # which one a decoder would keep is not ours to guess
    (b'{"id":true,"method":"x","params":{', None),
    (b'{"id":1.5,"method":"x","params":{', None),
    (b'{"id":1e400,"method":"x","params":{', None),
    (b'{"id":5,"method":"thread/st', None),  # cut inside a member
    (b'[{"id":1,"method":"x"}]', None),
    (b"not json at all", None),
])
def test_an_oversized_lines_request_id_is_read_from_its_leading_members_only(head: bytes, request_id: object) -> None:
    assert request_id_in_head(head) == request_id
