"""The HTTP client under a provider's requests, and the `http_transport` setting that picks what carries it.

Contract: `open_http(name)` returns the `httpx.AsyncClient` (one connection pool) a provider's requests go
through. Everything above it speaks httpx; only the transport beneath varies:

- `"aiohttp"` (the default): `AiohttpTransport`, aiohttp's pool and C parser. On the benchmark's 5,000-event
  stream the body is read in about a quarter of the time httpx's own transport takes (`scripts/bench_turns.py`).
- `"httpx"`: httpx's own transport (httpcore + h11, pure Python), kept as the fallback should an endpoint or a
  network path misbehave with aiohttp.

Both give the client and stream layers the same behaviour (see `aiohttp_transport.py`); the upstream test
suites run over both. `transport_name(value)` checks a setting's value; anything else is a `ValueError`.
Both verify TLS against one shared context (certifi's roots, as httpx does by default).

Start-up: importing aiohttp costs about a quarter of a second (most of it two TLS contexts aiohttp builds at
import). The daemon runs `prepare("aiohttp")` in a worker thread once it serves. A client opened while that
import is still under way starts on httpx's transport and moves to aiohttp for the requests after it completes,
so no request waits for the import; a client opened with no import under way imports aiohttp there and then.
Should the background import fail, clients opened after it stay on httpx's transport, and a warning says so.
"""

from __future__ import annotations

import functools
import logging
import platform
import ssl
import threading
from typing import Any

import httpx

from server import __version__

__all__ = ["DEFAULT_TRANSPORT", "TRANSPORTS", "open_http", "prepare", "transport_name"]

TRANSPORTS = ("aiohttp", "httpx")
DEFAULT_TRANSPORT = "aiohttp"

logger = logging.getLogger(__name__)

# Connect and pool waits are bounded here; `read` is set per request (the stream's idle timeout).
_TIMEOUT = httpx.Timeout(connect=30.0, read=None, write=120.0, pool=30.0)
# Who is asking, for the provider's logs (Codex sends its own name and version the same way).
USER_AGENT = f"threadline/{__version__} ({platform.system()} {platform.release()}; {platform.machine() or 'unknown'})"
_aiohttp_loading = threading.Event()
_aiohttp_ready = threading.Event()


def transport_name(value: Any) -> str:
    """The transport an `http_transport` setting names (None: the default); ValueError for anything else."""
    if value is None:
        return DEFAULT_TRANSPORT
    if value not in TRANSPORTS:
        raise ValueError(f"http_transport must be one of {', '.join(TRANSPORTS)}; got {value!r}")
    return str(value)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def prepare(name: str) -> None:
    """Load what the first client over `name` needs (blocking: run it in a worker thread; later calls are free)."""
    importing = name == "aiohttp" and not _aiohttp_ready.is_set()
    if importing:
        _aiohttp_loading.set()  # first: from now on a new client starts on httpx's transport instead of waiting
    _ssl_context()
    if importing:
        try:
            from . import aiohttp_transport  # noqa: F401
        except ImportError as exc:  # a broken install: clients opened from now on stay on httpx's transport
            logger.warning("aiohttp could not be imported (%s); upstream requests use httpx's own transport", exc)
            return
        _aiohttp_ready.set()


def _aiohttp() -> httpx.AsyncBaseTransport:
    from .aiohttp_transport import AiohttpTransport

    return AiohttpTransport(ssl_context=_ssl_context())


class _AiohttpOnceLoaded(httpx.AsyncBaseTransport):
    """httpx's own transport until the background import of aiohttp completes, aiohttp from then on."""

    def __init__(self) -> None:
        self._first = httpx.AsyncHTTPTransport(verify=_ssl_context())
        self._then: httpx.AsyncBaseTransport | None = None

    @property
    def current(self) -> httpx.AsyncBaseTransport:
        if self._then is None and _aiohttp_ready.is_set():
            self._then = _aiohttp()
        return self._then or self._first

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.current.handle_async_request(request)

    async def aclose(self) -> None:
        await self._first.aclose()
        if self._then is not None:
            await self._then.aclose()


def open_http(name: str = DEFAULT_TRANSPORT, *, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """A client over the named transport, or over `transport` when one is given (tests inject mocks)."""
    if transport is None and name == "aiohttp":
        loading = _aiohttp_loading.is_set() and not _aiohttp_ready.is_set()
        transport = _AiohttpOnceLoaded() if loading else _aiohttp()
    return httpx.AsyncClient(timeout=_TIMEOUT, transport=transport, verify=_ssl_context(), trust_env=False,
                             headers={"User-Agent": USER_AGENT})
