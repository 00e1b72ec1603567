"""What a process set up as the daemon is (logging on the stderr writer, fd 1 diverted into it) writes at the end
still reaches a stderr that is read: the last bytes written to fd 1 before a normal exit, and records logged after
``logging.shutdown`` (as finalizers and asyncio's "Task was destroyed" are); neither is reported as dropped.

Each runs as a real subprocess, set up with the same calls ``run_stdio`` makes, with its stderr read to EOF.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

pytestmark = pytest.mark.anyio

_SETUP = """
import logging, os
from server.logs import configure_logging
from server.transport.stdio import claim_stdout
writer = configure_logging({"THREADLINE_LOG": "info"})
claim_stdout(writer.stray_fd())
log = logging.getLogger("e2e")
"""

_LAST_WRITES = _SETUP + """
for n in range(2000):
    log.warning("record %d %s", n, "y" * 100)
print("printed last")
os.write(1, b"written to fd 1 last\\n")
logging.shutdown()  # what exit runs next (atexit), here at once: the interpreter's slack in between hides the race
"""

_AFTER_SHUTDOWN = _SETUP + """
log.warning("logged before shutdown")
logging.shutdown()
log.warning("logged after shutdown")
print("printed after shutdown")
print("fd 1 is /dev/null:", os.path.samestat(os.fstat(1), os.stat(os.devnull)))
os.write(1, b"f" * (1 << 20))  # more than any pipe holds: it must neither wait nor fail
"""


async def _run(tmp_path: Path, script: str) -> bytes:
    """Run ``script``; its stderr, read to EOF while it runs."""
    env = {**os.environ, "THREADLINE_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-c", script]
    async with await anyio.open_process(cmd, env=env, stderr=subprocess.PIPE) as process:
        assert process.stderr
        with anyio.fail_after(20):
            err = b"".join([chunk async for chunk in process.stderr])
            assert await process.wait() == 0, err.decode(errors="replace")
    return err


async def test_the_last_bytes_written_to_fd_1_reach_stderr_at_a_normal_exit_every_time(tmp_path: Path) -> None:
    # The loss was a race between fd 1's reader thread and exit (lost about every other run): five runs at once.
    errs: list[bytes] = []

    async def run(n: int) -> None:
        errs.append(await _run(tmp_path / str(n), _LAST_WRITES))

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(run, n)
    for err in errs:
        assert err.count(b" WARNING e2e: record ") == 2000
        assert b"printed last\n" in err
        assert err.endswith(b"written to fd 1 last\n")  # the last thing written, and nothing dropped after it
        assert b"dropped" not in err


async def test_records_logged_after_logging_shutdown_still_reach_a_stderr_that_is_read(tmp_path: Path) -> None:
    err = await _run(tmp_path, _AFTER_SHUTDOWN)
    lines = err.decode().splitlines()
    assert [line.partition(" WARNING ")[2] or line for line in lines] == [
        "e2e: logged before shutdown",
        "e2e: logged after shutdown",
        "printed after shutdown",
        "fd 1 is /dev/null: True",  # once closed, the writer no longer reads fd 1: a stray write goes nowhere
    ]
