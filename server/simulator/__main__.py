"""`python -m server.simulator [--port N]`: run the upstream simulator until interrupted.

Writes the base URL (e.g. `http://127.0.0.1:54321/v1`) as one line to stdout, then serves default replies
(the standalone simulator has no script). This is a dev tool, not the daemon: stdout here is not a wire.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from server.simulator.server import Simulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--context-window", type=int, default=None, help="reject inputs above this many tokens")
    parser.add_argument("--no-compact-endpoint", action="store_true", help="answer 404 on /responses/compact")
    parser.add_argument("--reject-context-management", action="store_true", help="400 on context_management")
    parser.add_argument("--refuse-zstd", action="store_true", help="400 invalid_json on zstd request bodies")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with Simulator(
        port=args.port,
        context_window=args.context_window,
        compact_endpoint=not args.no_compact_endpoint,
        reject_context_management=args.reject_context_management,
        refuse_zstd=args.refuse_zstd,
    ) as sim:
        sys.stdout.write(sim.base_url + "\n")
        sys.stdout.flush()
        try:
            while not stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
