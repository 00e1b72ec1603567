"""How logging is set up in a real process: a daemon started with fd 2 closed sends its logs nowhere rather than
into the store (whatever file is opened next would get fd 2), and configuring logging twice leaves one writer.

Each runs as a real subprocess: a closed fd 2 and the threads of a process cannot be shown in the test's own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from protocol.client import AppServerClient
from server.simulator import Simulator
from tests.harness import SIM_ENV, sim_overrides

pytestmark = pytest.mark.anyio

HI = [{"type": "text", "text": "hi"}]

# Closes fd 2, then becomes the daemon: it starts as a client that never gave it a stderr would start it.
_WITHOUT_STDERR = "import os, sys; os.close(2); os.execv(sys.argv[1], sys.argv[1:])"

# A line of the default log format: "2026-12-05 22:49:51,123 INFO server.app: ...".
_LOG_LINE = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


async def test_a_daemon_started_with_fd_2_closed_serves_and_writes_no_log_line_into_its_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Simulator() as sim, anyio.fail_after(60):
        daemon = [sys.executable, "-m", "server", *[a for o in sim_overrides(sim.base_url) for a in ("-c", o)],
                  "app-server"]
        env = {**os.environ, **SIM_ENV, "THREADLINE_HOME": str(home), "THREADLINE_LOG": "debug"}
        async with AppServerClient.spawn([sys.executable, "-c", _WITHOUT_STDERR, *daemon], env=env) as client:
            await client.initialize()
            thread_id = (await client.request("thread/start", {}))["thread"]["id"]
            turn, _ = await client.run_turn({"threadId": thread_id, "input": HI})
            assert turn["status"] == "completed"
            process = client.process
            assert process is not None
        assert process.returncode == 0
        files = [path for path in home.rglob("*") if path.is_file()]
        assert files  # the store was written...
        for path in files:  # ...and none of its files got a log line (at debug, every request logs)
            data = path.read_bytes()
            assert not _LOG_LINE.search(data) and b"serving on stdio" not in data, path
        async with AppServerClient.spawn(daemon, env=env) as client:  # and it reads back whole
            await client.initialize()
            read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert [t["status"] for t in read["thread"]["turns"]] == ["completed"]


_OPENS_A_FILE_NEXT = """
import logging, sys
from server.logs import configure_logging
configure_logging({"THREADLINE_LOG": "debug"})
with open(sys.argv[1], "w") as store:  # the lowest free descriptor: fd 2, were logging still writing fd 2
    logging.getLogger("e2e").warning("a log line")
    logging.shutdown()  # the writer has written what it had before this returns, the file still open
    store.write("store data\\n")
"""


async def test_with_fd_2_closed_the_file_opened_right_after_logging_is_set_up_gets_no_log_line(tmp_path: Path) -> None:
    # In the daemon the stray pipe happens to take fd 2 before the store opens; this does not count on that order.
    store = tmp_path / "store"
    cmd = [sys.executable, "-c", _WITHOUT_STDERR, sys.executable, "-c", _OPENS_A_FILE_NEXT, str(store)]
    async with await anyio.open_process(cmd, env={**os.environ, "THREADLINE_HOME": str(tmp_path / "home")}) as process:
        with anyio.fail_after(20):
            assert await process.wait() == 0
    assert store.read_bytes() == b"store data\n"


_CONFIGURED_TWICE = """
import logging, sys, threading
from server.logs import configure_logging
configure_logging({})
logging.getLogger("e2e").warning("through the first writer")
configure_logging({})
logging.getLogger("e2e").warning("through the second writer")
threads = sorted(t.name for t in threading.enumerate() if t.name.startswith("threadline-"))
print("threads:", *threads, file=sys.stderr)
"""


async def test_configuring_logging_twice_leaves_one_writer_and_loses_nothing_the_first_had(tmp_path: Path) -> None:
    env = {**os.environ, "THREADLINE_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-c", _CONFIGURED_TWICE]
    async with await anyio.open_process(cmd, env=env, stderr=subprocess.PIPE) as process:
        assert process.stderr
        with anyio.fail_after(20):
            err = b"".join([chunk async for chunk in process.stderr])
            assert await process.wait() == 0, err.decode(errors="replace")
    assert [line.partition(" WARNING ")[2] or line for line in err.decode().splitlines()] == [
        "e2e: through the first writer",
        "e2e: through the second writer",
        "threads: threadline-stderr",  # the first writer's thread ended
    ]
