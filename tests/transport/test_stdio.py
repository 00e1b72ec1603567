"""The stdio transport over real pipes: order, backpressure, and leaving the descriptor as it found it."""

from __future__ import annotations

import os
import socket
import tempfile
import threading

import anyio
import pytest

from server.transport.stdio import _PipeWriter, _ThreadWriter, _writer_for, stdio_transport

pytestmark = pytest.mark.anyio


def read_all(fd: int, into: bytearray, done: threading.Event) -> None:
    while chunk := os.read(fd, 65536):
        into += chunk
    done.set()


async def test_frames_reach_a_pipe_in_order_and_the_pipe_is_left_blocking() -> None:
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    received, done = bytearray(), threading.Event()
    threading.Thread(target=read_all, args=(out_r, received, done), daemon=True).start()
    frames = [b'{"n":%d}\n' % i for i in range(5000)]
    with anyio.fail_after(10):
        async with stdio_transport(in_fd=in_r, out_fd=out_w) as transport:
            for frame in frames:
                await transport.outbound.send(frame)
    assert os.get_blocking(out_w)
    os.close(out_w)
    with anyio.fail_after(10):
        while not done.is_set():
            await anyio.sleep(0.01)
    assert bytes(received) == b"".join(frames)
    for fd in (in_r, in_w, out_r):
        os.close(fd)


async def test_a_client_that_stops_reading_holds_producers_back_until_it_reads_again() -> None:
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    frame = b"x" * 4095 + b"\n"
    sent = 0
    async with stdio_transport(in_fd=in_r, out_fd=out_w) as transport:
        with anyio.move_on_after(0.5):  # nobody reads: the pipe, then the outbound buffer, fill up
            while True:
                await transport.outbound.send(frame)
                sent += 1
        assert 0 < sent < 5000  # held back, not buffered without bound
        received, done = bytearray(), threading.Event()
        threading.Thread(target=read_all, args=(out_r, received, done), daemon=True).start()
        with anyio.fail_after(10):
            await transport.outbound.send(b"last\n")  # room again once the client reads
    os.close(out_w)
    with anyio.fail_after(10):
        while not done.is_set():
            await anyio.sleep(0.01)
    assert bytes(received) == frame * sent + b"last\n"
    for fd in (in_r, in_w, out_r):
        os.close(fd)


async def test_a_client_that_closes_its_end_ends_the_connection_and_no_sender_ever_fails() -> None:
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    os.close(out_r)  # gone before the first frame: the first write meets EPIPE
    with anyio.fail_after(10):
        async with stdio_transport(in_fd=in_r, out_fd=out_w) as transport:
            for n in range(200):
                await transport.outbound.send(b'{"n":%d}\n' % n)
            assert [frame async for frame in transport.inbound] == []  # ended as if stdin had closed
    for fd in (in_r, in_w, out_w):
        os.close(fd)


async def test_pipes_are_written_from_the_loop_and_files_by_a_thread() -> None:
    read_end, write_end = os.pipe()
    stdin_read, stdin_write = os.pipe()
    with tempfile.TemporaryFile() as file:
        pipe_writer = _writer_for(write_end, in_fd=stdin_read)
        file_writer = _writer_for(file.fileno(), in_fd=stdin_read)
        assert isinstance(pipe_writer, _PipeWriter) and isinstance(file_writer, _ThreadWriter)
        pipe_writer.close()
        assert os.get_blocking(write_end)
    for fd in (read_end, write_end, stdin_read, stdin_write):
        os.close(fd)


async def test_one_socket_for_stdin_and_stdout_stays_blocking() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        writer = _writer_for(ours.fileno(), in_fd=ours.fileno())
        assert isinstance(writer, _ThreadWriter)
        assert os.get_blocking(ours.fileno())  # the stdin reader thread shares this description


async def test_a_non_blocking_stdin_is_waited_on_not_taken_for_eof() -> None:
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    os.set_blocking(in_r, False)  # as a parent sharing the description might leave it
    async with stdio_transport(in_fd=in_r, out_fd=out_w) as transport:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.to_thread.run_sync, os.write, in_w, b'{"id":1}\n')
                assert await transport.inbound.receive() == b'{"id":1}'
    for fd in (in_r, in_w, out_r, out_w):
        os.close(fd)
