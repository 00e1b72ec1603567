"""One open `/responses` stream: bytes → SSE messages → typed events, with the idle timeout and terminal mapping.

Contract: iterate an `EventStream` for `StreamEvent`s. It ends right after yielding `ResponseCompleted`.
`response.failed`, an `error` event and `response.incomplete` are raised as their `UpstreamError`s (see
`mapping.py`), never yielded. A connection that breaks raises `StreamDisconnected`; a stream that ends (EOF or
`[DONE]`) without `response.completed` raises `StreamDisconnected("stream closed before response.completed")`;
no line for `stream_idle_timeout_ms` raises `IdleTimeout`. Unknown event types are skipped (logged at debug).
A payload whose only fault is its text (invalid UTF-8, a lone surrogate) is repaired and yielded with
`repaired=True` (see `events.py`; the first per stream is logged as a warning). A payload still malformed is
skipped with a warning: what it carried is made good by the turn loop from `response.completed`, which lists
every output item (`server.upstream.outputs`), and a lost terminal event still surfaces as a disconnect.

This layer never retries: once events have flowed, only the turn loop knows which partial items to keep,
so it decides whether to open a new stream (up to `stream_max_retries`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

import anyio
import httpx

from server.upstream.errors import IdleTimeout, ResponseIncomplete, StreamDisconnected, redact
from server.upstream.events import (
    ErrorEvent,
    MalformedEvent,
    ResponseCompleted,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    StreamEvent,
    UnknownEvent,
    decode_event,
)
from server.upstream.mapping import failed_response_error
from server.upstream.sse import SseDecoder, SseMessage

__all__ = ["EventStream"]

logger = logging.getLogger(__name__)

_TERMINAL_FAILURES = frozenset({ResponseFailedEvent, ErrorEvent, ResponseIncompleteEvent})
_CLOSE_SECONDS = 5.0  # closing never blocks a cancelled turn for longer than this
_DRAIN_SECONDS = 0.05  # how long a completed stream may take to end its body before its connection is dropped
_DRAIN_BYTES = 64 * 1024


class EventStream:
    """An open response stream. Async-iterate it once; `ResponsesClient.stream` closes it on exit.

    `headers` are the response headers (e.g. `x-codex-turn-state`, `openai-model`); `request_id` is the
    server's `x-request-id` when it sent one, else the id this client sent.
    """

    def __init__(
        self,
        response: httpx.Response,
        *,
        idle_timeout: float,
        secrets: Sequence[str],
        request_id: str,
        compressed: bool,
    ) -> None:
        self.headers = response.headers
        self.status_code = response.status_code
        self.request_id = response.headers.get("x-request-id", request_id)
        self.compressed = compressed
        self.malformed_events = 0
        self.repaired_events = 0
        self._response = response
        self._idle_timeout = idle_timeout
        self._secrets = tuple(secrets)
        self._events = self._generate()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events

    async def __anext__(self) -> StreamEvent:
        return await anext(self._events)

    async def aclose(self) -> None:
        """Stop reading and release the connection. Safe to call twice and while being cancelled."""
        with anyio.move_on_after(_CLOSE_SECONDS, shield=True):
            await self._events.aclose()
            await self._response.aclose()

    def _chunks(self) -> AsyncIterator[bytes]:
        # Raw bytes when the body is not content-encoded (the usual case): the decoding layers of `aiter_bytes`
        # cost a fifth of the read on a stream of small chunks, and the SSE decoder wants bytes anyway.
        if self.headers.get("content-encoding", "identity").lower() in ("", "identity"):
            return self._response.aiter_raw()
        return self._response.aiter_bytes()

    async def _next_chunk(self, chunks: AsyncIterator[bytes]) -> bytes | None:
        # The idle timeout is the request's httpx read timeout (no bytes for that long → ReadTimeout): a cancel
        # scope per read would cost more than decoding what it read.
        try:
            return await anext(chunks)
        except StopAsyncIteration:
            return None
        except (TimeoutError, httpx.ReadTimeout):
            raise IdleTimeout(f"idle timeout waiting for SSE ({self._idle_timeout:g}s without data)") from None
        except httpx.HTTPError as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", self._secrets)
            raise StreamDisconnected(f"stream disconnected before completion: {detail}") from exc

    async def _generate(self) -> AsyncGenerator[StreamEvent, None]:
        decoder = SseDecoder()
        chunks = self._chunks()
        completed = False
        try:
            while True:
                chunk = await self._next_chunk(chunks)
                for message in decoder.feed(chunk) if chunk is not None else decoder.finish():
                    if message.done:
                        raise StreamDisconnected("stream closed before response.completed")
                    event = self._event(message)
                    if event is None:
                        continue
                    if type(event) is ResponseCompleted:
                        completed = True  # before the yield: a consumer stops there and closes us at it
                        yield event
                        return
                    yield event
                if chunk is None:
                    break
        finally:
            if completed:
                await _drain(chunks)
            await _close_quietly(chunks)
        if decoder.pending:
            logger.debug("stream %s ended inside an unterminated SSE message", self.request_id)
        raise StreamDisconnected("stream closed before response.completed")

    def _event(self, message: SseMessage) -> StreamEvent | None:
        """The event a message carries; None to skip it. Terminal failures are raised."""
        try:
            event = decode_event(message.data)
        except MalformedEvent as exc:
            self.malformed_events += 1
            logger.warning(
                "skipping malformed SSE event (request %s, %d bytes): %s", self.request_id, len(message.data), exc
            )
            return None
        if getattr(event, "repaired", False):
            self.repaired_events += 1
            # Once per stream: a server that splits every emoji between two deltas would flood the log otherwise.
            log = logger.warning if self.repaired_events == 1 else logger.debug
            log("repaired invalid text in an SSE event (request %s, %d bytes): invalid UTF-8 or a lone surrogate "
                "became U+FFFD", self.request_id, len(message.data))
        if type(event) in _TERMINAL_FAILURES:
            self._raise_if_terminal(event)
        elif type(event) is UnknownEvent:
            logger.debug("skipping unmodelled event type %s", event.type)
            return None
        return event

    def _raise_if_terminal(self, event: StreamEvent) -> None:
        if isinstance(event, ResponseFailedEvent):
            raise failed_response_error(event.response.error, secrets=self._secrets)
        if isinstance(event, ErrorEvent):
            raise failed_response_error(event.fields(), secrets=self._secrets)
        if isinstance(event, ResponseIncompleteEvent):
            details = event.response.incomplete_details
            raise ResponseIncomplete(details.reason if details else None)


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read the body's end (its last chunk usually came with `response.completed`) so the connection goes back
    to the pool: the next request of the turn then skips a TCP and TLS handshake. Bounded and best effort."""
    with anyio.move_on_after(_DRAIN_SECONDS, shield=True):
        try:
            read = 0
            async for chunk in chunks:
                read += len(chunk)
                if read > _DRAIN_BYTES:
                    return  # not an ending: let the connection go
        except httpx.HTTPError:
            pass


async def _close_quietly(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with anyio.move_on_after(_CLOSE_SECONDS, shield=True):
            try:
                await aclose()
            except httpx.HTTPError:
                pass  # the connection is already broken; the caller is raising the reason
