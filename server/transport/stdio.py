"""The stdio transport: frames from stdin, frames to the original stdout.

While serving, fd 1 is pointed elsewhere (``divert_fd``: stderr, or the daemon's non-blocking stderr writer) and
``sys.stdout`` at ``sys.stderr``, so a stray ``print`` or a child process cannot corrupt the wire; only the single
writer task writes the saved wire descriptor. When the wire is a pipe or socket (how clients spawn us) it is
written non-blocking from the event loop; anything else (a terminal, a file) is written by a daemon thread. Stdin
is read by a daemon thread (a thread blocked on a pipe must never keep the process alive after shutdown). A client
that stops reading stalls the writer, which fills the bounded outbound buffer, which makes producers wait
(backpressure, not memory growth).
"""

from __future__ import annotations

import logging
import os
import queue
import select
import stat
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from . import OUTBOUND_BUFFER, Transport
from .framing import DEFAULT_MAX_FRAME, FrameTooLarge, LineSplitter
from .outbox import Outbox

__all__ = ["claim_stdout", "stdio_transport"]

logger = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
_WRITE_BATCH = 1024 * 1024


def claim_stdout(divert_fd: int = 2) -> int:
    """Take fd 1 for the wire, point fd 1 at ``divert_fd`` and ``sys.stdout`` at ``sys.stderr``. Returns the wire
    descriptor."""
    sys.stdout.flush()
    wire = os.dup(1)  # non-inheritable: children never get the wire
    os.dup2(divert_fd, 1)
    sys.stdout = sys.stderr
    return wire


@asynccontextmanager
async def stdio_transport(
    *, in_fd: int = 0, out_fd: int | None = None, max_frame: int = DEFAULT_MAX_FRAME, divert_fd: int = 2
) -> AsyncIterator[Transport]:
    """Serve stdin/stdout, or ``in_fd``/``out_fd``; without ``out_fd``, fd 1 is claimed (see `claim_stdout`)."""
    wire_fd = claim_stdout(divert_fd) if out_fd is None else out_fd
    in_send, in_recv = anyio.create_memory_object_stream[bytes | FrameTooLarge](64)
    outbox = Outbox(OUTBOUND_BUFFER, batch_bytes=_WRITE_BATCH)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_read_loop, in_fd, in_send, max_frame)
        writer_done = anyio.Event()
        tg.start_soon(_write_loop, _writer_for(wire_fd, in_fd=in_fd), outbox, in_send, writer_done)
        try:
            yield Transport(in_recv, outbox, max_frame)
        finally:
            # Let the writer flush what is queued, bounded, then stop reading.
            outbox.close()
            with anyio.move_on_after(2, shield=True):
                await writer_done.wait()
            in_recv.close()
            tg.cancel_scope.cancel()


async def _read_loop(fd: int, send: MemoryObjectSendStream[bytes | FrameTooLarge], max_frame: int) -> None:
    token = anyio.lowlevel.current_token()
    chunk_send, chunk_recv = anyio.create_memory_object_stream[bytes](4)

    def read_blocking() -> None:
        while True:
            try:
                chunk = os.read(fd, _READ_SIZE)
            except BlockingIOError:  # someone made our stdin non-blocking: wait for data instead of failing
                select.select([fd], [], [])
                continue
            except OSError as exc:
                logger.warning("stdin read failed: %s", exc)
                chunk = b""
            try:
                anyio.from_thread.run(chunk_send.send, chunk, token=token)
            except BaseException:  # noqa: BLE001 - the loop is gone, the stream closed or the send was cancelled:
                return  # we are shutting down, and nothing in this thread can act on it
            if not chunk:
                return

    threading.Thread(target=read_blocking, name="threadline-stdin", daemon=True).start()
    splitter = LineSplitter(max_frame)
    with send, chunk_recv, chunk_send:  # closing chunk_send ends the reader thread at its next chunk
        async for chunk in chunk_recv:
            if not chunk:
                break
            for frame in splitter.feed(chunk):
                await send.send(frame)
        for frame in splitter.finish():
            await send.send(frame)
    logger.debug("stdin reached EOF")


class _PipeWriter:
    """Writes a pipe or socket from the event loop itself, non-blocking: no thread hop and no GIL hand-off per
    write (they cost more than the write and, with the loop busy, waited up to a switch interval each)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._was_blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view):]
            except BlockingIOError:
                await anyio.wait_writable(self._fd)  # the client is behind: wait for room (backpressure)

    def close(self) -> None:
        try:
            os.set_blocking(self._fd, self._was_blocking)  # the description may outlive us (a shared pipe)
        except OSError:
            pass


class _ThreadWriter:
    """Writes on a daemon thread, for anything that is not a pipe or socket (a terminal or file is shared with
    other processes, so it must stay blocking). ``write`` awaits completion without tying up anyio's pool."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._token = anyio.lowlevel.current_token()
        self._jobs: queue.SimpleQueue[tuple[bytes, anyio.Event, list[OSError]]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="threadline-stdout", daemon=True).start()

    async def write(self, data: bytes) -> None:
        done = anyio.Event()
        errors: list[OSError] = []
        self._jobs.put((data, done, errors))
        await done.wait()
        if errors:
            raise errors[0]

    def close(self) -> None:
        pass  # the thread is a daemon blocked on its queue: it never keeps the process alive

    def _run(self) -> None:
        while True:
            data, done, errors = self._jobs.get()
            try:
                _write_all(self._fd, data)
            except OSError as exc:
                errors.append(exc)
            try:
                anyio.from_thread.run_sync(done.set, token=self._token)
            except Exception:
                return


def _writer_for(fd: int, *, in_fd: int = 0) -> _PipeWriter | _ThreadWriter:
    wire = os.fstat(fd)
    if os.name != "posix" or not (stat.S_ISFIFO(wire.st_mode) or stat.S_ISSOCK(wire.st_mode)):
        return _ThreadWriter(fd)
    for other in (in_fd, 2):
        try:
            same = os.path.samestat(os.fstat(other), wire)
        except OSError:
            continue
        if same:
            # One socket for stdin and stdout, or 2>&1 into the pipe: the non-blocking flag belongs to the shared
            # description, so it would reach the stdin reader or the logger too.
            return _ThreadWriter(fd)
    return _PipeWriter(fd)


async def _write_loop(
    writer: _PipeWriter | _ThreadWriter,
    outbox: Outbox,
    inbound: MemoryObjectSendStream[bytes | FrameTooLarge],
    done: anyio.Event,
) -> None:
    broken = False
    try:
        while (data := await outbox.take()) is not None:
            if broken:
                continue  # keep draining so producers never block on a dead peer
            try:
                await writer.write(data)
            except OSError as exc:
                logger.warning("stdout closed by the client (%s); shutting down", exc)
                broken = True
                inbound.close()  # ends the connection as if stdin had closed
    finally:
        writer.close()
        done.set()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
