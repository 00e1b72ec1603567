"""A typed async client for Threadline (or any Codex app-server v2 runtime).

``AppServerClient`` speaks newline-delimited JSON-RPC over any pair of byte channels: a spawned subprocess
(``AppServerClient.spawn([...])``) or in-memory streams (tests). It correlates replies by id, answers
server→client requests through registered handlers, and routes turn-scoped notifications into per-turn
buffers *from the first message on*, so ``turn_events`` never loses events that arrive before the
``turn/start`` response (the server may legitimately send them first).
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

if TYPE_CHECKING:
    from anyio.abc import Process, TaskGroup

from ._generated.methods import ClientMethod, ClientNotificationMethod, ServerNotificationMethod

__all__ = ["AppServerClient", "Message", "RpcFailure", "ServerRequestHandler", "lines_of"]

logger = logging.getLogger(__name__)

Message = dict[str, Any]
ServerRequestHandler = Callable[[Message], Awaitable[Any]]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(dict[str, Any])
_CLOSED = {"code": 0, "message": "connection closed"}


class RpcFailure(Exception):
    """The server answered a request with an error."""

    def __init__(self, method: str, error: Message) -> None:
        super().__init__(f"{method}: {error.get('message')} (code {error.get('code')})")
        self.method = method
        self.code: int = error.get("code", 0)
        self.message: str = error.get("message", "")
        self.data: Any = error.get("data")


@dataclass
class _TurnBuffer:
    events: deque[Message] = field(default_factory=deque)
    changed: anyio.Event = field(default_factory=anyio.Event)
    completed: bool = False


def _turn_id_of(params: Any) -> str | None:
    if not isinstance(params, dict):
        return None
    tid = params.get("turnId")
    if isinstance(tid, str):
        return tid
    turn = params.get("turn")
    if isinstance(turn, dict) and isinstance(turn.get("id"), str):
        return turn["id"]
    return None


async def lines_of(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The non-blank lines of a byte stream split on ``\\n`` only. An unfinished line is kept as its pieces and
    joined once, when it ends, so a frame of many megabytes arriving in small reads costs linear time."""
    pending: list[bytes] = []
    async for chunk in chunks:
        if b"\n" not in chunk:
            pending.append(chunk)
            continue
        first, *lines, rest = chunk.split(b"\n")
        for line in (b"".join([*pending, first]), *lines):
            if line.strip():
                yield line
        pending = [rest] if rest else []


class AppServerClient:
    def __init__(self, send: Callable[[bytes], Awaitable[None]], frames: AsyncIterator[bytes]) -> None:
        self._send = send
        self._frames = frames
        self._next_id = 0
        self._waiters: dict[int | str, tuple[str, anyio.Event, list[Message]]] = {}
        self._turns: dict[str, _TurnBuffer] = defaultdict(_TurnBuffer)
        self._global: deque[Message] = deque(maxlen=10_000)
        self._global_changed = anyio.Event()
        self.handlers: dict[str, ServerRequestHandler] = {}
        self.on_message: Callable[[Message], None] | None = None
        self.closed = anyio.Event()
        self.initialize_result: Message | None = None
        self._tg: TaskGroup | None = None
        self.process: Process | None = None  # set by spawn()

    # -- lifecycle -----------------------------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def spawn(cls, command: Sequence[str], *, env: dict[str, str] | None = None) -> AsyncIterator[AppServerClient]:
        """Start ``command`` (e.g. ``["threadline", "app-server"]``) and talk to it over its stdio."""
        process = await anyio.open_process(list(command), env=env, stderr=None)
        assert process.stdin is not None and process.stdout is not None
        stdin, stdout = process.stdin, process.stdout

        client = cls(stdin.send, lines_of(stdout))
        client.process = process
        try:
            async with client.running():
                yield client
        finally:
            with anyio.CancelScope(shield=True):
                await stdin.aclose()
                with anyio.move_on_after(5):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[AppServerClient]:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._read_loop)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()

    async def initialize(self, *, name: str = "threadline_client", version: str = "0.1.0",
                         experimental: bool = True, opt_out: Sequence[str] = ()) -> Message:
        caps: Message = {"experimentalApi": experimental}
        if opt_out:
            caps["optOutNotificationMethods"] = list(opt_out)
        result = await self.request(ClientMethod.INITIALIZE,
                                    {"clientInfo": {"name": name, "version": version}, "capabilities": caps})
        await self.notify(ClientNotificationMethod.INITIALIZED)
        self.initialize_result = result
        return result

    # -- requests ------------------------------------------------------------------------------------------

    async def request(self, method: str, params: Any = None, *, timeout: float | None = 30) -> Message:
        """Send a request and return its ``result``; raises :class:`RpcFailure` on an error reply, and when the
        connection is closed (before, or while waiting)."""
        if self.closed.is_set():
            raise RpcFailure(method, _CLOSED)
        self._next_id += 1
        rid = self._next_id
        done = anyio.Event()
        box: list[Message] = []
        self._waiters[rid] = (method, done, box)
        message: Message = {"id": rid, "method": method, "params": {} if params is None else params}
        try:
            await self._send_line(method, message)
            with anyio.fail_after(timeout):
                await done.wait()
        finally:
            self._waiters.pop(rid, None)
        if not box:
            raise RpcFailure(method, _CLOSED)
        reply = box[0]
        if "error" in reply:
            raise RpcFailure(method, reply["error"])
        return reply["result"]

    async def notify(self, method: str, params: Any = None) -> None:
        message: Message = {"method": method}
        if params is not None:
            message["params"] = params
        await self._send_line(method, message)

    async def _send_line(self, method: str, message: Message) -> None:
        try:
            await self._send(_encoder.encode(message) + b"\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise RpcFailure(method, _CLOSED) from exc

    async def send_raw(self, data: bytes) -> None:
        await self._send(data)

    # -- notifications -------------------------------------------------------------------------------------

    async def turn_events(self, turn_id: str, *, timeout: float | None = 60) -> AsyncIterator[Message]:
        """Yield one turn's notifications (``{"method", "params"}``) through its ``turn/completed``."""
        buffer = self._turns[turn_id]
        while True:
            while buffer.events:
                message = buffer.events.popleft()
                yield message
                if message["method"] == ServerNotificationMethod.TURN_COMPLETED:
                    self._turns.pop(turn_id, None)
                    return
            if self.closed.is_set():
                raise RpcFailure("turn_events", {"code": 0, "message": "connection closed mid-turn"})
            buffer.changed = anyio.Event()  # set by the next event for this turn, or when the connection closes
            with anyio.fail_after(timeout):
                await buffer.changed.wait()

    async def run_turn(self, params: Message, *, timeout: float | None = 60) -> tuple[Message, list[Message]]:
        """``turn/start`` then collect every notification of that turn; returns (final turn, events)."""
        result = await self.request(ClientMethod.TURN_START, params)
        turn_id = result["turn"]["id"]
        events = [message async for message in self.turn_events(turn_id, timeout=timeout)]
        return events[-1]["params"]["turn"], events

    async def next_global(self, method: str, *, timeout: float | None = 10,
                          where: Callable[[Message], bool] | None = None) -> Message:
        """Wait for (and consume) the next notification without a turn id named ``method``."""
        with anyio.fail_after(timeout):
            while True:
                for message in list(self._global):
                    if message["method"] == method and (where is None or where(message["params"])):
                        self._global.remove(message)
                        return message["params"]
                if self.closed.is_set():  # nothing buffered matches, and nothing more can come
                    raise RpcFailure(method, _CLOSED)
                self._global_changed = anyio.Event()  # also set when the connection closes
                await self._global_changed.wait()

    # -- reading -------------------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            async for frame in self._frames:
                try:
                    message = _decoder.decode(frame)
                except msgspec.DecodeError:
                    message = None
                if not isinstance(message, dict):  # a server bug; one bad line must not take the client down
                    logger.warning("skipping a line from the server that is not a JSON object: %r", frame[:200])
                    continue
                if self.on_message is not None:
                    try:
                        self.on_message(message)
                    except Exception:
                        logger.exception("on_message callback failed; the client goes on reading")
                if "method" in message and "id" in message:
                    # A slow handler (a person deciding) must not stall the reader.
                    assert self._tg is not None
                    self._tg.start_soon(self._answer, message)
                elif "method" in message:
                    self._route(message)
                else:
                    waiter = self._waiters.get(message.get("id"))  # type: ignore[arg-type]
                    if waiter is not None:
                        waiter[2].append(message)
                        waiter[1].set()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        finally:
            self.closed.set()
            for _, done, _box in self._waiters.values():
                done.set()
            for buffer in self._turns.values():
                buffer.changed.set()
            self._global_changed.set()

    def _route(self, message: Message) -> None:
        turn_id = _turn_id_of(message.get("params"))
        if turn_id is None:
            self._global.append(message)
            self._global_changed.set()
            return
        buffer = self._turns[turn_id]
        buffer.events.append(message)
        buffer.changed.set()

    async def _answer(self, message: Message) -> None:
        method, rid = message["method"], message["id"]
        handler = self.handlers.get(method)
        if handler is None:  # an empty result would be an invalid answer to most server requests
            line = _encoder.encode({"id": rid, "error": {"code": -32601, "message": f"no handler for {method}"}})
        else:
            try:
                line = _encoder.encode({"id": rid, "result": await handler(message)})
            except Exception as exc:  # a handler bug (or a result that cannot be encoded) becomes an error reply
                logger.exception("server request handler for %s failed", method)
                line = _encoder.encode({"id": rid, "error": {"code": -32603, "message": str(exc)}})
        try:
            await self._send(line + b"\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            logger.debug("the server went away before the answer to %s", method)

