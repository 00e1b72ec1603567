"""What one event-loop wake-up costs on this machine, with nothing of Threadline in it.

    python scripts/bench_wakeup.py [--messages 2000] [--gaps-us 200 1000 5000 20000]

A child process (`--child`, started by this script) connects over TCP on 127.0.0.1, sends a 200-byte message at a
fixed gap, and drains a pipe; this process, on uvloop as the daemon runs, wakes for each message, reads it and
writes it to that pipe: the skeleton of a paced delta going through the daemon (socket in, pipe out). Prints the
CPU this process spends per wake-up at each gap. On a shared virtual machine the cost grows with the gap (the
process wakes cold); it is the floor under the daemon's CPU per delta in `bench_turns.py`'s paced runs. Asserts
nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import sys
import threading
import time

import anyio
from anyio.abc import SocketAttribute


def _child(port: int, pipe_read: int, gap: float, messages: int) -> None:
    def drain() -> None:
        while os.read(pipe_read, 65536):
            pass

    threading.Thread(target=drain, daemon=True).start()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(messages):
            time.sleep(gap)
            sock.sendall(b"x" * 200)


async def _measure(gap: float, messages: int) -> tuple[int, float]:
    pipe_read, pipe_write = os.pipe()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    child = [sys.executable, __file__, "--child", str(port), str(pipe_read), str(gap), str(messages)]
    async with listener, await anyio.open_process(child, pass_fds=(pipe_read,)) as process:
        os.close(pipe_read)
        stream = await listener.listeners[0].accept()  # type: ignore[attr-defined]
        wakes, start = 0, time.process_time()
        async with stream:
            while True:
                try:
                    data = await stream.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
                wakes += 1
                os.write(pipe_write, data)
        used = time.process_time() - start
        os.close(pipe_write)
        await process.wait()
    return wakes, used


async def main(args: argparse.Namespace) -> None:
    print(f"{os.cpu_count()} CPUs; {args.messages} messages per gap")
    for gap_us in args.gaps_us:
        wakes, used = await _measure(gap_us / 1e6, args.messages)
        print(f"  gap {gap_us:6.0f} µs: {wakes:5d} wake-ups, {used / wakes * 1e6:6.1f} µs CPU per wake-up", flush=True)


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    _child(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
elif __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--gaps-us", type=float, nargs="+", default=[200, 1000, 5000, 20000])
    parsed = parser.parse_args()
    anyio.run(main, parsed, backend_options={"use_uvloop": importlib.util.find_spec("uvloop") is not None})
