"""One client connection: decode, classify, dispatch, answer, correlate — and THE exception→wire boundary.

Contract:
- Every inbound request with an id gets exactly one answer. A line that is not JSON gets -32700 (id null),
  one that is JSON but no message gets -32600, and the connection goes on.
- Lines are bounded both ways by the transport's ``max_frame``. A longer inbound line gets -32600 with
  ``data.frameLimit``, under the request's id when its first bytes show it (``request_id_in_head``), else id null.
  An answer that would be longer is replaced by a -32600 to the same id (``data.frameLimit``, ``data.frameSize``)
  telling the client to ask for less; what the request did stands (a resume's subscription, a fork's new thread,
  announced by its ``thread/started``). Notifications and server requests are not cut or dropped: they carry at
  most what an input line or the model produced.
- ``initialize`` is handled in the receive loop itself, so requests behind it see its effect in order.
  Everything else waits in a bounded queue (full → -32001 at once) and runs in its own task, at most
  ``max_inflight`` at a time, so a slow handler (``turn/interrupt`` waits for the turn) never blocks others.
- Server→client requests are correlated by id; at EOF or close every pending one fails with
  :class:`~server.errors.ConnectionClosed`, and a late or unknown reply is logged and dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from protocol._generated.methods import SERVER_NOTIFICATIONS, ClientMethod, ClientNotificationMethod
from protocol.codec import decode_envelope, encode_line, encode_notification, request_id_in_head
from protocol.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    Envelope,
    ErrorObject,
    ErrorResponse,
    Request,
    RequestId,
    Response,
)

from ..errors import ConnectionClosed, RemoteError, ServerOverloaded, ThreadlineError
from ..ids import next_request_id
from ..transport import FrameTooLarge, Transport
from .router import Router

__all__ = ["Connection", "RequestContext"]

logger = logging.getLogger(__name__)

_EXPERIMENTAL_NOTIFICATIONS = frozenset(method for method, spec in SERVER_NOTIFICATIONS.items() if spec.experimental)


@dataclass(frozen=True, slots=True)
class RequestContext:
    connection: Connection
    request_id: RequestId
    method: str
    _after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def after_response(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` once the success response is queued (e.g. ``thread/started`` follows its response)."""
        self._after.append(action)


@dataclass(slots=True)
class _Pending:
    done: anyio.Event = field(default_factory=anyio.Event)
    result: msgspec.Raw | None = None
    error: BaseException | None = None


class Connection:
    def __init__(
        self,
        transport: Transport,
        router: Router,
        *,
        queue_size: int = 256,
        max_inflight: int = 64,
        on_eof: Callable[[], Awaitable[None]] | None = None,
        eof_grace: float = 2.0,
    ) -> None:
        self._transport = transport
        self._router = router
        self._queue_size = queue_size
        self._inflight = anyio.Semaphore(max_inflight)
        self._on_eof = on_eof
        self._eof_grace = eof_grace
        self._pending: dict[RequestId, _Pending] = {}
        self._active_handlers = 0
        self._idle = anyio.Event()
        self._idle.set()
        self.initialize_answered = False
        self.experimental_api = False
        self.opt_out: frozenset[str] = frozenset()
        # What this client does not get: what it opted out of, and experimental ones unless it asked for those.
        self._refused = _EXPERIMENTAL_NOTIFICATIONS
        self.client_name: str | None = None
        self.client_version: str | None = None
        self.input_closed = False  # EOF: nothing more will be read, so nobody can answer a request
        self.closed = False  # the output is gone: nothing more can be sent
        self._reading = anyio.CancelScope()

    def stop_reading(self) -> None:
        """Shut down as if the peer had closed its input (SIGTERM): answer what was read, end turns, exit."""
        self._reading.cancel()

    # -- receiving -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until the peer's EOF, then shut down in order (pending requests, hook, grace, cancel)."""
        queue_send, queue_recv = anyio.create_memory_object_stream[Envelope](self._queue_size)
        drained = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._dispatch, queue_recv, tg, drained)
            with queue_send, self._reading:
                async for frame in self._transport.inbound:
                    await self._on_frame(frame, queue_send)
            # EOF: nobody can answer us any more; requests already read still get their answers (bounded).
            logger.info("input ended; finishing requests already read, then shutting down")
            self.input_closed = True
            self._fail_pending()
            with anyio.move_on_after(self._eof_grace):
                await drained.wait()
                await self._idle.wait()
            if self._on_eof is not None:
                await self._on_eof()
            tg.cancel_scope.cancel()

    async def _on_frame(self, frame: bytes | FrameTooLarge, queue: MemoryObjectSendStream[Envelope]) -> None:
        if isinstance(frame, FrameTooLarge):
            # The client waits on its id: answer under it when the line's start shows it, rather than id null.
            await self._send_error(request_id_in_head(frame.head), INVALID_REQUEST,
                                   f"Invalid request: frame exceeds the {frame.limit} byte limit",
                                   {"frameLimit": frame.limit})
            return
        try:
            env = decode_envelope(frame)
        except msgspec.ValidationError as exc:
            await self._send_error(None, INVALID_REQUEST, f"Invalid request: {exc}")
            return
        except msgspec.DecodeError as exc:
            logger.info("unparseable line skipped: %s", exc)
            await self._send_error(None, PARSE_ERROR, f"Parse error: {exc}")
            return
        has_id = _is_request_id(env.id)
        if isinstance(env.method, str) and has_id:
            await self._on_request(env, queue)
        elif isinstance(env.method, str) and env.id is msgspec.UNSET:
            self._on_notification(env.method)
        elif env.method is msgspec.UNSET and has_id and (env.result is not msgspec.UNSET or env.error is not msgspec.UNSET):
            self._on_response(env)
        else:
            rid = env.id if has_id else None
            await self._send_error(rid, INVALID_REQUEST, "Invalid request: not a request, notification or response")

    async def _on_request(self, env: Envelope, queue: MemoryObjectSendStream[Envelope]) -> None:
        assert isinstance(env.id, int | str) and isinstance(env.method, str)
        if env.method == ClientMethod.INITIALIZE:
            await self._handle(env)  # inline: later requests see its effect
            return
        if not self.initialize_answered:
            await self._send_error(env.id, INVALID_REQUEST, "Not initialized")
            return
        try:
            queue.send_nowait(env)
        except anyio.WouldBlock:
            overloaded = ServerOverloaded()
            await self._send_error(env.id, overloaded.code, overloaded.message, overloaded.data)

    def _on_notification(self, method: str) -> None:
        # `initialized` needs no action: like Codex, requests are served once initialize was answered.
        if method != ClientNotificationMethod.INITIALIZED:
            logger.debug("ignoring client notification %r", method)

    def _on_response(self, env: Envelope) -> None:
        assert isinstance(env.id, int | str)
        pending = self._pending.get(env.id)
        if pending is None:
            logger.warning("reply to unknown or abandoned server request %r dropped", env.id)
            return
        if env.error is not msgspec.UNSET:
            error = env.error if isinstance(env.error, dict) else {}
            raw_code = error.get("code")
            code = raw_code if isinstance(raw_code, int) else INTERNAL_ERROR
            pending.error = RemoteError(code, str(error.get("message", "malformed error reply")), error.get("data"))
        elif isinstance(env.result, msgspec.Raw):
            pending.result = env.result
        else:
            pending.error = RemoteError(INVALID_REQUEST, "reply carries neither result nor error")
        pending.done.set()

    async def _dispatch(self, queue: MemoryObjectReceiveStream[Envelope], tg: TaskGroup, drained: anyio.Event) -> None:
        try:
            async with queue:
                async for env in queue:
                    await self._inflight.acquire()
                    tg.start_soon(self._run_handler, env)
        finally:
            drained.set()

    async def _run_handler(self, env: Envelope) -> None:
        try:
            await self._handle(env)
        finally:
            self._inflight.release()

    # -- the exception → wire boundary -----------------------------------------------------------------

    async def _handle(self, env: Envelope) -> None:
        assert isinstance(env.id, int | str) and isinstance(env.method, str)
        self._active_handlers += 1
        self._idle = anyio.Event() if self._active_handlers == 1 else self._idle
        try:
            ctx = RequestContext(self, env.id, env.method)
            ok = False
            try:
                result = await self._router.call(ctx, env.method, env.params)
                frame = encode_line(Response(env.id, {} if result is None else result))
                ok = True
            except ThreadlineError as exc:
                frame = encode_line(ErrorResponse(env.id, _error_object(exc.code, exc.message, exc.data)))
            except Exception:
                logger.exception("handler for %r raised", env.method)
                frame = encode_line(ErrorResponse(env.id, ErrorObject(INTERNAL_ERROR, "Internal error")))
            if len(frame) - 1 > self._transport.max_frame:  # counted without the newline, as inbound lines are
                frame = self._too_large(env.id, env.method, len(frame) - 1)
            await self.send_frame(frame)
            for action in ctx._after if ok else ():
                try:
                    await action()
                except Exception:
                    logger.exception("post-response action of %r raised", env.method)
        finally:
            self._active_handlers -= 1
            if self._active_handlers == 0:
                self._idle.set()

    def _too_large(self, rid: RequestId, method: str, size: int) -> bytes:
        """The answer to send instead of one longer than the client may accept (we would refuse it ourselves)."""
        limit = self._transport.max_frame
        logger.warning("the answer to %s (id %r) is %d bytes, over the %d byte frame limit; answered with an error",
                       method, rid, size, limit)
        if method == ClientMethod.THREAD_FORK:  # asking again would make a second fork: say where the first one is
            advice = "the fork was made all the same (thread/started names it); page its turns with thread/turns/list"
        else:
            advice = ("ask for less (thread/read without includeTurns, thread/resume with excludeTurns), then page "
                      "with thread/turns/list")
        message = (f"Invalid request: the answer to {method} would be a {size} byte frame, over the {limit} byte "
                   f"limit; {advice}")
        return encode_line(ErrorResponse(rid, ErrorObject(INVALID_REQUEST, message, {"frameLimit": limit,
                                                                                     "frameSize": size})))

    # -- sending ---------------------------------------------------------------------------------------

    async def send_frame(self, frame: bytes) -> None:
        outbound = self._transport.outbound
        try:
            try:
                # The common case has room: no trip through the event loop per frame (it dominated streaming).
                outbound.send_nowait(frame)
            except anyio.WouldBlock:
                await outbound.send(frame)  # the client is not keeping up: wait, in order (backpressure)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.closed = True
            logger.debug("outbound closed; frame dropped")
            self._fail_pending()  # no reply can come to a request the client may never have seen

    def set_capabilities(self, *, experimental_api: bool, opt_out: frozenset[str]) -> None:
        """Apply what ``initialize`` asked for."""
        self.experimental_api = experimental_api
        self.opt_out = opt_out
        self._refused = opt_out if experimental_api else opt_out | _EXPERIMENTAL_NOTIFICATIONS

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification if this client accepts ``method``."""
        if method not in self._refused:
            await self.send_frame(encode_notification(method, params))

    async def send_notification(self, method: str, frame: bytes) -> None:
        """Send an already encoded notification (encoded once for every subscriber) if the client accepts it."""
        if method not in self._refused:
            await self.send_frame(frame)

    async def request(self, method: str, params: Any, *, request_id: int | None = None) -> msgspec.Raw:
        """Send a server→client request (under ``request_id``, or a new id) and wait for the reply's raw ``result``.

        Raises:
            ConnectionClosed: the connection ended before a reply.
            RemoteError: the client answered with an error.
        """
        if self.closed or self.input_closed:
            raise ConnectionClosed(method)
        rid = next_request_id() if request_id is None else request_id
        pending = self._pending[rid] = _Pending()
        try:
            await self.send_frame(encode_line(Request(rid, method, params)))
            await pending.done.wait()
        finally:
            self._pending.pop(rid, None)
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    async def resend(self, request_id: int, method: str, params: Any) -> None:
        """Send a request still waiting for its reply again, same id (a client resuming a thread may have lost
        it); the one reply that comes still counts once."""
        pending = self._pending.get(request_id)
        if pending is not None and not pending.done.is_set() and not self.closed:  # not answered meanwhile
            await self.send_frame(encode_line(Request(request_id, method, params)))

    def _fail_pending(self) -> None:
        for pending in self._pending.values():
            pending.error = ConnectionClosed("connection closed before the client replied")
            pending.done.set()

    async def _send_error(self, rid: RequestId | None, code: int, message: str, data: Any = None) -> None:
        await self.send_frame(encode_line(ErrorResponse(rid, _error_object(code, message, data))))


def _is_request_id(value: object) -> bool:
    """Ids are strings or integers (JSON ``true`` decodes to a bool, which is not an id)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _error_object(code: int, message: str, data: Any) -> ErrorObject:
    return ErrorObject(code, message) if data is None else ErrorObject(code, message, data)
