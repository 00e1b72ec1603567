"""ResponsesClient over httpx.MockTransport: the failure modes a real server cannot produce on demand."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from server.upstream import ProviderInfo, ResponsesClient, builtin_openai
from server.upstream import errors as e
from server.upstream.events import OutputTextDelta, ResponseCompleted
from tests.upstream.conftest import SENTINEL_KEY, Sleeps, user_body

pytestmark = pytest.mark.anyio

COMPLETED = b'data: {"type":"response.completed","response":{"id":"r1","status":"completed"}}\n\n'
DELTA = b'data: {"type":"response.output_text.delta","delta":"hi"}\n\n'


class ChunkStream(httpx.AsyncByteStream):
    """A response body that yields chunks, then optionally raises or hangs until closed."""

    def __init__(self, chunks: list[bytes], *, then: Exception | None = None, hang: bool = False) -> None:
        self.chunks, self.then, self.hang = chunks, then, hang
        self.closed = anyio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.then is not None:
            raise self.then
        if self.hang:
            await self.closed.wait()

    async def aclose(self) -> None:
        self.closed.set()


def sse(stream: httpx.AsyncByteStream, status: int = 200) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": "text/event-stream"}, stream=stream)


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], provider: ProviderInfo | None = None, **kwargs: Any
) -> tuple[ResponsesClient, Sleeps]:
    provider = provider or ProviderInfo(id="m", name="Mock", base_url="http://mock/v1", env_key="K")
    sleeps = Sleeps()
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = ResponsesClient(
        provider, http, {"K": SENTINEL_KEY}, compression_feature=True, sleep=sleeps, rand=lambda: 0.5, **kwargs
    )
    return client, sleeps


async def drain(client: ResponsesClient) -> list[Any]:
    with anyio.fail_after(5):
        async with client.stream(user_body()) as events:
            return [event async for event in events]


class Refusing:
    """A handler whose every connection is refused; `calls` counts the attempts."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        raise httpx.ConnectError("connection refused", request=request)


async def test_connection_failures_are_retried_then_reported_as_exhausted_connection_failures() -> None:
    refusing = Refusing()
    client, sleeps = client_for(
        refusing, ProviderInfo(id="m", name="M", base_url="http://mock", env_key="K", request_max_retries=3)
    )
    with pytest.raises(e.RetriesExhausted) as caught:
        await drain(client)
    assert refusing.calls == 4 and len(sleeps.delays) == 3
    assert isinstance(caught.value.last, e.TransportError)
    # As Codex: a connection that never came is httpConnectionFailed, not too many failed attempts.
    assert caught.value.codex_error_info() == {"httpConnectionFailed": {"httpStatusCode": None}}
    assert caught.value.last.codex_error_info() == {"httpConnectionFailed": {"httpStatusCode": None}}


async def test_no_retries_configured_raises_the_error_itself() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"message": "boom", "type": "server_error"}})

    client, _ = client_for(handler, ProviderInfo(id="m", name="M", base_url="http://mock", request_max_retries=0))
    with pytest.raises(e.UpstreamServerError):
        await drain(client)


async def test_retry_after_as_an_http_date_is_honoured() -> None:
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}), sse(ChunkStream([COMPLETED]))]
    )
    client, _ = client_for(lambda request: next(answers))
    # Far beyond the longest wait we accept: raised at once rather than sleeping for decades.
    with pytest.raises(e.RateLimited):
        await drain(client)


async def test_a_415_to_a_compressed_body_falls_back_to_plain_json() -> None:
    encodings: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        encodings.append(request.headers.get("content-encoding"))
        if request.headers.get("content-encoding") == "zstd":
            return httpx.Response(415, text="Unsupported Media Type")
        assert msgspec.json.decode(request.content) == user_body()
        return sse(ChunkStream([COMPLETED]))

    provider = ProviderInfo(id="m", name="M", base_url="http://mock", request_compression="zstd")
    client, _ = client_for(handler, provider)
    await drain(client)
    assert encodings == ["zstd", None] and client.compression_refused


async def test_a_plain_400_invalid_json_is_not_mistaken_for_a_compression_refusal() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"error": {"message": "Request body must be valid JSON.", "code": "invalid_json"}}
        )

    client, _ = client_for(handler)
    with pytest.raises(e.BadRequest):
        await drain(client)
    assert not client.compression_refused


async def test_a_read_error_mid_stream_is_a_disconnect() -> None:
    body = ChunkStream([DELTA], then=httpx.ReadError("connection reset"))
    client, _ = client_for(lambda request: sse(body))
    with pytest.raises(e.StreamDisconnected, match="ReadError"):
        await drain(client)


async def test_silence_longer_than_the_idle_timeout_raises_idle_timeout_and_closes_the_body() -> None:
    # The idle timeout is the request's read timeout: the transport raises ReadTimeout when no byte arrives.
    body = ChunkStream([DELTA], then=httpx.ReadTimeout("no data"))
    provider = ProviderInfo(id="m", name="M", base_url="http://mock", stream_idle_timeout_ms=50)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sse(body)

    client, _ = client_for(handler, provider)
    with pytest.raises(e.IdleTimeout), anyio.fail_after(5):
        await drain(client)
    assert body.closed.is_set()
    assert seen[0].extensions["timeout"]["read"] == 0.05


async def test_done_before_completed_is_a_disconnect_and_unknown_events_are_skipped() -> None:
    unknown = b'data: {"type":"response.queued","response":{}}\n\n'
    client, _ = client_for(lambda request: sse(ChunkStream([unknown, DELTA, b"data: [DONE]\n\n", COMPLETED])))
    seen: list[Any] = []
    with pytest.raises(e.StreamDisconnected, match="before response.completed"), anyio.fail_after(5):
        async with client.stream(user_body()) as events:
            async for event in events:
                seen.append(event)
    assert [type(event) for event in seen] == [OutputTextDelta]


async def test_events_read_with_a_failure_are_delivered_before_it_is_raised() -> None:
    failed = b'data: {"type":"response.failed","response":{"id":"r1","error":{"code":"server_error","message":"x"}}}\n\n'
    client, _ = client_for(lambda request: sse(ChunkStream([DELTA, DELTA + DELTA + failed + COMPLETED])))
    seen: list[Any] = []
    with pytest.raises(e.UpstreamError), anyio.fail_after(5):
        async with client.stream(user_body()) as events:
            async for event in events:
                seen.append(event)
    assert [type(event) for event in seen] == [OutputTextDelta] * 3


async def test_gzip_encoded_streams_are_decoded_before_parsing() -> None:
    body = gzip.compress(DELTA + COMPLETED)
    client, _ = client_for(lambda request: httpx.Response(
        200, headers={"content-type": "text/event-stream", "content-encoding": "gzip"}, stream=ChunkStream([body])))
    assert [type(event) for event in await drain(client)] == [OutputTextDelta, ResponseCompleted]


async def test_events_split_across_chunks_and_crlf_lines_still_parse() -> None:
    raw = DELTA.replace(b"\n", b"\r\n") + COMPLETED
    chunks = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    client, _ = client_for(lambda request: sse(ChunkStream(chunks)))
    events = await drain(client)
    assert [type(event) for event in events] == [OutputTextDelta, ResponseCompleted]


async def test_an_unreadable_compact_answer_is_a_transport_error() -> None:
    client, _ = client_for(lambda request: httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(e.TransportError, match="response.compaction"), anyio.fail_after(5):
        await client.compact(user_body())


async def test_chatgpt_login_compresses_only_on_the_codex_backend() -> None:
    from server.upstream import CODEX_BACKEND_URL, CachedLogin

    seen: list[tuple[str, str | None, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("content-encoding"), request.headers.get("authorization")))
        return sse(ChunkStream([COMPLETED]))

    login = CachedLogin(token="chatgpt-tok")
    for provider in (builtin_openai(base_url=CODEX_BACKEND_URL), builtin_openai()):
        sleeps = Sleeps()
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        client = ResponsesClient(provider, http, {}, compression_feature=True, cached_login=login, sleep=sleeps)
        await drain(client)
    assert seen == [("chatgpt.com", "zstd", "Bearer chatgpt-tok"), ("api.openai.com", None, "Bearer chatgpt-tok")]


async def test_5xx_after_the_retries_is_too_many_failed_attempts_with_the_status() -> None:
    client, _ = client_for(lambda request: httpx.Response(503, text="busy"),
                           ProviderInfo(id="m", name="M", base_url="http://mock", env_key="K", request_max_retries=1))
    with pytest.raises(e.RetriesExhausted) as caught:
        await drain(client)
    assert caught.value.codex_error_info() == {"responseTooManyFailedAttempts": {"httpStatusCode": 503}}


async def test_our_own_backoff_runs_every_configured_retry_however_long_it_grows() -> None:
    refusing = Refusing()
    client, sleeps = client_for(refusing, ProviderInfo(id="m", name="M", base_url="http://mock", env_key="K",
                                                       request_max_retries=12))
    with pytest.raises(e.RetriesExhausted):
        await drain(client)
    assert refusing.calls == 13 and len(sleeps.delays) == 12 and max(sleeps.delays) > 120  # past MAX_SERVER_DELAY


async def test_two_requests_refused_at_once_each_get_their_plain_retry() -> None:
    both_sent = anyio.Event()
    compressed_seen = 0

    async def refuse_compressed_once_both_arrived(request: httpx.Request) -> httpx.Response:
        nonlocal compressed_seen
        if request.headers.get("content-encoding") == "zstd":
            compressed_seen += 1
            if compressed_seen == 2:
                both_sent.set()
            with anyio.fail_after(5):
                await both_sent.wait()  # both were built compressed before either refusal came back
            return httpx.Response(415, text="Unsupported Media Type")
        return sse(ChunkStream([COMPLETED]))

    provider = ProviderInfo(id="m", name="M", base_url="http://mock", request_compression="zstd")
    client = ResponsesClient(provider, httpx.AsyncClient(transport=httpx.MockTransport(refuse_compressed_once_both_arrived)),
                             {}, compression_feature=True, sleep=Sleeps(), rand=lambda: 0.5)
    results: list[list[Any]] = []

    async def one() -> None:
        results.append(await drain(client))

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        tg.start_soon(one)
    assert len(results) == 2 and all(isinstance(r[-1], ResponseCompleted) for r in results)
