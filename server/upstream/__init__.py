"""Talking to the model provider: the Responses API over HTTP + SSE, with auth, compression and retries.

The turn loop uses `ResponsesClient` (one per provider, around one injected `httpx.AsyncClient`), the
`StreamEvent` Structs it yields, and the `UpstreamError` tree it raises. See each module's docstring for its
contract: `provider` (what a provider is), `auth` (credential + compression, decided together), `sse`
(pure parser), `events` (typed events), `errors`/`mapping` (failures → codexErrorInfo), `retry` (timing),
`stream` (one open stream), `client` (requests and request-level retries).
"""

from server.upstream.auth import AuthSource, CachedLogin, ResolvedAuth, resolve_request_auth
from server.upstream.client import OnRetry, ResponsesClient
from server.upstream.provider import CODEX_BACKEND_URL, ProviderInfo, builtin_openai
from server.upstream.retry import RetryNotice
from server.upstream.stream import EventStream

__all__ = [
    "CODEX_BACKEND_URL",
    "AuthSource",
    "CachedLogin",
    "EventStream",
    "OnRetry",
    "ProviderInfo",
    "ResolvedAuth",
    "ResponsesClient",
    "RetryNotice",
    "builtin_openai",
    "resolve_request_auth",
]
