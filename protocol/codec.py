"""Line codec for the wire: one JSON object per line, UTF-8, never a raw character that splits lines.

``encode_line`` (``encode_notification`` for server notifications, stamped with ``emittedAtMs``) and
``FrameTemplate`` are the only ways bytes for stdout are made. Every frame is one line for a splitter on the
``\n`` byte, for JavaScript ``readline`` and for Python ``str.splitlines``. ``str.splitlines`` splits on
``\n \r \v \f \x1c \x1d \x1e``, U+0085 (NEXT LINE), U+2028 and U+2029 (``readline`` on the last two too). The
ASCII ones are control characters, which msgspec always escapes; U+0085, U+2028 and U+2029 are legal raw inside
JSON strings, so they are escaped here. They can only occur inside strings in valid JSON, and their UTF-8
sequences cannot occur inside another character's, so a byte-level replacement is safe.
"""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec

from .jsonrpc import Envelope, Notification, RequestId

__all__ = ["FrameTemplate", "decode_envelope", "encode", "encode_line", "encode_notification", "request_id_in_head"]

_encoder = msgspec.json.Encoder()
_envelope_decoder = msgspec.json.Decoder(Envelope)
_LS = "\u2028".encode()
_PS = "\u2029".encode()
_LS_PS_LEAD = _LS[:2]  # both separators start with these two bytes: one scan rules both out
_NEL = "\u0085".encode()


def encode(obj: Any) -> bytes:
    """Encode one value as compact JSON with U+0085, U+2028 and U+2029 escaped."""
    data = _encoder.encode(obj)
    if data.isascii():  # the common case, and a scan at memory speed: all three are non-ASCII
        return data
    # Each two-byte search runs about 1 ms per MiB; the memchr on its first byte, ~100 times faster, lets most
    # large frames skip it (CJK or Latin text holds no 0xE2 or 0xC2 bytes unless it has such punctuation).
    # `bytes.find` rather than `in`: `in` first tries the needle as an int and pays for the TypeError.
    if data.find(b"\xe2") >= 0 and data.find(_LS_PS_LEAD) >= 0:
        data = data.replace(_LS, b"\\u2028").replace(_PS, b"\\u2029")
    if data.find(b"\xc2") >= 0 and data.find(_NEL) >= 0:
        data = data.replace(_NEL, b"\\u0085")
    return data


def encode_line(obj: Any) -> bytes:
    """Encode one message as a wire frame (JSON + ``\\n``)."""
    return encode(obj) + b"\n"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def encode_notification(method: str, params: Any) -> bytes:
    """A server notification's frame, stamped with ``emittedAtMs`` now."""
    return encode_line(Notification(method, params, _now_ms()))


_MARKER = "\0"  # no id or method ever holds a NUL, so its encoding marks the templated field alone
_MARKER_JSON = _encoder.encode(_MARKER)
_STAMP = b',"emittedAtMs":'
_STAMP_ZERO = _STAMP + b"0"


class FrameTemplate:
    """The frames of one notification whose params differ only in a single string field — a stream of deltas.

    The notification is encoded once with a marker in that field; each frame is then the encoded value spliced
    between the two halves: the same bytes ``encode_line`` would make, for a fraction of the cost (deltas are
    most of what a turn sends).
    """

    __slots__ = ("method", "_prefix", "_suffix")

    def __init__(self, method: str, params: msgspec.Struct, field: str) -> None:
        whole = encode_line(Notification(method, msgspec.structs.replace(params, **{field: _MARKER}), 0))
        body, stamp, end = whole.rpartition(_STAMP_ZERO)  # the stamp is the envelope's last key
        prefix, marker, suffix = body.partition(_MARKER_JSON)
        if not stamp or end != b"}\n" or not marker or _MARKER_JSON in suffix:
            raise ValueError(f"{field!r} of {method} cannot be templated: the marker is not unique")
        self.method = method
        self._prefix, self._suffix = prefix, suffix + _STAMP

    def frame(self, value: str) -> bytes:
        """The notification with ``value`` in the templated field, stamped with ``emittedAtMs`` now."""
        return b"%b%b%b%d}\n" % (self._prefix, encode(value), self._suffix, _now_ms())


def decode_envelope(line: bytes) -> Envelope:
    """Decode one inbound frame.

    Raises:
        msgspec.DecodeError: the line is not JSON (a parse error).
        msgspec.ValidationError: JSON, but not a message object (an invalid request).
    """
    return _envelope_decoder.decode(line)


# One top-level member with a scalar value (a string, number, true, false or null), and what follows it.
_STRING = rb'"(?:[^"\\\x00-\x1f]|\\.)*"'
_SCALAR_MEMBER = re.compile(
    rb"\s*(" + _STRING + rb")\s*:\s*(" + _STRING + rb"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
    rb"|true|false|null)\s*([,}])"
)


def request_id_in_head(head: bytes) -> RequestId | None:
    """The id of the request whose (too long to read) line starts with ``head``, or None when unsure.

    Only the members before the first object or array value are read: that is where a large ``params`` starts,
    and the rest of the line is never seen. The id counts only if ``method`` is among them too (a request, not
    a client's reply to a server request, whose id is ours) and appears once.
    """
    body = head.lstrip()
    if not body.startswith(b"{"):
        return None
    members: list[tuple[bytes, bytes]] = []
    pos = 1
    while match := _SCALAR_MEMBER.match(body, pos):
        members.append((match[1], match[2]))
        if match[3] == b"}":
            break
        pos = match.end()
    ids = [value for key, value in members if key == b'"id"']
    if len(ids) != 1 or not any(key == b'"method"' and value.startswith(b'"') for key, value in members):
        return None
    try:
        value = msgspec.json.decode(ids[0])
    except msgspec.DecodeError:  # a number out of range (1e400): no id we could answer
        return None
    return value if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)) else None
