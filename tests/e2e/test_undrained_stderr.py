"""A client that never reads the daemon's stderr cannot stall it.

The daemon runs as a real subprocess with stderr on a pipe nobody reads, at ``THREADLINE_LOG=debug``, and is made
to write far more than the pipe holds (64 KiB): log records, stray prints and stray writes to fd 1. It keeps
answering, and exits promptly on stdin EOF and on SIGTERM, because nothing it writes to stderr waits for room.
A stderr pipe left non-blocking by the client (Node does that) loses none of it once it is read.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import msgspec
import pytest
from anyio.abc import ByteReceiveStream, Process

pytestmark = pytest.mark.anyio

_INIT = b'{"id":1,"method":"initialize","params":{"clientInfo":{"name":"e2e","version":"1.0"}}}\n'
_PIPE_SIZE = 64 * 1024  # Linux's default pipe capacity: what an unread stderr holds before writes would block

# Every request handler also prints 2 KiB to sys.stdout and writes 2 KiB to fd 1 (both go to stderr while serving).
_NOISY = """
import os, sys
from server.rpc.router import Router
_call = Router.call
async def noisy(self, ctx, method, params):
    print("p" * 2047)
    os.write(1, b"w" * 2047 + b"\\n")
    return await _call(self, ctx, method, params)
Router.call = noisy
from server.cli import main
sys.exit(main(["app-server", "--listen", "stdio://"]))
"""


@asynccontextmanager
async def _daemon(tmp_path: Path, cmd: list[str]) -> AsyncIterator[Process]:
    env = {**os.environ, "THREADLINE_HOME": str(tmp_path / "home"), "THREADLINE_LOG": "debug"}
    process = await anyio.open_process(cmd, env=env, stderr=subprocess.PIPE)  # stderr: never read while it runs
    try:
        yield process
    finally:
        if process.returncode is None:  # a hung daemon must fail the test, not hang it
            process.kill()
        with anyio.CancelScope(shield=True), anyio.fail_after(10):
            await process.wait()
            await process.aclose()


async def _answer(stdout: ByteReceiveStream, buffer: bytearray, request_id: int) -> dict[str, object]:
    """Read stdout until the answer to ``request_id``."""
    while True:
        line, newline, rest = bytes(buffer).partition(b"\n")
        if newline:
            buffer[:] = rest
            message = msgspec.json.decode(line)
            if message.get("id") == request_id:
                return message
            continue
        buffer += await stdout.receive()


async def _stop(process: Process, how: str) -> None:
    assert process.stdin
    if how == "stdin EOF":
        await process.stdin.aclose()
    else:
        process.send_signal(signal.SIGTERM)
    # A 2 s grace for requests in flight, one more second absorbs a loaded machine.
    with anyio.fail_after(3):
        assert await process.wait() == 0


async def _stderr_after_exit(process: Process) -> bytes:
    assert process.stderr
    with anyio.fail_after(10):
        return b"".join([chunk async for chunk in process.stderr])


@pytest.mark.parametrize("how", ["stdin EOF", "SIGTERM"])
async def test_a_daemon_whose_stderr_is_never_read_keeps_answering_and_exits_promptly(tmp_path: Path, how: str) -> None:
    async with _daemon(tmp_path, [sys.executable, "-m", "server", "app-server"]) as process:
        assert process.stdin and process.stdout
        out = bytearray()
        await process.stdin.send(_INIT)
        with anyio.fail_after(20):
            await _answer(process.stdout, out, 1)
        # Each reply to a server request that was never sent is logged as a warning: ~100 bytes of stderr apiece.
        strays = b"".join(b'{"id":%d,"result":{}}\n' % (900000 + n) for n in range(5000))
        with anyio.fail_after(20):
            await process.stdin.send(strays)
            for request_id in range(2, 12):
                await process.stdin.send(b'{"id":%d,"method":"thread/loaded/list","params":{}}\n' % request_id)
                assert (await _answer(process.stdout, out, request_id))["result"] == {"data": [], "nextCursor": None}
        await _stop(process, how)
        assert len(await _stderr_after_exit(process)) >= _PIPE_SIZE  # the unread pipe really was full


async def test_handlers_that_print_and_write_fd_1_never_wait_for_an_unread_stderr(tmp_path: Path) -> None:
    async with _daemon(tmp_path, [sys.executable, "-c", _NOISY]) as process:
        assert process.stdin and process.stdout
        out = bytearray()
        await process.stdin.send(_INIT)
        with anyio.fail_after(30):
            await _answer(process.stdout, out, 1)
            for request_id in range(2, 202):  # 4 KiB of stray output each: 800 KiB in all
                await process.stdin.send(b'{"id":%d,"method":"thread/loaded/list","params":{}}\n' % request_id)
                assert "result" in await _answer(process.stdout, out, request_id)
        await _stop(process, "stdin EOF")
        assert len(await _stderr_after_exit(process)) >= _PIPE_SIZE


async def test_a_non_blocking_stderr_read_late_gets_every_record_the_daemon_logged(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # the description the daemon inherits as fd 2, as a Node parent leaves it
    env = {**os.environ, "THREADLINE_HOME": str(tmp_path / "home")}
    try:
        process = await anyio.open_process([sys.executable, "-m", "server", "app-server"], env=env, stderr=write_fd)
    finally:
        os.close(write_fd)
    async with process, anyio.create_task_group() as tg:
        assert process.stdin and process.stdout
        out = bytearray()
        # 3000 warnings of ~100 bytes: four times what the pipe holds, well within what the daemon buffers.
        strays = b"".join(b'{"id":%d,"result":{}}\n' % (900000 + n) for n in range(3000))
        with anyio.fail_after(20):
            await process.stdin.send(_INIT + strays + b'{"id":2,"method":"thread/loaded/list","params":{}}\n')
            await _answer(process.stdout, out, 2)  # every stray reply is logged by now; the pipe is full
        err = bytearray()
        tg.start_soon(_read_to_eof, read_fd, err)  # only now does anyone read stderr
        await _stop(process, "stdin EOF")
    lines = bytes(err).splitlines()
    assert sum(b"reply to unknown or abandoned server request" in line for line in lines) == 3000
    assert all(_LOG_LINE.match(line) for line in lines)  # none torn
    assert b"dropped:" not in err  # and nothing dropped


_LOG_LINE = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


async def _read_to_eof(fd: int, received: bytearray) -> None:
    os.set_blocking(fd, False)
    try:
        with anyio.fail_after(20):
            while True:
                await anyio.wait_readable(fd)
                if not (chunk := os.read(fd, 1 << 20)):
                    return
                received += chunk
    finally:
        os.close(fd)
