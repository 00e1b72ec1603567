"""The daemon as a real subprocess over real pipes: handshake, stdout purity, EOF and SIGTERM exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import msgspec
import pytest

pytestmark = pytest.mark.anyio

_INIT = b'{"id":1,"method":"initialize","params":{"clientInfo":{"name":"e2e","version":"1.0"}}}\n'

# Wraps every request handler with stray writes to stdout, from Python and at the file-descriptor level.
_NOISY = """
import os, sys
from server.rpc.router import Router
_call = Router.call
async def noisy(self, ctx, method, params):
    print("stray print from a handler")
    os.write(1, b"stray bytes on fd 1\\n")
    return await _call(self, ctx, method, params)
Router.call = noisy
from server.cli import main
sys.exit(main(["app-server", "--listen", "stdio://"]))
"""


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "THREADLINE_HOME": str(home), "PYTHONUNBUFFERED": "1"}


async def _read_lines(stream: anyio.abc.ByteReceiveStream, count: int) -> list[bytes]:
    buffer = b""
    while buffer.count(b"\n") < count:
        buffer += await stream.receive()
    return buffer.split(b"\n")[:count]


async def test_handshake_over_real_pipes_returns_our_user_agent(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "server", "app-server", "--listen", "stdio://"]
    async with await anyio.open_process(cmd, env=_env(tmp_path / "home")) as process:
        assert process.stdin and process.stdout
        await process.stdin.send(_INIT)
        with anyio.fail_after(20):
            (line,) = await _read_lines(process.stdout, 1)
        result = msgspec.json.decode(line)["result"]
        assert result["userAgent"].startswith("threadline/")
        assert result["platformFamily"] in ("unix", "windows")
        await process.stdin.aclose()
        with anyio.fail_after(10):
            assert await process.wait() == 0


async def test_stdout_carries_only_json_lines_even_when_a_handler_prints(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", _NOISY]
    async with await anyio.open_process(cmd, env=_env(tmp_path / "home"), stderr=subprocess.PIPE) as process:
        assert process.stdin and process.stdout and process.stderr
        await process.stdin.send(_INIT + b'{"method":"initialized"}\n{"id":2,"method":"thread/loaded/list","params":{}}\n')
        await process.stdin.aclose()
        with anyio.fail_after(20):
            out = b"".join([chunk async for chunk in process.stdout])
            err = b"".join([chunk async for chunk in process.stderr])
            await process.wait()
    lines = [line for line in out.split(b"\n") if line]
    assert [msgspec.json.decode(line)["id"] for line in lines] == [1, 2]
    assert b"stray print from a handler" in err and b"stray bytes on fd 1" in err


async def test_stdin_eof_ends_the_process_cleanly_within_two_seconds(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "server", "app-server"]
    async with await anyio.open_process(cmd, env=_env(tmp_path / "home")) as process:
        assert process.stdin and process.stdout
        await process.stdin.send(_INIT)
        with anyio.fail_after(20):
            await _read_lines(process.stdout, 1)  # serving: start-up is behind us
        await process.stdin.aclose()
        # The EOF path is bounded by a 2 s grace; one more second absorbs a loaded machine.
        with anyio.fail_after(3):
            assert await process.wait() == 0


async def test_sigterm_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "server", "app-server"]
    async with await anyio.open_process(cmd, env=_env(tmp_path / "home")) as process:
        assert process.stdin and process.stdout
        await process.stdin.send(_INIT)
        with anyio.fail_after(20):
            await _read_lines(process.stdout, 1)
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(5):
            assert await process.wait() == 0


def test_an_unknown_listen_scheme_fails_at_start_up_with_a_clear_message(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "server", "app-server", "--listen", "ws://127.0.0.1:1"],
                          env=_env(tmp_path / "home"), capture_output=True, timeout=30, check=False)
    assert done.returncode == 2
    assert b"unsupported --listen URL 'ws://127.0.0.1:1'" in done.stderr
    assert done.stdout == b""


def test_version_and_help_work() -> None:
    version = subprocess.run([sys.executable, "-m", "server", "--version"], capture_output=True, timeout=30, check=True)
    assert version.stdout.startswith(b"threadline ")
    helped = subprocess.run([sys.executable, "-m", "server", "--help"], capture_output=True, timeout=30, check=True)
    assert b"app-server" in helped.stdout


async def test_sigterm_mid_turn_ends_the_turn_interrupted_persists_it_and_exits(tmp_path: Path) -> None:
    from protocol.client import AppServerClient
    from server.simulator import Gate, Reply, Simulator, Text
    from tests.harness import SIM_ENV, sim_overrides

    gate = Gate()
    home = tmp_path / "home"
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("a slow answer", 3)], stall_after=2, gate=gate))
        overrides = [arg for o in sim_overrides(sim.base_url) for arg in ("-c", o)]
        cmd = [sys.executable, "-m", "server", *overrides, "app-server"]
        async with AppServerClient.spawn(cmd, env={**_env(home), **SIM_ENV}) as client:
            await client.initialize()
            thread_id = (await client.request("thread/start", {}))["thread"]["id"]
            turn = (await client.request("turn/start", {"threadId": thread_id,
                                                        "input": [{"type": "text", "text": "go"}]}))["turn"]
            assert await gate.wait_reached_async(10)
            process = client.process
            assert process is not None
            process.send_signal(signal.SIGTERM)
            events = [e async for e in client.turn_events(turn["id"], timeout=10)]
            gate.release()
            assert events[-1]["params"]["turn"]["status"] == "interrupted"
            with anyio.fail_after(10):
                assert await process.wait() == 0
        async with AppServerClient.spawn([sys.executable, "-m", "server", *overrides, "app-server"],
                                         env={**_env(home), **SIM_ENV}) as client:
            await client.initialize()
            read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert [t["status"] for t in read["thread"]["turns"]] == ["interrupted"]
