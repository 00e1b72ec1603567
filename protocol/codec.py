"""Line codec for the wire: one JSON object per line, UTF-8, never a raw U+2028/U+2029.

``encode_line`` is the only way bytes for stdout are made. Raw LINE SEPARATOR and PARAGRAPH SEPARATOR are
legal inside JSON strings but split lines in JavaScript ``readline`` and Python ``str.splitlines``, so they are
escaped. They can only occur inside strings in valid JSON, so a byte-level replacement is safe.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .jsonrpc import Envelope

__all__ = ["decode_envelope", "encode", "encode_line"]

_encoder = msgspec.json.Encoder()
_envelope_decoder = msgspec.json.Decoder(Envelope)
_LS = "\u2028".encode()
_PS = "\u2029".encode()


def encode(obj: Any) -> bytes:
    """Encode one value as compact JSON with U+2028/U+2029 escaped."""
    data = _encoder.encode(obj)
    if _LS in data:
        data = data.replace(_LS, b"\\u2028")
    if _PS in data:
        data = data.replace(_PS, b"\\u2029")
    return data


def encode_line(obj: Any) -> bytes:
    """Encode one message as a wire frame (JSON + ``\\n``)."""
    return encode(obj) + b"\n"


def decode_envelope(line: bytes) -> Envelope:
    """Decode one inbound frame.

    Raises:
        msgspec.DecodeError: the line is not JSON (a parse error).
        msgspec.ValidationError: JSON, but not a message object (an invalid request).
    """
    return _envelope_decoder.decode(line)
