"""Transports move frames between a peer and the connection; they know nothing of JSON-RPC.

A :class:`Transport` is a pair of streams: ``inbound`` yields frames (one line each, or a
:class:`~server.transport.framing.FrameTooLarge` marker) and ends at the peer's EOF; ``outbound`` takes
newline-terminated frames and is drained by exactly one writer task. Its buffer is bounded: when the peer stops
reading, producers wait instead of growing memory. ``max_frame`` bounds a line both ways: longer inbound lines
become markers, and the connection sends nothing longer either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from anyio.streams.memory import MemoryObjectReceiveStream

from .framing import DEFAULT_MAX_FRAME, FrameTooLarge, LineSplitter

__all__ = ["DEFAULT_MAX_FRAME", "OUTBOUND_BUFFER", "FrameSink", "FrameTooLarge", "LineSplitter", "Transport"]

OUTBOUND_BUFFER = 1024
"""Frames the writer may lag behind producers before they wait."""


class FrameSink(Protocol):
    """Where the connection sends frames: an anyio memory send stream, or stdio's `Outbox`."""

    def send_nowait(self, frame: bytes, /) -> None:
        """Queue now; `anyio.WouldBlock` when full, `anyio.ClosedResourceError` once closed."""

    async def send(self, frame: bytes, /) -> None:
        """Queue, waiting while full."""

    def close(self) -> None: ...


@dataclass
class Transport:
    inbound: MemoryObjectReceiveStream[bytes | FrameTooLarge]
    outbound: FrameSink
    max_frame: int = DEFAULT_MAX_FRAME
