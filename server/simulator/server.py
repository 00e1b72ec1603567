"""`Simulator`: a real HTTP server on 127.0.0.1 that speaks the Responses API, for tests, benchmarks and demos.

Contract: `start()` binds 127.0.0.1 (port 0 by default: the OS picks one) and serves from a background
thread; `stop()` releases any stalled stream, closes every open connection and joins the thread, so a test
never leaks a server. Both are idempotent; the object is a context manager, sync (`with`) and async
(`async with`, which stops off the event loop). Tests script answers with `enqueue`; every request is
recorded (method, path, headers, decoded body, sizes, status) before it is answered, so once a client has
seen any byte of an answer its record is in `requests`. The switches are plain attributes and may be
flipped between requests.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any, Literal

import anyio.to_thread

from server.simulator.compaction import last_user_text
from server.simulator.handler import SimulatorHandler
from server.simulator.script import Entry, Gate, HttpError, Reply

__all__ = ["RecordedRequest", "Simulator"]

logger = logging.getLogger(__name__)

Endpoint = Literal["responses", "compact"]
_JOIN_SECONDS = 5.0


@dataclass
class RecordedRequest:
    """One request as the simulator received it. `headers` keys are lower-case."""

    index: int
    method: str
    path: str
    query: str
    headers: dict[str, str]
    raw_size: int
    compressed: bool
    body: Any = None
    """The decoded JSON body (after zstd), or None when it could not be decoded."""
    size: int = 0
    """Bytes of the decoded body (equal to `raw_size` when not compressed)."""
    status: int | None = field(default=None)
    connection: int = 0
    """Which TCP connection carried it (numbered from 1 in order of arrival): shows keep-alive reuse."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() closes connections itself; never wait on a client that keeps one open
    # socketserver listens with a backlog of 5: fifty clients connecting at once overflow it, and each dropped
    # SYN costs its client a 1 s retransmit before the request is even sent. Real API servers accept bursts.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        super().__init__(address, SimulatorHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-answer is routine here (interrupts, cut streams); keep it out of stderr.
        logger.debug("simulator connection from %s ended with an error", client_address, exc_info=True)


class Simulator:
    """The Responses API simulator. See the module docstring and `server.simulator.script` for scripting."""

    def __init__(
        self,
        *,
        port: int = 0,
        model: str = "sim-model",
        context_window: int | None = None,
        reject_context_management: bool = False,
        reject_compaction_trigger: bool = False,
        compact_endpoint: bool = True,
        refuse_zstd: bool = False,
        prefix: str = "/v1",
    ) -> None:
        self.model = model
        self.context_window = context_window
        self.reject_context_management = reject_context_management
        self.reject_compaction_trigger = reject_compaction_trigger
        self.compact_endpoint = compact_endpoint
        self.refuse_zstd = refuse_zstd
        self.prefix = prefix
        self._port = port
        self._lock = threading.Lock()
        self._connections_opened = 0
        self._queues: dict[str, deque[Entry]] = {"responses": deque(), "compact": deque()}
        self._log: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._gates: set[Gate] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is None:
            self._server = _Server(("127.0.0.1", self._port), self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="simulator", daemon=True
            )
            self._thread.start()
            logger.info("simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        with self._lock:
            gates, connections = list(self._gates), list(self._connections)
        for gate in gates:
            gate.release()
        server.shutdown()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler
        server.server_close()
        if thread is not None:
            thread.join(_JOIN_SECONDS)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Simulator:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await anyio.to_thread.run_sync(self.stop)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """E.g. `http://127.0.0.1:54321/v1` — a provider's `base_url`."""
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # -- scripting and inspection ------------------------------------------------------------------------

    def enqueue(self, *entries: Entry, endpoint: Endpoint = "responses") -> None:
        """Queue answers for the next requests to `endpoint`, in order (a `Reply` or an `HttpError` each)."""
        with self._lock:
            self._queues[endpoint].extend(entries)

    def pending(self, endpoint: Endpoint = "responses") -> int:
        """How many scripted answers are still queued for `endpoint`."""
        with self._lock:
            return len(self._queues[endpoint])

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._log)

    def requests_to(self, endpoint: Endpoint) -> list[RecordedRequest]:
        suffix = "/responses" if endpoint == "responses" else "/responses/compact"
        return [r for r in self.requests if r.path == self.prefix + suffix]

    def default_text(self, items: Sequence[Any]) -> str:
        """The default reply: short, and naming the user's last message so a demo reads naturally."""
        said = last_user_text(items)
        if not said:
            return "Hello! This is the Threadline upstream simulator. What shall we talk about?"
        snippet = said if len(said) <= 80 else said[:77] + "..."
        return f'You said: "{snippet}". This is the Threadline upstream simulator, so I can only echo you back.'

    # -- used by the handler threads -------------------------------------------------------------------------

    def _record(
        self, method: str, path: str, query: str, headers: dict[str, str], raw: bytes, compressed: bool, connection: int
    ) -> RecordedRequest:
        lowered = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            record = RecordedRequest(len(self._log), method, path, query, lowered, len(raw), compressed, size=len(raw),
                                     connection=connection)
            self._log.append(record)
        return record

    def _next_connection(self) -> int:
        with self._lock:
            self._connections_opened += 1
            return self._connections_opened

    def _take_error(self, endpoint: Endpoint) -> HttpError | None:
        with self._lock:
            queue = self._queues[endpoint]
            if queue and isinstance(queue[0], HttpError):
                return queue.popleft()  # type: ignore[return-value]  # checked just above
        return None

    def _take_reply(self, endpoint: Endpoint) -> Reply | None:
        with self._lock:
            queue = self._queues[endpoint]
            return queue.popleft() if queue and isinstance(queue[0], Reply) else None  # type: ignore[return-value]

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def _stall(self, gate: Gate, max_seconds: float) -> None:
        with self._lock:
            self._gates.add(gate)
            stopping = self._server is None
        if not stopping:
            gate.pause(max_seconds)
        with self._lock:
            self._gates.discard(gate)
