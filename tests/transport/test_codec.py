"""The output codec: compact JSON lines with U+2028/U+2029 escaped."""

from __future__ import annotations

import msgspec

from protocol.codec import encode_line


def test_line_and_paragraph_separators_are_escaped_on_output() -> None:
    frame = encode_line({"text": "a\u2028b\u2029c"})
    assert b"\xe2\x80\xa8" not in frame and b"\xe2\x80\xa9" not in frame
    assert msgspec.json.decode(frame) == {"text": "a\u2028b\u2029c"}


def test_a_frame_is_one_physical_line_whatever_the_text_holds() -> None:
    frame = encode_line({"text": "line1\nline2\r\x00\u2028"})
    assert frame.endswith(b"\n") and frame.count(b"\n") == 1
    assert msgspec.json.decode(frame) == {"text": "line1\nline2\r\x00\u2028"}
