"""The output codec: compact JSON lines with U+2028/U+2029 escaped, whole or from a delta template."""

from __future__ import annotations

import random
import time

import msgspec
import pytest

from protocol._generated.types import AgentMessageDeltaNotification
from protocol.codec import FrameTemplate, encode_line, encode_notification
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
