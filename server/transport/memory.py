"""An in-memory transport: the real framing and bounded buffers, without processes or pipes.

``memory_transport()`` yields ``(transport, client)``; the server side is a normal :class:`Transport`
fed through the same :class:`LineSplitter` as stdio, the client side writes raw bytes and reads frames.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from . import OUTBOUND_BUFFER, Transport
from .framing import DEFAULT_MAX_FRAME, FrameTooLarge, LineSplitter

__all__ = ["MemoryClientEnd", "memory_transport"]


@dataclass
class MemoryClientEnd:
    """The peer's side: ``write`` raw bytes (any chunking), ``frames`` yields the server's lines."""

    _send: MemoryObjectSendStream[bytes]
    frames: MemoryObjectReceiveStream[bytes]

    async def write(self, data: bytes) -> None:
        await self._send.send(data)

    def close(self) -> None:
        """End of input, as stdin EOF."""
        self._send.close()


@asynccontextmanager
async def memory_transport(*, max_frame: int = DEFAULT_MAX_FRAME) -> AsyncIterator[tuple[Transport, MemoryClientEnd]]:
    chunk_send, chunk_recv = anyio.create_memory_object_stream[bytes](64)
    in_send, in_recv = anyio.create_memory_object_stream[bytes | FrameTooLarge](64)
    out_send, out_recv = anyio.create_memory_object_stream[bytes](OUTBOUND_BUFFER)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_pump, chunk_recv, in_send, max_frame)
        try:
            yield Transport(in_recv, out_send, max_frame), MemoryClientEnd(chunk_send, out_recv)
        finally:
            for stream in (out_send, chunk_send, in_recv, out_recv):
                stream.close()
            tg.cancel_scope.cancel()


async def _pump(
    chunks: MemoryObjectReceiveStream[bytes], send: MemoryObjectSendStream[bytes | FrameTooLarge], max_frame: int
) -> None:
    splitter = LineSplitter(max_frame)
    with send, chunks:
        async for chunk in chunks:
            for frame in splitter.feed(chunk):
                await send.send(frame)
        for frame in splitter.finish():
            await send.send(frame)
