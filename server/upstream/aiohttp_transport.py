"""An httpx transport that carries requests over aiohttp: its connection pool and its C HTTP/1.1 parser.

Why: httpx's own transport (httpcore + h11) parses each HTTP chunk in Python and hands it up through several
async generators, one trip per chunk. The Responses API sends every SSE event as its own chunk, so that per-chunk
cost was most of the daemon's time on a long stream. aiohttp parses in C (llhttp) into a buffer, and `readany()`
returns everything that arrived since the last read: a burst of events costs one read.

Contract: requests and responses are httpx's, unchanged above this layer —
- the body is sent as the request's bytes with the request's headers exactly, names in their case (aiohttp adds
  none of its own), to the URL exactly as httpx encoded it;
- the response body is handed up undecoded (httpx decodes `Content-Encoding` in `aiter_bytes`, as with its own
  transport), in pieces of whatever size arrived;
- the request's timeouts apply: `read` is the longest wait for the next bytes (reset by every byte received),
  `connect` the TCP/TLS set-up, `pool` the wait for a free connection; there is no write timeout;
- failures are httpx's exceptions: `ConnectError`/`ConnectTimeout` before the request is sent,
  `ReadTimeout` when `read` passes, `RemoteProtocolError` when the server breaks HTTP or closes early (a cut
  chunked body included), `ReadError` for other broken connections. No aiohttp exception escapes;
- closing a response whose body was read to its end returns the connection to the pool; closing one part-way
  drops the connection (that is how an interrupt stops the upstream stream);
- redirects are not followed; environment proxies are not used (as the daemon's httpx clients, `trust_env=False`).

aiohttp runs on asyncio, the backend the daemon uses. The session is made on the first request, inside the
running loop, and closed by `aclose()`.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
import yarl

__all__ = ["AiohttpTransport"]

# Most specific first: several of these subclass the later ones.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.ClientError, httpx.TransportError),
    # A timeout aiohttp lets through unwrapped (its `total` budget, which we leave unset): a timeout, cause unknown.
    (TimeoutError, httpx.TimeoutException),
)


def httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError | None:
    """The httpx exception standing for an aiohttp failure, or None when `exc` is not one."""
    for source, target in _ERRORS:
        if isinstance(exc, source):
            detail = str(exc) or type(exc).__name__
            return target(detail, request=request)
    return None


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        mapped = httpx_error(exc, request)
        if mapped is None:
            raise
        raise mapped from exc


def _client_timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    timeout: dict[str, float | None] = request.extensions.get("timeout", {})
    connect, pool = timeout.get("connect"), timeout.get("pool")
    return aiohttp.ClientTimeout(
        total=None,
        # aiohttp's `connect` covers both waiting for a pooled connection and making a new one.
        connect=None if connect is None or pool is None else connect + pool,
        sock_connect=connect,
        sock_read=timeout.get("read"),
    )


class _Body(httpx.AsyncByteStream):
    """A response body as it arrives; closing it releases (or, part-read, drops) the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        with _as_httpx_errors(self._request):
            while chunk := await content.readany():
                yield chunk

    async def aclose(self) -> None:
        with _as_httpx_errors(self._request):
            self._response.release()
            await self._response.wait_for_close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp connection pool behind an `httpx.AsyncClient`: `httpx.AsyncClient(transport=...)`."""

    def __init__(
        self, *, ssl_context: ssl.SSLContext, max_connections: int = 100, keepalive_expiry: float = 5.0
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=self._keepalive_expiry,
            ssl=self._ssl_context,
        )
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            trust_env=False,
            # httpx already wrote every header the request needs; aiohttp must not add its own defaults.
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._open_session()
        content = await request.aread()
        with _as_httpx_errors(request):
            response = await self._session.request(
                request.method,
                # httpx has already encoded the URL; yarl must not re-quote it.
                yarl.URL(str(request.url), encoded=True),
                # As httpx built them, names in their original case.
                headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw],
                data=content or None,
                allow_redirects=False,
                timeout=_client_timeout(request),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
