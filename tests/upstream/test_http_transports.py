"""The HTTP transports under the upstream client: the aiohttp adapter keeps httpx's contract on real sockets.

Each test runs a raw HTTP/1.1 server on 127.0.0.1 that does one scripted thing (answer, close early, cut a body,
stall, burst) and checks what the client sees, over both transports where the behaviour must be the same.
"""

from __future__ import annotations

import gzip
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
import httpx
import pytest
from aiohttp.client_reqrep import ConnectionKey
from anyio.abc import SocketAttribute, SocketStream

from server.config import Settings
from server.sessions.services import TurnServices
from server.sessions.turn import TurnFailed
from server.simulator import Reply, Simulator, Text
from server.upstream import http as http_module
from server.upstream.aiohttp_transport import AiohttpTransport, httpx_error
from server.upstream.http import TRANSPORTS, open_http

pytestmark = pytest.mark.anyio

Handler = Callable[[SocketStream, bytes], Awaitable[None]]


async def _read_request(stream: SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += await stream.receive()
    return data


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A one-behaviour HTTP server: `handler(stream, raw_request)` per connection; yields its base URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)

    async def serve(stream: SocketStream) -> None:
        async with stream:
            try:
                await handler(stream, await _read_request(stream))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
                pass  # the client went away first

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


# The raw server answers one request per connection, and says so: a client may not reuse a connection it closes.
CLOSE = b"Connection: close\r\n"
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\n" + CLOSE + b"Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.fixture(params=TRANSPORTS)
async def http(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    async with open_http(request.param) as client:
        yield client


async def test_the_request_goes_out_with_exactly_the_headers_and_body_httpx_built(http: httpx.AsyncClient) -> None:
    seen: list[bytes] = []

    async def answer(stream: SocketStream, raw: bytes) -> None:
        seen.append(raw)
        await stream.send(b"HTTP/1.1 200 OK\r\n" + CLOSE + b"Content-Length: 2\r\n\r\nok")

    async with raw_server(answer) as url:
        request = http.build_request("POST", f"{url}/responses", content=b'{"a": 1}',
                                     params={"api-version": "2025-04-01", "q": "a b/c"},
                                     headers={"Authorization": "Bearer k", "Content-Type": "application/json",
                                              "X-Team": "tools"})
        response = await http.send(request)
    assert response.status_code == 200 and response.text == "ok"
    head, _, body = seen[0].partition(b"\r\n\r\n")
    request_line, *lines = head.decode().split("\r\n")
    assert request_line == f"POST {request.url.raw_path.decode()} HTTP/1.1"
    sent = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
    assert sorted(sent) == sorted((name.decode(), value.decode()) for name, value in request.headers.raw)
    assert ("X-Team", "tools") in sent
    assert body == b'{"a": 1}'


async def test_an_unreachable_port_is_a_connect_error(http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:  # a port that was just free: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        await http.post(f"http://127.0.0.1:{port}/responses", content=b"{}")


async def test_a_server_that_closes_before_answering_is_a_remote_protocol_error(http: httpx.AsyncClient) -> None:
    async def hang_up(stream: SocketStream, raw: bytes) -> None:
        await stream.aclose()

    async with raw_server(hang_up) as url:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"{url}/responses", content=b"{}")


async def test_a_chunked_body_cut_midway_delivers_what_arrived_then_raises(http: httpx.AsyncClient) -> None:
    async def cut(stream: SocketStream, raw: bytes) -> None:
        await stream.send(CHUNKED_HEAD + chunk(b"data: one\n\n") + b"40\r\npartial")
        await stream.aclose()

    received = b""
    async with raw_server(cut) as url, http.stream("POST", f"{url}/responses", content=b"{}") as response:
        with pytest.raises(httpx.RemoteProtocolError):
            async for piece in response.aiter_raw():
                received += piece
    assert received.startswith(b"data: one\n\n")


async def test_a_body_that_stalls_past_the_read_timeout_raises_read_timeout(http: httpx.AsyncClient) -> None:
    release = anyio.Event()

    async def stall(stream: SocketStream, raw: bytes) -> None:
        await stream.send(CHUNKED_HEAD + chunk(b"data: one\n\n"))
        await release.wait()

    async with raw_server(stall) as url:
        request = http.build_request("POST", f"{url}/responses", content=b"{}", timeout=httpx.Timeout(5, read=0.2))
        response = await http.send(request, stream=True)
        try:
            with anyio.fail_after(5), pytest.raises(httpx.ReadTimeout):
                async for _ in response.aiter_raw():
                    pass
        finally:
            release.set()
            await response.aclose()


async def test_a_gzip_body_arrives_raw_from_aiter_raw_and_decoded_from_aiter_bytes(http: httpx.AsyncClient) -> None:
    packed = gzip.compress(b"data: {}\n\n" * 100)

    async def gzipped(stream: SocketStream, raw: bytes) -> None:
        await stream.send(b"HTTP/1.1 200 OK\r\n" + CLOSE + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(packed), packed))

    async with raw_server(gzipped) as url:
        async with http.stream("POST", f"{url}/responses", content=b"{}") as response:
            assert b"".join([piece async for piece in response.aiter_raw()]) == packed
        async with http.stream("POST", f"{url}/responses", content=b"{}") as response:
            assert b"".join([piece async for piece in response.aiter_bytes()]) == b"data: {}\n\n" * 100


async def test_aiohttp_hands_up_a_burst_of_http_chunks_in_a_few_reads() -> None:
    events = [b"data: {\"n\": %d}\n\n" % i for i in range(1000)]
    sent = anyio.Event()

    async def burst(stream: SocketStream, raw: bytes) -> None:
        await stream.send(CHUNKED_HEAD + b"".join(chunk(event) for event in events) + b"0\r\n\r\n")
        sent.set()

    async with raw_server(burst) as url, open_http("aiohttp") as http:
        async with http.stream("POST", f"{url}/responses", content=b"{}") as response:
            await sent.wait()
            pieces = [piece async for piece in response.aiter_raw()]
    assert b"".join(pieces) == b"".join(events)
    assert len(pieces) < 100, f"{len(pieces)} reads for 1,000 chunks: reads are not coalescing"


async def test_closing_a_part_read_stream_drops_its_connection_and_a_full_read_keeps_it(
        http: httpx.AsyncClient) -> None:
    with Simulator() as sim:
        sim.enqueue(*[Reply(output=[Text.words(200)], event_delay=0.001) for _ in range(3)])
        url = f"{sim.base_url}/responses"
        async with http.stream("POST", url, content=b"{}") as response:
            async for _ in response.aiter_raw():
                break  # an interrupt: stop reading part-way
        async with http.stream("POST", url, content=b"{}") as response:
            async for _ in response.aiter_raw():
                pass
        async with http.stream("POST", url, content=b"{}") as response:
            async for _ in response.aiter_raw():
                pass
        first, second, third = (request.connection for request in sim.requests)
    assert second != first, "a part-read stream's connection was reused"
    assert third == second, "a fully read stream's connection was not reused"


KEY = ConnectionKey("127.0.0.1", 1, False, True, None, None, None, None)


@pytest.mark.parametrize(("error", "expected"), [
    (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError("read"), httpx.ReadTimeout),
    (aiohttp.ClientProxyConnectionError(KEY, OSError("proxy")), httpx.ProxyError),
    (aiohttp.ClientConnectorError(KEY, OSError("refused")), httpx.ConnectError),
    (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError),
    (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
    (aiohttp.ClientError("other"), httpx.TransportError),
    (TimeoutError(), httpx.TimeoutException),
])
def test_every_aiohttp_failure_becomes_the_httpx_error_that_stands_for_it(
        error: BaseException, expected: type[httpx.TransportError]) -> None:
    request = httpx.Request("POST", "http://127.0.0.1/responses")
    mapped = httpx_error(error, request)
    assert type(mapped) is expected and mapped.request is request and str(mapped)


def test_an_error_that_is_not_aiohttp_is_left_alone() -> None:
    assert httpx_error(ValueError("ours"), httpx.Request("GET", "http://127.0.0.1/")) is None


def _services(tmp_path: object, *overrides: str) -> TurnServices:
    return TurnServices(Settings.load(env={"THREADLINE_HOME": str(tmp_path)}, overrides=list(overrides)))


async def test_the_http_transport_setting_picks_what_carries_a_providers_requests(tmp_path: object) -> None:
    default, plain = _services(tmp_path), _services(tmp_path, 'http_transport="httpx"')
    try:
        assert isinstance(default.client("openai")._http._transport, AiohttpTransport)
        assert isinstance(plain.client("openai")._http._transport, httpx.AsyncHTTPTransport)
    finally:
        await default.aclose()
        await plain.aclose()


def test_an_unknown_http_transport_fails_the_turn_naming_the_choices(tmp_path: object) -> None:
    with pytest.raises(TurnFailed) as failed:
        _services(tmp_path, 'http_transport="curl"').client("openai")
    assert "http_transport must be one of aiohttp, httpx; got 'curl'" in failed.value.error.message


@pytest.fixture
def import_state() -> Iterator[None]:
    """No background import of aiohttp started yet; the module's import flags are restored afterwards."""
    events = (http_module._aiohttp_loading, http_module._aiohttp_ready)
    saved = [event.is_set() for event in events]
    for event in events:
        event.clear()
    yield
    for event, was in zip(events, saved, strict=True):
        if was:
            event.set()
        else:
            event.clear()


@pytest.fixture
def aiohttp_import_under_way(import_state: None) -> None:
    """The daemon's background import of aiohttp has started and not finished."""
    http_module._aiohttp_loading.set()


async def test_a_client_opened_during_the_background_import_starts_on_httpx_then_moves_to_aiohttp(
        aiohttp_import_under_way: None) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("one"), Reply.text("two"))
        async with open_http("aiohttp") as http:
            carrier = http._transport
            assert isinstance(carrier, http_module._AiohttpOnceLoaded)
            assert isinstance(carrier.current, httpx.AsyncHTTPTransport)
            first = await http.post(f"{sim.base_url}/responses", content=b"{}")
            http_module._aiohttp_ready.set()  # the import completed
            assert isinstance(carrier.current, AiohttpTransport)
            second = await http.post(f"{sim.base_url}/responses", content=b"{}")
        assert b"one" in first.content and b"two" in second.content
        assert sim.requests[0].connection != sim.requests[1].connection  # two pools: one per transport


def test_preparing_imports_aiohttp_and_later_clients_use_it_at_once(import_state: None) -> None:
    http_module.prepare("aiohttp")
    assert http_module._aiohttp_ready.is_set()
    assert isinstance(open_http("aiohttp")._transport, AiohttpTransport)


def test_a_failed_background_import_is_logged_and_leaves_new_clients_on_httpx(
        import_state: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # Importing the adapter now fails, as with a broken aiohttp install.
    monkeypatch.setitem(sys.modules, "server.upstream.aiohttp_transport", None)
    monkeypatch.delattr(sys.modules["server.upstream"], "aiohttp_transport")
    http_module.prepare("aiohttp")
    assert not http_module._aiohttp_ready.is_set()
    assert "aiohttp could not be imported" in caplog.text
    carrier = open_http("aiohttp")._transport
    assert isinstance(carrier, http_module._AiohttpOnceLoaded)
    assert isinstance(carrier.current, httpx.AsyncHTTPTransport)


async def test_start_up_preparation_skips_a_bad_setting_for_the_first_turn_to_report(
        tmp_path: object, import_state: None) -> None:
    services = _services(tmp_path, 'http_transport="curl"')
    await services.prepare_http()
    assert not http_module._aiohttp_loading.is_set()
    with pytest.raises(TurnFailed):
        services.client("openai")
