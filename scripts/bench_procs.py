"""Processes for the streaming benchmarks: the simulator in a process of its own, and a daemon with its pid.

The simulator must not share a GIL with the client being timed, so `simulator()` runs this file with
`--serve-sim`: it prints its base URL, then obeys one command per stdin line (answering `ok`):
`words N COUNT` queues COUNT replies of N one-word deltas (`Text.words`); `stamped N DELAY COUNT LOCKSTEP`
queues COUNT replies of N deltas, each delta being the wall-clock nanosecond time it was sent (one clock for
every process on the machine), paced DELAY seconds apart — exactly (LOCKSTEP=1) or jittered 0..2×DELAY.
`daemon()` is `AppServerClient.spawn` that also yields the pid (for /proc figures: VmHWM, CPU time).
Used by `scripts/bench_turns.py`.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol.client import AppServerClient, lines_of  # noqa: E402
from server.simulator import Reply, Simulator, Text, Usage  # noqa: E402

KEY = "sk-bench"

# Daemons run with a bytecode cache, as an installed package does (this machine sets PYTHONDONTWRITEBYTECODE,
# which would recompile every module at each start); the cache lives in the temp dir, not the source tree.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "threadline-bench-pycache")


@dataclass(frozen=True)
class Stamped(Text):
    """A message whose every delta is the nanosecond wall-clock time it was produced, then a space.

    With `jitter`, each delta first waits a random 0..2×`jitter` seconds (mean `jitter`): independent streams,
    as real ones are, rather than 50 streams ticking in lockstep."""

    jitter: float = 0.0

    def pieces(self) -> Any:  # a generator: each stamp is taken as the simulator is about to send it
        sent, rng = [], random.Random()
        for _ in range(self.deltas):
            if self.jitter:
                time.sleep(rng.uniform(0, 2 * self.jitter))  # pacing a stream is the simulator's job
            sent.append(f"{time.time_ns()} ")
            yield sent[-1]
        object.__setattr__(self, "text", "".join(sent))  # the done event then carries exactly what streamed


def serve_sim() -> None:
    """`--serve-sim`: print the base URL, then obey `words N COUNT` / `stamped N DELAY COUNT LOCKSTEP` lines."""
    with Simulator() as sim:
        print(sim.base_url, flush=True)
        for line in sys.stdin:
            kind, *args = line.split()
            if kind == "words":
                n, count = int(args[0]), int(args[1])
                sim.enqueue(*[Reply(output=[Text.words(n)], usage=Usage(1000, n)) for _ in range(count)])
            elif kind == "stamped":
                n, delay, count, lockstep = int(args[0]), float(args[1]), int(args[2]), args[3] == "1"
                # event_delay also makes the simulator flush every event at once instead of batching 16 KiB
                pace = {"event_delay": delay} if lockstep else {"event_delay": 1e-6}
                sim.enqueue(*[Reply(output=[Stamped("", n, jitter=0.0 if lockstep else delay)],
                                    usage=Usage(1000, n), **pace) for _ in range(count)])
            print("ok", flush=True)


class SimProcess:
    def __init__(self, process: Any) -> None:
        self.process = process
        self.buffer = b""
        self.base_url = ""

    async def line(self) -> str:
        with anyio.fail_after(30):
            while b"\n" not in self.buffer:
                self.buffer += await self.process.stdout.receive()
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode().strip()

    async def command(self, text: str) -> None:
        await self.process.stdin.send(text.encode() + b"\n")
        assert await self.line() == "ok"


@asynccontextmanager
async def simulator() -> AsyncIterator[SimProcess]:
    async with await anyio.open_process([sys.executable, __file__, "--serve-sim"], stderr=None) as process:
        sim = SimProcess(process)
        sim.base_url = await sim.line()
        try:
            yield sim
        finally:
            await process.stdin.aclose()
            with anyio.move_on_after(10):
                await process.wait()


@asynccontextmanager
async def daemon(base_url: str, home: Path) -> AsyncIterator[tuple[AppServerClient, int]]:
    """Like `AppServerClient.spawn`, but exposing the pid (for VmHWM)."""
    provider = f'{{ name = "sim", base_url = "{base_url}", env_key = "SIM_API_KEY", stream_idle_timeout_ms = 60000 }}'
    command = [sys.executable, "-m", "server", "app-server", "--listen", "stdio://",
               "-c", 'model_provider="sim"', "-c", f"model_providers.sim={provider}"]
    env = {**CHILD_ENV, "THREADLINE_HOME": str(home), "SIM_API_KEY": KEY}
    process = await anyio.open_process(command, env=env, stderr=None)

    client = AppServerClient(process.stdin.send, lines_of(process.stdout))
    try:
        async with client.running():
            yield client, process.pid
    finally:
        with anyio.CancelScope(shield=True):
            await process.stdin.aclose()
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__" and sys.argv[1:] == ["--serve-sim"]:
    serve_sim()
