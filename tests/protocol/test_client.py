"""The typed client against a scripted server in memory: it survives bad lines and never waits on a dead wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest

from protocol.client import AppServerClient, RpcFailure, lines_of

pytestmark = pytest.mark.anyio


class Wire:
    """The server's end: `lines` the client sent (decoded), `say` a raw line to it, `hang_up` ends its input."""

    def __init__(self) -> None:
        self.to_client, self._client_reads = anyio.create_memory_object_stream[bytes](100)
        self._client_writes, self.from_client = anyio.create_memory_object_stream[bytes](100)

    async def say(self, line: bytes) -> None:
        await self.to_client.send(line)

    async def next_sent(self) -> dict[str, Any]:
        with anyio.fail_after(5):
            return msgspec.json.decode(await self.from_client.receive())

    def hang_up(self) -> None:
        self.to_client.close()
        self.from_client.close()

    async def frames(self) -> AsyncIterator[bytes]:
        async for line in self._client_reads:
            yield line


@asynccontextmanager
async def client_on(wire: Wire) -> AsyncIterator[AppServerClient]:
    client = AppServerClient(wire._client_writes.send, wire.frames())
    async with client.running():
        yield client


async def test_a_request_fails_when_the_connection_closes_under_it_and_at_once_after() -> None:
    wire = Wire()
    async with client_on(wire) as client:
        async with anyio.create_task_group() as tg:
            async def waiting() -> None:
                with pytest.raises(RpcFailure, match="connection closed"):
                    await client.request("thread/list", timeout=None)

            tg.start_soon(waiting)
            await wire.next_sent()
            wire.hang_up()
        with anyio.fail_after(5):
            await client.closed.wait()
            with pytest.raises(RpcFailure, match="connection closed"):
                await client.request("thread/list", timeout=None)
            with pytest.raises(RpcFailure, match="connection closed"):
                await client.notify("initialized")


async def test_waiting_for_a_notification_ends_when_the_connection_closes_even_with_others_buffered() -> None:
    wire = Wire()
    async with client_on(wire) as client:
        await wire.say(b'{"method": "other/thing", "params": {}}\n')
        wire.hang_up()
        with anyio.fail_after(5), pytest.raises(RpcFailure, match="connection closed"):
            await client.next_global("wanted/thing", timeout=None)


async def test_a_bad_line_or_a_failing_callback_is_skipped_and_the_client_goes_on() -> None:
    wire = Wire()
    seen: list[dict[str, Any]] = []

    def fussy(message: dict[str, Any]) -> None:
        seen.append(message)
        if message.get("method") == "boom":
            raise RuntimeError("callback bug")

    async with client_on(wire) as client:
        client.on_message = fussy
        async with anyio.create_task_group() as tg:
            async def ask() -> None:
                assert await client.request("thread/list") == {"data": []}

            tg.start_soon(ask)
            rid = (await wire.next_sent())["id"]
            for line in (b"Traceback (most recent call last):\n", b"[1, 2]\n", b'{"method": "boom", "params": {}}\n'):
                await wire.say(line)
            await wire.say(b'{"id": %d, "result": {"data": []}}\n' % rid)
    assert [m.get("method") for m in seen] == ["boom", None]


async def test_server_requests_without_a_handler_or_with_a_bad_answer_get_errors_not_empty_results() -> None:
    wire = Wire()
    async with client_on(wire) as client:
        client.handlers["item/tool/call"] = lambda message: _unencodable()
        await wire.say(b'{"id": "a", "method": "item/commandExecution/requestApproval", "params": {}}\n')
        assert (await wire.next_sent())["error"]["code"] == -32601
        await wire.say(b'{"id": "b", "method": "item/tool/call", "params": {}}\n')
        reply = await wire.next_sent()
        assert reply["id"] == "b" and reply["error"]["code"] == -32603


async def _unencodable() -> Any:
    return object()



class _Chunks:
    """A byte stream that hands out the given chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def __aiter__(self) -> AsyncIterator[bytes]:
        async def gen() -> AsyncIterator[bytes]:
            for chunk in self.chunks:
                yield chunk

        return gen()


async def test_lines_are_cut_on_newlines_only_however_the_bytes_arrive() -> None:
    wire = b'{"a":1}\n\n{"b":"x\xe2\x80\xa8y"}\r\n{"c":3}\n{"partial":'
    for size in (1, 2, 3, 7, len(wire)):
        chunks = [wire[i:i + size] for i in range(0, len(wire), size)]
        lines = [line async for line in lines_of(_Chunks(chunks))]
        assert lines == [b'{"a":1}', b'{"b":"x\xe2\x80\xa8y"}\r', b'{"c":3}']
