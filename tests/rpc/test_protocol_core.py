"""The protocol core: handshake rules, error codes, gating, opt-out, framing limits, overload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from protocol._base import MethodSpec
from protocol._generated.types import ThreadReadParams
from protocol.client import RpcFailure
from server.errors import ServerOverloaded
from server.rpc.connection import Connection, RequestContext
from server.rpc.router import Router
from server.simulator import Reply, Simulator, Text
from server.transport.memory import memory_transport
from tests.harness import SIM_ENV, running_server, sim_overrides

pytestmark = pytest.mark.anyio


async def _replies(h: Any, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    previous = h.client.on_message

    def keep(message: dict[str, Any]) -> None:
        previous(message)
        if "method" not in message:
            got.append(message)

    h.client.on_message = keep
    return got


async def test_requests_before_initialize_are_refused_and_a_second_initialize_too(tmp_path: Path) -> None:
    async with running_server(tmp_path, initialize=False) as h:
        with pytest.raises(RpcFailure) as early:
            await h.client.request("thread/loaded/list", {})
        assert (early.value.code, early.value.message) == (-32600, "Not initialized")
        result = await h.client.initialize()
        assert result["userAgent"].startswith("threadline/") and result["serverInfo"]["name"] == "threadline"
        with pytest.raises(RpcFailure) as again:
            await h.client.initialize()
        assert (again.value.code, again.value.message) == (-32600, "Already initialized")


async def test_malformed_lines_get_parse_errors_and_the_connection_goes_on(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        replies = await _replies(h, 3)
        await h.write(b"{not json\n[1,2]\n\r\n{\"id\": 7}\r\n")
        result = await h.client.request("thread/loaded/list", {})
        assert result == {"data": [], "nextCursor": None}
        codes = [(r["id"], r["error"]["code"]) for r in replies if "error" in r]
        assert codes == [(None, -32700), (None, -32600), (7, -32600)]


async def test_unknown_methods_and_missing_params_get_clear_errors(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        with pytest.raises(RpcFailure) as unknown:
            await h.client.request("bogus/method", {})
        assert (unknown.value.code, unknown.value.message) == (-32601, "unknown method: bogus/method")
        await h.write(b'{"id": "p", "method": "thread/read"}\n')
        with anyio.fail_after(5):
            while not any(m.get("id") == "p" for m in h.witness.seen):
                await anyio.wait_all_tasks_blocked()
        reply = next(m for m in h.witness.seen if m.get("id") == "p")
        assert reply["error"] == {"code": -32600, "message": "Invalid request: missing field `params`"}


async def test_a_method_the_schema_knows_but_no_handler_serves_is_method_not_found() -> None:
    router = Router({"thread/read": MethodSpec(method="thread/read", params=ThreadReadParams)})
    ctx: Any = RequestContext(connection=None, request_id=1, method="thread/read")  # type: ignore[arg-type]
    with pytest.raises(Exception) as missing:
        await router.call(ctx, "thread/read", msgspec.Raw(b"{}"))
    assert missing.value.code == -32601  # type: ignore[attr-defined]
    assert str(missing.value) == "thread/read is not supported by threadline yet"


async def test_experimental_methods_are_gated_by_the_capability(tmp_path: Path) -> None:
    async with running_server(tmp_path, experimental=False) as h:
        with pytest.raises(RpcFailure) as gated:
            await h.client.request("metrics/read", {})
        assert (gated.value.code, gated.value.message) == (-32600, "metrics/read requires experimentalApi capability")


async def test_opted_out_notifications_are_not_sent(tmp_path: Path) -> None:
    async with running_server(tmp_path, initialize=False) as h:
        await h.client.initialize(opt_out=["thread/started"])
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        await h.client.request("thread/name/set", {"threadId": thread_id, "name": "x"})
        await h.client.next_global("thread/name/updated")
        assert not any(m.get("method") == "thread/started" for m in h.witness.seen)


async def test_an_oversized_request_is_refused_under_its_id_and_the_next_line_is_served(tmp_path: Path) -> None:
    async with running_server(tmp_path, max_frame=1024) as h:
        replies = await _replies(h, 1)
        await h.write(b'{"id": 1, "method": "thread/start", "params": {"baseInstructions": "' + b"x" * 4096 + b'"}}\n')
        await h.write(b'{"method": "thread/start", "id": "s-2", "params": {"baseInstructions": "' + b"x" * 4096 + b'"}}\n')
        assert (await h.client.request("thread/loaded/list", {}))["data"] == []
        refused = [r for r in replies if "error" in r]
        assert [r["id"] for r in refused] == [1, "s-2"]  # a client waiting on its id is answered
        for reply in refused:
            assert reply["error"]["code"] == -32600 and "1024 byte limit" in reply["error"]["message"]
            assert reply["error"]["data"] == {"frameLimit": 1024}


async def test_an_oversized_line_whose_start_names_no_request_id_is_refused_with_id_null(tmp_path: Path) -> None:
    big = b'{"text": "' + b"x" * 4096 + b'"}'
    async with running_server(tmp_path, max_frame=1024) as h:
        replies = await _replies(h, 1)
        await h.write(b'{"params": ' + big + b', "id": 1, "method": "thread/start"}\n')  # the id comes after params
        await h.write(b'{"id": 2, "result": ' + big + b"}\n")  # a reply to a server request: its id is ours
        await h.write(b"[" + big + b"]\n")
        assert (await h.client.request("thread/loaded/list", {}))["data"] == []
        refused = [r for r in replies if "error" in r]
        assert [(r["id"], r["error"]["code"]) for r in refused] == [(None, -32600)] * 3


async def test_an_answer_longer_than_the_frame_limit_becomes_an_error_to_the_same_id(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV,
                                  max_frame=4096) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            for n in range(3):  # each turn fits a frame; the three together do not
                sim.enqueue(Reply(output=[Text("ok")]))
                await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": f"{n}" * 1500}]})
            for method, params in [("thread/read", {"threadId": thread_id, "includeTurns": True}),
                                   ("thread/resume", {"threadId": thread_id})]:
                with pytest.raises(RpcFailure) as too_large:
                    await h.client.request(method, params)
                assert too_large.value.code == -32600
                assert too_large.value.data["frameLimit"] == 4096 and too_large.value.data["frameSize"] > 4096
                assert f"the answer to {method} would be a" in too_large.value.message
                assert "excludeTurns" in too_large.value.message and "thread/turns/list" in too_large.value.message
            # What the error suggests works: the thread without its turns, then the turns a page at a time.
            await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
            pages, cursor = [], None
            while True:
                page = await h.client.request("thread/turns/list", {"threadId": thread_id, "limit": 1,
                                                                    "cursor": cursor, "sortDirection": "asc"})
                pages += page["data"]
                if (cursor := page["nextCursor"]) is None:
                    break
            assert [t["items"][0]["content"][0]["text"][0] for t in pages] == ["0", "1", "2"]
            with pytest.raises(RpcFailure) as fork_too_large:  # the fork stands: asking again would make another
                await h.client.request("thread/fork", {"threadId": thread_id})
            assert "the fork was made all the same" in fork_too_large.value.message
            await h.client.next_global("thread/started", where=lambda p: p["thread"]["forkedFromId"] == thread_id)
            assert max(len(frame) - 1 for frame in h.witness.raw) <= 4096  # never a line we would refuse ourselves


async def test_a_full_inbound_queue_answers_server_overloaded_with_data() -> None:
    release = anyio.Event()

    async def slow(ctx: RequestContext, params: Any) -> dict[str, Any]:
        await release.wait()
        return {}

    router = Router({"thread/read": MethodSpec(method="thread/read", params=ThreadReadParams)})
    router.add("thread/read", slow)
    async with memory_transport() as (transport, end), anyio.create_task_group() as tg:
        conn = Connection(transport, router, queue_size=1, max_inflight=1)
        conn.initialize_answered = True
        tg.start_soon(conn.run)
        line = b'{"id": %d, "method": "thread/read", "params": {"threadId": "t"}}\n'
        for n in range(4):
            await end.write(line % n)
        with anyio.fail_after(5):
            first = msgspec.json.decode(await end.frames.receive())
        assert first["id"] in (2, 3) and first["error"]["code"] == ServerOverloaded.code
        assert first["error"]["message"] == "Server overloaded; retry later."
        assert first["error"]["data"] == {"codexErrorInfo": "serverOverloaded"}
        release.set()
        end.close()
        tg.cancel_scope.cancel()


async def test_text_with_line_separators_crosses_the_wire_escaped(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        await h.client.request("thread/name/set", {"threadId": thread_id, "name": "a\u2028b\u2029c"})
        update = await h.client.next_global("thread/name/updated")
        assert update["threadName"] == "a\u2028b\u2029c"
        frame = next(f for f in h.witness.raw if b"thread/name/updated" in f)
        assert b"a\\u2028b\\u2029c" in frame and "\u2028".encode() not in frame
        assert all(f.count(b"\n") == 1 and f.endswith(b"\n") for f in h.witness.raw)


async def test_model_output_holding_every_line_breaking_character_streams_one_line_per_frame(tmp_path: Path) -> None:
    breaks = [c for c in map(chr, range(0x110000)) if len(f"a{c}b".splitlines()) > 1]  # U+0085 among them
    deltas = [f"{c}x{c}" for c in breaks]
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text.from_deltas(deltas)]))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn, events = await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]})
            assert [e["params"]["delta"] for e in events if e["method"] == "item/agentMessage/delta"] == deltas
            assert turn["items"][-1]["text"] == "".join(deltas)
            for frame in h.witness.raw:  # a \n splitter and str.splitlines() both see each frame whole
                assert frame.split(b"\n") == [frame[:-1], b""], frame
                assert len(frame.decode().splitlines()) == 1, frame
