"""Benchmark streaming turns through a real `threadline app-server` subprocess against the simulator.

    python scripts/bench_turns.py [--deltas 5000] [--reps 10] [--threads 50] [--paced 200] [--delay 0.05 0.02 0.01]

The simulator runs in a process of its own (`scripts/bench_procs.py`) so it shares no GIL with the client
being timed. Measured:
- a `--deltas`-delta turn, `turn/start` → `turn/completed` at the client, vs a bare httpx read of the same
  simulator stream (POST, read every SSE line): the overhead ratio (target ≤ 1.10), notifications per second.
  The daemon reads upstream through `server.upstream.http.open_http` (aiohttp under httpx by default), so the
  same bare read is also timed over that client: the second ratio is what the daemon adds to reading the stream;
- the daemon's peak RSS (VmHWM from /proc/<pid>/status) after those turns and after the concurrency test;
- the daemon's CPU per short (5-delta) turn, one at a time and 50 at once: its fixed cost per turn;
- spawn → `initialize` response latency (fresh empty home each time);
- delta latency: the simulator stamps each delta with its send time (`time.time_ns()`, one clock for every
  process on the machine) and paces `--paced` deltas at `--delay` s, like a model streaming; latency is
  arrival at the client minus that stamp, for one thread alone and for `--threads` threads at once (p99 ratio,
  target ≤ 2×), pooled over `--repeat` interleaved rounds; the same streams are also read straight from the
  simulator by the timing process (`direct`: the floor this machine gives with no daemon at all), and each row
  shows the host's steal time, so a noisy machine shows as such. The timing process pauses its own garbage
  collector during each row (the daemon's runs as usual). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_procs import KEY, SimProcess, cpu_s, daemon, peak_rss_mb, simulator  # noqa: E402

from protocol.client import AppServerClient  # noqa: E402
from server.upstream.http import DEFAULT_TRANSPORT, open_http  # noqa: E402

WARMUP = 10

# -- measurements -------------------------------------------------------------------------------------------


def _quantile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"p50 {statistics.median(ordered):8.2f}  p95 {_quantile(ordered, 0.95):8.2f}  max {ordered[-1]:8.2f}"


async def bare_read(http: httpx.AsyncClient, base_url: str, stamps: Stamps | None = None) -> tuple[float, int]:
    """POST one streamed request and read every SSE line; with `stamps`, time each stamped text delta too."""
    body = {"model": "gpt-5.1-codex", "stream": True, "store": False,
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}]}
    start, events = time.perf_counter(), 0
    async with http.stream("POST", f"{base_url}/responses", json=body,
                           headers={"Authorization": f"Bearer {KEY}"}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                events += 1
                if stamps is not None and '"response.output_text.delta"' in line:
                    stamps.add(response, msgspec.json.decode(line[5:])["delta"])
    return (time.perf_counter() - start) * 1000, events


class Stamps:
    """Latencies of stamped deltas (ms from the simulator's stamp to now), all and per stream past WARMUP."""

    def __init__(self) -> None:
        self.every: list[float] = []
        self.steady: list[float] = []  # without each stream's first WARMUP deltas (the 50 turns' start burst)
        self._seen: dict[object, int] = {}

    def add(self, stream: object, stamp: str) -> None:
        ms = (time.time_ns() - int(stamp)) / 1e6
        self.every.append(ms)
        seen = self._seen[stream] = self._seen.get(stream, 0) + 1
        if seen > WARMUP:
            self.steady.append(ms)


class Watch:
    """Sees every message in the client's read loop: counts notifications, stamps deltas, ends on turn/completed.

    Waiting here instead of consuming `turn_events` keeps the client to decode + route per message, so the
    numbers are the daemon's and not the consumer's."""

    def __init__(self, turns: int, stamped: bool) -> None:
        self.left, self.stamped = turns, stamped
        self.notifications = 0
        self.stamps = Stamps()
        self.done = anyio.Event()

    def see(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None or "id" in message:
            return
        self.notifications += 1
        if method == "item/agentMessage/delta" and self.stamped:
            params = message["params"]
            self.stamps.add(params["turnId"], params["delta"])
        elif method == "turn/completed":
            self.left -= 1
            if self.left == 0:
                self.done.set()


async def run_turns(client: AppServerClient, thread_ids: list[str], *, stamped: bool = False) -> tuple[float, Watch]:
    """Start one turn per thread at once; return ms until the last turn/completed and what was seen."""
    watch, turn_ids = Watch(len(thread_ids), stamped), []
    client.on_message = watch.see

    async def start(thread_id: str) -> None:
        params = {"threadId": thread_id, "input": [{"type": "text", "text": "go"}]}
        turn_ids.append((await client.request("turn/start", params))["turn"]["id"])

    begin = time.perf_counter()
    try:
        with anyio.fail_after(300):
            async with anyio.create_task_group() as tg:
                for thread_id in thread_ids:
                    tg.start_soon(start, thread_id)
            await watch.done.wait()
    finally:
        client.on_message = None
    elapsed = (time.perf_counter() - begin) * 1000
    for turn_id in turn_ids:  # drain the client's per-turn buffers (all buffered: no waiting)
        async for _ in client.turn_events(turn_id):
            pass
    return elapsed, watch


async def throughput(sim: SimProcess, client: AppServerClient, pid: int, deltas: int, reps: int) -> None:
    await sim.command(f"words {deltas} {4 * (reps + 1)}")
    thread_id = (await client.request("thread/start", {}))["thread"]["id"]
    bare, same, light, typed, counts = [], [], [], [], []
    async with httpx.AsyncClient(timeout=60) as http, open_http(DEFAULT_TRANSPORT) as daemons_http:
        for rep in range(reps + 1):  # rep 0 warms every path up and is not counted
            ms_bare, events = await bare_read(http, sim.base_url)
            ms_same, _ = await bare_read(daemons_http, sim.base_url)
            ms_light, watch = await run_turns(client, [thread_id])
            start = time.perf_counter()
            await client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "go"}]}, timeout=120)
            ms_typed = (time.perf_counter() - start) * 1000
            if rep:
                bare.append(ms_bare)
                same.append(ms_same)
                light.append(ms_light)
                typed.append(ms_typed)
                counts.append(watch.notifications)
    b, s, d = statistics.median(bare), statistics.median(same), statistics.median(light)
    t = statistics.median(typed)
    print(f"\n== one {deltas:,}-delta turn (median of {reps}) ==")
    print(f"  bare httpx read of the simulator stream ({events:,} SSE events)        {b:9.1f} ms")
    print(f"  the same bare read over the daemon's HTTP client ({DEFAULT_TRANSPORT} transport)  {s:9.1f} ms")
    print(f"  through the daemon: turn/start → turn/completed read by the client    {d:9.1f} ms")
    print(f"  overhead ratio daemon / bare httpx read                               {d / b:9.2f}   (target ≤ 1.10)")
    print(f"  daemon / bare read over its own HTTP client                           {d / s:9.2f}")
    print(f"  same turn consumed with protocol.client run_turn (turn_events)         {t:9.1f} ms")
    print(f"  notifications per turn {counts[0]:,}; per second through the daemon {counts[0] / d * 1000:,.0f}")
    print(f"  daemon peak RSS (VmHWM) after {2 * (reps + 1)} such turns                           "
          f"{peak_rss_mb(pid):9.1f} MB")


async def short_turns(sim: SimProcess, client: AppServerClient, pid: int, count: int) -> None:
    """The daemon's fixed cost of a turn: CPU for a 5-delta turn (start, one request, end), one at a time and 50
    at once. This is what a burst of turn starts puts in front of streams already running on the loop."""
    ids = [(await client.request("thread/start", {}))["thread"]["id"] for _ in range(50)]
    await sim.command(f"words 5 {count + 3 * 50 + 10}")
    for _ in range(10):  # warm every path up
        await run_turns(client, ids[:1])
    before, start = cpu_s(pid), time.perf_counter()
    for index in range(count):
        await run_turns(client, [ids[index % len(ids)]])
    one_cpu, one_wall = (cpu_s(pid) - before) / count, (time.perf_counter() - start) / count
    at_once = []
    for _ in range(3):
        before = cpu_s(pid)
        await run_turns(client, ids)
        at_once.append((cpu_s(pid) - before) / len(ids))
    print("\n== a short turn (5 deltas): the daemon's fixed cost per turn ==")
    print(f"  one at a time ({count} turns): {one_cpu * 1000:.2f} ms daemon CPU, {one_wall * 1000:.2f} ms wall each")
    print(f"  50 at once (3 rounds): {statistics.median(at_once) * 1000:.2f} ms daemon CPU each "
          f"({min(at_once) * 1000:.2f}–{max(at_once) * 1000:.2f})")


async def through_daemon(sim: SimProcess, client: AppServerClient, http: httpx.AsyncClient, threads: int,
                         args: argparse.Namespace, delay: float) -> Stamps:
    """`threads` turns at once, each streaming one stamped reply through the daemon to the client."""
    await sim.command(f"stamped {args.paced} {delay} {threads} {int(args.lockstep)}")
    ids = [(await client.request("thread/start", {}))["thread"]["id"] for _ in range(threads)]
    _, watch = await run_turns(client, ids, stamped=True)
    return watch.stamps


async def direct(sim: SimProcess, client: AppServerClient, http: httpx.AsyncClient, threads: int,
                 args: argparse.Namespace, delay: float) -> Stamps:
    """The harness floor: the same stamped streams read straight from the simulator, no daemon in between."""
    await sim.command(f"stamped {args.paced} {delay} {threads} {int(args.lockstep)}")
    stamps = Stamps()
    with anyio.fail_after(300):
        async with anyio.create_task_group() as tg:
            for _ in range(threads):
                tg.start_soon(bare_read, http, sim.base_url, stamps)
    return stamps


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The timing process's own garbage collector held off for one row: it buffers every notification of the
    row, and a full collection over them stalled its read loop ~20 ms, which showed up as daemon latency in
    whichever row it landed (measured with gc.callbacks). The daemon's collector is untouched."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def cpu_ticks() -> tuple[int, int]:
    """(steal, total) jiffies of the whole machine: the host's share of this VM's time is in steal."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])


async def latency_table(sim: SimProcess, client: AppServerClient, pid: int, args: argparse.Namespace) -> None:
    """One row per (pacing, path, streams): samples pooled over `--repeat` rounds, each round running 1 stream and
    then `--threads` streams through the daemon, then the same straight from the simulator, so all four see the
    same machine (the p99 of one 200-delta stream alone is its third-worst delta: a single round's ratio swings
    with one unlucky sample). `rounds` gives every round's own ratio; `steal` is the share of the machine's
    time its host took back during the row (time no process here could run)."""
    mode = "in lockstep" if args.lockstep else "jittered, independent"
    print(f"\n== delta latency (ms from the simulator's send to the client's read), {args.paced} deltas per "
          f"stream, {mode}, pooled over {args.repeat} interleaved rounds ==")
    print(f"  (steady: without each stream's first {WARMUP} deltas, which compete with the other turns' start-up;")
    print("   direct: the harness floor, the same streams read by the timing process with no daemon in between)")
    print("  pacing  path    streams  aggregate    p50     p95     p99     max  p99 vs 1  steady p99  vs 1   "
          "rounds' p99 vs 1  steal  CPU s daemon/sim/client")
    pids = {"daemon": pid, "sim": sim.process.pid, "client": os.getpid()}
    paths = {"daemon": through_daemon, "direct": direct}
    rows = [(path, n) for path in paths for n in (1, args.threads)]
    async with open_http(DEFAULT_TRANSPORT) as http:
        for delay in args.delay:
            every: dict[tuple[str, int], list[float]] = {row: [] for row in rows}
            steady: dict[tuple[str, int], list[float]] = {row: [] for row in rows}
            per_round: dict[tuple[str, int], list[float]] = {row: [] for row in rows}
            used = dict.fromkeys(rows, 0.0)
            stolen = {row: [0, 0] for row in rows}
            cpu = {row: dict.fromkeys(pids, 0.0) for row in rows}
            for _ in range(args.repeat):
                for row in rows:
                    path, threads = row
                    before, ticks = {name: cpu_s(p) for name, p in pids.items()}, cpu_ticks()
                    start = time.perf_counter()
                    with _collector_paused():
                        stamps = await paths[path](sim, client, http, threads, args, delay)
                    used[row] += time.perf_counter() - start
                    stolen[row] = [total + now - then for total, now, then in zip(stolen[row], cpu_ticks(), ticks,
                                                                                  strict=True)]
                    for name, p in pids.items():
                        cpu[row][name] += cpu_s(p) - before[name]
                    every[row].extend(stamps.every)
                    steady[row].extend(stamps.steady)
                    per_round[row].append(_quantile(sorted(stamps.every), 0.99))
            for row in rows:
                path, threads = row
                alone = (path, 1)
                p99 = _quantile(sorted(every[row]), 0.99)
                steady_p99 = _quantile(sorted(steady[row]), 0.99)
                ratios = [n / b for n, b in zip(per_round[row], per_round[alone], strict=True)]
                spread = f"{min(ratios):.2f}–{max(ratios):.2f}×" if threads != 1 else "—"
                ordered = sorted(every[row])
                steal = stolen[row][0] / max(1, stolen[row][1]) * 100
                cpu_text = "/".join(f"{cpu[row][name]:.1f}" for name in pids)
                print(f"  {delay * 1000:3.0f} ms  {path:6s}  {threads:7d}  {threads / delay:6,.0f}/s  "
                      f"{_quantile(ordered, 0.5):6.2f}  {_quantile(ordered, 0.95):6.2f}  {p99:6.2f}  "
                      f"{ordered[-1]:6.2f}  {p99 / _quantile(sorted(every[alone]), 0.99):7.2f}×  {steady_p99:10.2f}  "
                      f"{steady_p99 / _quantile(sorted(steady[alone]), 0.99):5.2f}×  {spread:>16}  {steal:4.0f}%  "
                      f"{cpu_text} in {used[row]:.1f} s", flush=True)
    print(f"  daemon peak RSS (VmHWM) after the concurrency runs: {peak_rss_mb(pid):.1f} MB")


async def startup(base_url: str, root: Path, reps: int) -> list[float]:
    samples = []
    for rep in range(reps):
        start = time.perf_counter()
        async with daemon(base_url, root / f"startup-{rep}") as (client, _):
            await client.initialize()
            samples.append((time.perf_counter() - start) * 1000)
    return samples


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with simulator() as sim:
            print(f"simulator process at {sim.base_url}; {os.cpu_count()} CPUs")
            async with daemon(sim.base_url, Path(tmp) / "home") as (client, pid):
                await client.initialize()
                await throughput(sim, client, pid, args.deltas, args.reps)
                await short_turns(sim, client, pid, args.short)
                await latency_table(sim, client, pid, args)
            if args.startups:
                print("\n== spawn → initialize response (empty home) ==")
                print(f"  {stats(await startup(sim.base_url, Path(tmp), args.startups))}   (n={args.startups})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deltas", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--paced", type=int, default=200, help="deltas per stream in the latency test")
    parser.add_argument("--delay", type=float, nargs="+", default=[0.05, 0.02, 0.01],
                        help="seconds between paced deltas (one latency run per value)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="interleaved rounds (1 stream, then --threads streams; via the daemon, then direct) pooled per row")
    parser.add_argument("--lockstep", action="store_true",
                        help="pace every stream at exactly --delay (all streams tick together: a worst case)")
    parser.add_argument("--startups", type=int, default=10)
    parser.add_argument("--short", type=int, default=200, help="short turns timed one at a time")
    parsed = parser.parse_args()
    # The timing client runs on the daemon's event loop too, so its own per-message cost stays small beside the
    # daemon's (it shares the machine's two cores with the daemon and the simulator).
    anyio.run(main, parsed, backend_options={"use_uvloop": importlib.util.find_spec("uvloop") is not None})
