"""The stderr writer over a real pipe: offers never wait, what does not fit is dropped and counted, the count is
reported once the pipe drains, records lost to a write error are counted and reported too, a non-blocking pipe loses nothing it accepted, and closing gives up on a pipe nobody
reads. Closing moves the stray descriptors' last bytes first and cleans them up; what is offered after close is
written at once when stderr has room and dropped (counted, never waited for) when it has none."""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import anyio
import msgspec
import pytest

from server.logs import StderrWriter, formatter_for

pytestmark = pytest.mark.anyio


@contextmanager
def _stderr(
    env: dict[str, str], *, blocking: bool = True, pipe_size: int | None = None, **options: int
) -> Iterator[tuple[StderrWriter, int]]:
    """A writer on a fresh pipe, and the pipe's read end (non-blocking). ``blocking=False`` makes the writer's end
    non-blocking, as a parent such as Node leaves stderr; ``pipe_size`` shrinks the pipe (Linux) so it fills at
    once."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, blocking)
    if pipe_size is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, pipe_size)
    writer = StderrWriter(write_fd, formatter=formatter_for(env), **options)
    try:
        yield writer, read_fd
    finally:
        os.close(read_fd)  # a writer still stuck on the pipe fails with EPIPE and finishes...
        writer.close(timeout=10)
        os.close(write_fd)  # ...before its descriptor number can be reused


async def _read(fd: int, received: bytearray) -> None:
    await anyio.wait_readable(fd)
    received += os.read(fd, 1 << 20)


async def test_a_full_pipe_drops_records_and_the_count_is_reported_once_it_drains() -> None:
    with _stderr({"LOG_FORMAT": "json"}, capacity=16 * 1024) as (writer, read_fd):
        record = b"r" * 1023 + b"\n"
        accepted = sum(writer.offer(record) for _ in range(1000))  # 1 MiB into a 64 KiB pipe nobody reads yet
        assert accepted < 1000  # the rest was dropped at once, not waited for
        received = bytearray()
        with anyio.fail_after(10):
            while received.count(record) < accepted or _reported(received) < 1000 - accepted:
                await _read(read_fd, received)
        assert received.count(record) == accepted  # every accepted record whole, none torn
        # Every dropped record is counted in exactly one notice (offers racing the first write may split them).
        assert _reported(received) == 1000 - accepted


async def test_records_a_write_error_kept_from_stderr_are_counted_and_reported_once_it_takes_writes_again() -> None:
    with _stderr({"LOG_FORMAT": "json"}) as (writer, read_fd):
        saved = os.dup(writer.fd)
        os.dup2(read_fd, writer.fd)  # the writer's descriptor is now a read end: its writes fail (EBADF)
        assert writer.offer(b"lost to a write error\n")
        writer.close()  # the writer thread has tried that write, and failed, before close returns
        os.dup2(saved, writer.fd)
        os.close(saved)
        assert writer.offer(b"written again\n")
        received = bytearray()
        with anyio.fail_after(10):
            while not received.endswith(b"}\n"):
                await _read(read_fd, received)
        written, notice = bytes(received).split(b"\n", 1)
        assert written == b"written again"
        message = msgspec.json.decode(notice)["message"]
        error = f"[Errno {errno.EBADF}] {os.strerror(errno.EBADF)}"
        assert message == f"1 log records lost: writing stderr failed ({error})"


async def test_a_non_blocking_stderr_gets_every_accepted_record_whole_and_in_order() -> None:
    # A 4 KiB pipe: the writer meets a full pipe (EAGAIN) again and again while the reader catches up.
    with _stderr({}, blocking=False, pipe_size=4096) as (writer, read_fd):
        records = [b"%05d " % n + b"x" * 1000 + b"\n" for n in range(300)]
        assert all(writer.offer(record) for record in records)  # 300 KiB: fits the queue, not the pipe
        received = bytearray()
        with anyio.fail_after(10):
            while len(received) < sum(map(len, records)):
                await _read(read_fd, received)
        assert received == b"".join(records)  # none lost, none torn, no drop notice


def _reported(received: bytearray) -> int:
    """The drop counts in the complete JSON notices received so far."""
    total = 0
    for line in received.split(b"\n")[:-1]:
        if line.startswith(b"{"):
            notice = msgspec.json.decode(line)
            assert notice["level"] == "warning"
            count, _, text = notice["message"].partition(" ")
            assert text == "log records dropped: stderr was not being read and its buffer was full"
            total += int(count)
    return total


async def test_closing_gives_up_on_a_pipe_nobody_reads_within_its_bound() -> None:
    with _stderr({}) as (writer, _read_fd):
        for _ in range(200):
            writer.offer(b"x" * 1023 + b"\n")  # 200 KiB: the writer thread is stuck on the full pipe
        with anyio.fail_after(5):
            await anyio.to_thread.run_sync(writer.close, 0.2, abandon_on_cancel=True)
        assert not writer.offer(b"after close\n")


async def test_closing_ends_a_writer_waiting_for_room_on_a_non_blocking_pipe_nobody_reads() -> None:
    others = set(threading.enumerate())
    with _stderr({}, blocking=False) as (writer, _read_fd):
        (thread,) = set(threading.enumerate()) - others
        for _ in range(200):
            writer.offer(b"x" * 1023 + b"\n")  # 200 KiB: the writer thread waits for room that never comes
        with anyio.fail_after(5):
            await anyio.to_thread.run_sync(writer.close, 0.2, abandon_on_cancel=True)
        assert not writer.offer(b"after close\n")
        thread.join(5)
        assert not thread.is_alive()  # given up by close, it ended at once: it is not left waiting for good


async def test_bytes_written_to_the_stray_descriptor_reach_stderr() -> None:
    with _stderr({}) as (writer, read_fd):
        os.write(writer.stray_fd(), b"stray bytes on fd 1\n")
        received = bytearray()
        with anyio.fail_after(10):
            while not received.endswith(b"\n"):
                await _read(read_fd, received)
        assert received == b"stray bytes on fd 1\n"


async def test_bytes_written_to_the_stray_descriptor_just_before_close_still_reach_stderr() -> None:
    with _stderr({}) as (writer, read_fd):
        os.write(writer.stray_fd(), b"last stray bytes\n")
        writer.close()  # at once: the stray pipe's thread may not have read them yet
        received = bytearray()
        with anyio.fail_after(10):
            while not received.endswith(b"\n"):
                await _read(read_fd, received)
        assert received == b"last stray bytes\n"  # and no drop notice


async def test_closing_the_writer_closes_its_stray_descriptors_and_ends_their_threads() -> None:
    others = set(threading.enumerate())
    with _stderr({}) as (writer, _read_fd):
        descriptors = _open_fds()
        for _ in range(3):
            writer.stray_fd()
        threads = set(threading.enumerate()) - others
        assert len(threads) == 4  # the writer and one per stray descriptor
        writer.close()
        for thread in threads:
            thread.join(5)
            assert not thread.is_alive()
        assert _open_fds() == descriptors  # both ends of each stray pipe are closed


def _open_fds() -> set[str]:
    if not os.path.isdir("/dev/fd"):
        pytest.skip("no /dev/fd to list open descriptors")
    return set(os.listdir("/dev/fd"))


async def test_a_record_offered_after_close_is_written_at_once_when_stderr_has_room() -> None:
    with _stderr({}) as (writer, read_fd):
        writer.close()
        assert writer.offer(b"logged after close\n")  # e.g. by a finalizer after logging.shutdown
        received = bytearray()
        with anyio.fail_after(10):
            await _read(read_fd, received)
        assert received == b"logged after close\n"


async def test_after_close_a_full_stderr_drops_records_at_once_and_says_so_when_it_takes_writes_again() -> None:
    with _stderr({"LOG_FORMAT": "json"}) as (writer, read_fd):
        writer.close()
        os.set_blocking(writer.fd, False)
        filler = 0
        with suppress(BlockingIOError):
            while True:
                filler += os.write(writer.fd, b"f" * 4096)
        os.set_blocking(writer.fd, True)  # a full pipe, written blocking: a plain write would wait for good
        with anyio.fail_after(5):
            assert not await anyio.to_thread.run_sync(writer.offer, b"no room\n", abandon_on_cancel=True)
        received = bytearray()
        with anyio.fail_after(10):
            while len(received) < filler:
                await _read(read_fd, received)
            assert writer.offer(b"room again\n")
            while not received.endswith(b"}\n"):
                await _read(read_fd, received)
        late, notice = bytes(received[filler:]).split(b"\n", 1)
        assert late == b"room again"
        message = msgspec.json.decode(notice)["message"]
        assert message == "1 log records dropped while exiting: stderr was not taking writes"
