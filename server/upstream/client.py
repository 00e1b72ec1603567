"""`ResponsesClient`: sends Responses API requests to one provider, with auth, compression and request retries.

Contract — the split of retry work between this client and the turn loop:
- Here, *request-level* retries: until the server answers 2xx, transport errors, 5xx, 503/overloaded and
  429 rate limits are retried up to `request_max_retries` with backoff (200 ms × 2^(n−1) × jitter), or the
  server's `Retry-After` / "try again in" delay. `on_retry` is awaited before each sleep, so the turn loop
  can decide whether to announce `error{willRetry: true}`. Exhausted retries raise `RetriesExhausted`; non-retryable answers
  (400, 401, usage limits, context window) raise at once.
- A 400 `invalid_json` (or 415, or a 400 complaining about JSON) to a zstd body is retried once uncompressed,
  and `compression_refused` is set on the client so every later request to this provider goes uncompressed.
- Once the stream is open, nothing is retried here (see `stream.py`): the turn loop owns stream retries
  because it must decide what to do with partially streamed items.
Logs carry request ids, byte sizes and status codes only — never headers, bodies or credentials.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import httpx
import msgspec
import zstandard

from server.upstream.auth import CachedLogin, ResolvedAuth, resolve_request_auth
from server.upstream.errors import HttpStatusError, RetriesExhausted, TransportError, UpstreamError, redact
from server.upstream.events import Usage
from server.upstream.mapping import http_status_error, refuses_compression
from server.upstream.provider import ProviderInfo
from server.upstream.retry import MAX_SERVER_DELAY, RetryNotice, backoff_delay
from server.upstream.stream import EventStream

__all__ = ["Compacted", "OnRetry", "ResponsesClient"]

logger = logging.getLogger(__name__)

OnRetry = Callable[[RetryNotice], Awaitable[None]]

ZSTD_LEVEL = 3
_OFF_THREAD_BYTES = 1 << 20  # compress bodies above 1 MiB in a worker thread so the event loop keeps moving
_ERROR_BODY_LIMIT = 64 * 1024  # error bodies are small; a proxy's HTML page is not worth more than this
_CONNECT_TIMEOUT = 30.0
_CLOSE_SECONDS = 5.0  # closing a response never blocks a cancelled turn for longer than this
_encoder = msgspec.json.Encoder()


class Compacted(msgspec.Struct):
    """A `/responses/compact` answer: the replacement's items, and the request's usage when the server said."""

    output: list[dict[str, Any]]
    usage: Usage | None = None


class ResponsesClient:
    """Requests to one provider over an injected `httpx.AsyncClient` (production or `MockTransport`).

    `env` is the environment the settings captured; `sleep` and `rand` are injectable so tests need not wait.
    """

    def __init__(
        self,
        provider: ProviderInfo,
        http: httpx.AsyncClient,
        env: Mapping[str, str],
        *,
        compression_feature: bool,
        cached_login: CachedLogin | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.provider = provider
        self.compression_refused = False
        self._http = http
        self._env = env
        self._compression_feature = compression_feature
        self._cached_login = cached_login
        self._sleep = sleep
        self._rand = rand

    @asynccontextmanager
    async def stream(
        self, body: Mapping[str, Any], *, on_retry: OnRetry | None = None, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[EventStream]:
        """POST `/responses` and yield the open `EventStream`; leaving the block closes the connection.

        `headers` are per-request extras (`x-codex-turn-state`, `session_id`, `x-codex-beta-features`…);
        they cannot replace the credential or protocol headers this client sets.

        Raises (on entry): `MissingCredentials`, an `HttpStatusError` subclass, `ContextWindowExceeded`,
        `TransportError`, or `RetriesExhausted`. While iterating: see `EventStream`.
        """
        response, auth, request_id = await self._send("responses", _encoder.encode(body), on_retry, headers)
        events = EventStream(
            response,
            idle_timeout=self.provider.stream_idle_timeout,
            secrets=auth.secrets,
            request_id=request_id,
            compressed=auth.compress,
        )
        try:
            yield events
        finally:
            await events.aclose()

    async def compact(
        self, body: Mapping[str, Any], *, on_retry: OnRetry | None = None, headers: Mapping[str, str] | None = None
    ) -> Compacted:
        """POST `/responses/compact` (never compressed) and return its answer; `headers` as for `stream`.

        Raises: `CompactEndpointMissing` on 404, the errors `stream` raises on entry, and `TransportError`
        when the answer cannot be read or has no `output` list.
        """
        response, auth, request_id = await self._send("compact", _encoder.encode(body), on_retry, headers)
        try:
            raw = await response.aread()
        except httpx.HTTPError as exc:
            raise TransportError(
                redact(f"reading the compaction answer failed: {type(exc).__name__}", auth.secrets)
            ) from exc
        finally:
            with anyio.move_on_after(_CLOSE_SECONDS, shield=True):
                await response.aclose()
        try:
            return msgspec.json.decode(raw, type=Compacted)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            logger.warning("compaction answer %s unreadable (%d bytes)", request_id, len(raw))
            raise TransportError(f"compaction answer is not a response.compaction object: {exc}") from None

    async def _send(
        self,
        endpoint: Literal["responses", "compact"],
        payload: bytes,
        on_retry: OnRetry | None,
        extra_headers: Mapping[str, str] | None,
    ) -> tuple[httpx.Response, ResolvedAuth, str]:
        path = "/responses" if endpoint == "responses" else "/responses/compact"
        max_retries = self.provider.request_max_retries
        retries = 0
        compressed: bytes | None = None
        fell_back = False  # this request has had its one plain retry (another may have set the provider's flag)
        while True:
            auth = resolve_request_auth(
                self.provider,
                self._env,
                cached_login=self._cached_login,
                compression_feature=self._compression_feature,
                endpoint=endpoint,
                compression_refused=self.compression_refused,
            )
            content = payload
            if auth.compress:
                compressed = compressed or await _compress(payload)
                content = compressed
            request_id = str(uuid.uuid4())
            request = self._build(path, content, auth, request_id, extra_headers, streaming=endpoint == "responses")
            logger.info(
                "POST %s request %s attempt %d: %d bytes%s",
                path,
                request_id,
                retries + 1,
                len(payload),
                f" (zstd {len(content)} bytes)" if auth.compress else "",
            )
            error: UpstreamError
            try:
                response = await self._http.send(request, stream=True)
            except httpx.HTTPError as exc:
                error = TransportError(redact(f"{path}: {type(exc).__name__}: {exc}", auth.secrets))
                error.__cause__ = exc
            else:
                server_id = response.headers.get("x-request-id", "-")
                logger.info("request %s: status %d (server id %s)", request_id, response.status_code, server_id)
                if response.is_success:
                    return response, auth, request_id
                error = await self._read_error(response, endpoint, auth)
                if auth.compress and not fell_back and refuses_compression(error):
                    # Not counted as a retry: the body, not the server, was the problem.
                    fell_back = self.compression_refused = True
                    logger.warning("provider %s refused a zstd body; sending plain JSON from now on", self.provider.id)
                    continue
            if not error.retryable:
                raise error
            delay = error.retry_after if error.retry_after is not None else backoff_delay(retries + 1, self._rand)
            # MAX_SERVER_DELAY bounds what a server asks for; our own backoff grows only as far as it is configured.
            if retries >= max_retries or (error.retry_after is not None and delay > MAX_SERVER_DELAY):
                if retries == 0:
                    raise error
                raise RetriesExhausted(error, retries + 1) from error
            retries += 1
            cause = f"status {error.status}" if isinstance(error, HttpStatusError) else type(error).__name__
            logger.warning("request %s: %s; retry %d of %d in %.2f s", request_id, cause, retries, max_retries, delay)
            if on_retry is not None:
                await on_retry(RetryNotice(attempt=retries, max_attempts=max_retries, delay=delay, error=error))
            await self._sleep(delay)

    def _build(
        self,
        path: str,
        content: bytes,
        auth: ResolvedAuth,
        request_id: str,
        extra_headers: Mapping[str, str] | None,
        *,
        streaming: bool,
    ) -> httpx.Request:
        # Caller extras first, then ours over them (case-insensitively): a caller cannot replace the credential.
        headers = httpx.Headers(extra_headers or {})
        headers.update(auth.headers)
        headers["Content-Type"] = "application/json"
        headers["Accept"] = "text/event-stream" if streaming else "application/json"
        headers["x-client-request-id"] = request_id
        if auth.compress:
            headers["Content-Encoding"] = "zstd"
        # The read timeout doubles as the wait for response headers; the per-line idle timeout is EventStream's.
        timeout = httpx.Timeout(_CONNECT_TIMEOUT, read=self.provider.stream_idle_timeout)
        return self._http.build_request(
            "POST",
            self.provider.url(path),
            content=content,
            headers=headers,
            params=dict(self.provider.query_params),
            timeout=timeout,
        )

    async def _read_error(self, response: httpx.Response, endpoint: str, auth: ResolvedAuth) -> UpstreamError:
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= _ERROR_BODY_LIMIT:
                    break
        except httpx.HTTPError:
            pass  # a truncated error body still has a status code worth reporting
        finally:
            with anyio.move_on_after(_CLOSE_SECONDS, shield=True):
                await response.aclose()
        return http_status_error(
            response.status_code,
            bytes(body[:_ERROR_BODY_LIMIT]),
            response.headers,
            compact=endpoint == "compact",
            secrets=auth.secrets,
            now=time.time(),
        )


async def _compress(payload: bytes) -> bytes:
    if len(payload) > _OFF_THREAD_BYTES:
        return await anyio.to_thread.run_sync(zstandard.compress, payload, ZSTD_LEVEL)
    return zstandard.compress(payload, ZSTD_LEVEL)
