"""The real daemon as a subprocess over real pipes, driven by the typed client, for fault and crash tests.

`spawn_daemon(home, base_url)` starts `python -m server -c ... app-server --listen stdio://` pointed at a
simulator, initializes it (experimental API on) and yields a `Daemon`: the process, the client, switches to
stop and resume reading its stdout (a slow reader), a hook called on every message the client receives (the
crash test kills from there), and `close_stdin` / `kill`. Leaving the block always reaps the process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

from protocol.client import AppServerClient
from tests.harness import SIM_ENV, sim_overrides

__all__ = ["Daemon", "ROOT", "spawn_daemon"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Daemon:
    process: Process
    client: AppServerClient = field(init=False)
    on_message: Callable[[dict[str, Any]], None] | None = None
    received: int = 0
    stdout_bytes: int = 0
    _reading: anyio.Event = field(default_factory=anyio.Event)

    def __post_init__(self) -> None:
        self._reading.set()

    def pause_reading(self) -> None:
        """Stop reading stdout: the daemon's writes back up into the pipe."""
        self._reading = anyio.Event()

    def resume_reading(self) -> None:
        self._reading.set()

    def kill(self) -> None:
        """SIGKILL, now: no handler, no flush, no goodbye."""
        if self.process.returncode is None:
            self.process.kill()

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()

    async def _frames(self) -> AsyncIterator[bytes]:
        assert self.process.stdout is not None
        buffer = b""
        while True:
            await self._reading.wait()
            try:
                chunk = await self.process.stdout.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            self.stdout_bytes += len(chunk)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    yield line

    def _seen(self, message: dict[str, Any]) -> None:
        self.received += 1
        if self.on_message is not None:
            self.on_message(message)

    async def _send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(data)


def daemon_command(base_url: str, **provider: object) -> list[str]:
    flags = [part for override in sim_overrides(base_url, **provider) for part in ("-c", override)]
    return [sys.executable, "-m", "server", *flags, "app-server", "--listen", "stdio://"]


@asynccontextmanager
async def spawn_daemon(home: Path, base_url: str, *, stderr: Path | None = None, initialize: bool = True,
                       **provider: object) -> AsyncIterator[Daemon]:
    env = {**os.environ, **SIM_ENV, "THREADLINE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    with open(stderr or os.devnull, "ab") as err:
        process = await anyio.open_process(daemon_command(base_url, **provider), env=env, cwd=ROOT, stderr=err)
    daemon = Daemon(process)
    daemon.client = AppServerClient(daemon._send, daemon._frames())
    daemon.client.on_message = daemon._seen
    try:
        async with daemon.client.running():
            if initialize:
                with anyio.fail_after(30):
                    await daemon.client.initialize(name="fault_tests", version="1.0")
            yield daemon
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                try:
                    await daemon.close_stdin()
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    pass
                with anyio.move_on_after(5):
                    await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()
