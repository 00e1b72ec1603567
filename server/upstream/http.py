"""The HTTP client under a provider's requests, and the `http_transport` setting that picks what carries it.

Contract: `open_http(name)` returns the `httpx.AsyncClient` (one connection pool) a provider's requests go
through. Everything above it speaks httpx; only the transport beneath varies:

- `"aiohttp"` (the default): `AiohttpTransport`, aiohttp's pool and C parser. On the benchmark's 5,000-event
  stream the body is read in about a quarter of the time httpx's own transport takes (`scripts/bench_turns.py`).
- `"httpx"`: httpx's own transport (httpcore + h11, pure Python), kept as the fallback should an endpoint or a
  network path misbehave with aiohttp.

Both give the client and stream layers the same behaviour (see `aiohttp_transport.py`); the upstream test
suites run over both. `transport_name(value)` checks a setting's value; anything else is a `ValueError`.
Both verify TLS against one shared context (certifi's roots, as httpx does by default). `prepare(name)` does the
slow part of the first client's set-up — loading that CA bundle and, for aiohttp, importing it (together about
a quarter of a second) — and is meant to run in a worker thread at start-up, so the first turn does not wait.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx

__all__ = ["DEFAULT_TRANSPORT", "TRANSPORTS", "open_http", "prepare", "transport_name"]

TRANSPORTS = ("aiohttp", "httpx")
DEFAULT_TRANSPORT = "aiohttp"

# Connect and pool waits are bounded here; `read` is set per request (the stream's idle timeout).
_TIMEOUT = httpx.Timeout(connect=30.0, read=None, write=120.0, pool=30.0)


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
    """Load what the first client over `name` needs (thread-safe; later calls cost nothing)."""
    _ssl_context()
    if name == "aiohttp":
        # Imported here and not at start-up: aiohttp's import is most of this, and `initialize` need not wait.
        from . import aiohttp_transport  # noqa: F401


def open_http(name: str = DEFAULT_TRANSPORT, *, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """A client over the named transport, or over `transport` when one is given (tests inject mocks)."""
    prepare(name)
    if transport is None and name == "aiohttp":
        from .aiohttp_transport import AiohttpTransport

        transport = AiohttpTransport(ssl_context=_ssl_context())
    return httpx.AsyncClient(timeout=_TIMEOUT, transport=transport, verify=_ssl_context(), trust_env=False)
