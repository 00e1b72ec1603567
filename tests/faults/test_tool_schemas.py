"""Client schemas that cannot validate, or judge the wrong message: refused up front or reported, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from protocol.client import RpcFailure
from server.errors import ConnectionClosed
from server.rpc.connection import Connection
from server.rpc.router import Router
from server.sessions.schemas import schema_problem
from server.simulator import FunctionCall, Reasoning, Reply, Simulator, Text
from server.transport.memory import memory_transport
from tests.faults.conftest import SimConfig
from tests.faults.support import LOOKUP_TOOL, new_thread, run
from tests.harness import SIM_ENV, running_server

pytestmark = pytest.mark.anyio

Message = dict[str, Any]
DANGLING = {"type": "object", "properties": {"q": {"$ref": "#/$defs/missing"}}}


@pytest.mark.parametrize(("schema", "verdict"), [
    ({"$defs": {"a": {"type": "string"}}, "properties": {"q": {"$ref": "#/$defs/a"}}}, None),
    ({"$id": "https://x.test/root", "$defs": {"a": {"$id": "sub", "type": "string"}},
      "properties": {"q": {"$ref": "sub"}}}, None),  # resolved against the $id in scope
    ({"default": {"$ref": "#/nowhere"}}, None),  # data, not a reference
    (True, None),
    (DANGLING, "$ref '#/$defs/missing' does not resolve within the schema"),
    ({"$ref": "https://example.com/remote.json"}, "$ref 'https://example.com/remote.json' does not resolve within "
                                                   "the schema"),  # nothing is fetched
    ({"type": "nope"}, "'nope' is not valid under any of the given schemas"),
], ids=["local ref", "ref under $id", "ref-like data", "boolean schema", "dangling ref", "remote ref", "bad type"])
def test_a_schema_can_be_used_only_when_it_is_valid_for_its_draft_and_every_ref_resolves(
        schema: Any, verdict: str | None) -> None:
    assert schema_problem(schema) == verdict


async def test_a_tool_schema_whose_ref_points_nowhere_is_refused_at_thread_start_naming_the_tool(
        tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        with pytest.raises(RpcFailure) as refused:
            await new_thread(h.client, dynamicTools=[{**LOOKUP_TOOL, "inputSchema": DANGLING}])
        assert refused.value.code == -32602
        assert "`lookup`" in refused.value.message and "#/$defs/missing" in refused.value.message


async def test_an_output_schema_whose_ref_points_nowhere_is_refused_at_turn_start(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = await new_thread(h.client)
        with pytest.raises(RpcFailure) as refused:
            await h.client.request("turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "hi"}],
                                                  "outputSchema": DANGLING})
        assert refused.value.code == -32602 and "#/$defs/missing" in refused.value.message


async def test_a_tool_schema_is_checked_and_applied_under_the_draft_it_names(
        tmp_path: Path, sim_config: SimConfig) -> None:
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
              "properties": {"n": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}, "required": ["n"]}
    asked: list[Message] = []

    async def record(message: Message) -> Any:
        asked.append(message["params"]["arguments"])
        return {"contentItems": [{"type": "inputText", "text": "ok"}], "success": True}

    with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("count", '{"n": 0}', call_id="call_zero")]),
                    Reply(output=[FunctionCall("count", '{"n": 1}', call_id="call_one")]), Reply.text("done"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = record
            tool = {"type": "function", "name": "count", "description": "Count.", "inputSchema": draft4}
            thread_id = await new_thread(h.client, dynamicTools=[tool])  # draft-04's boolean exclusiveMinimum
            turn, _ = await run(h.client, thread_id, "count")
        assert turn["status"] == "completed"
        assert asked == [{"n": 1}]  # 0 is not above the exclusive minimum under draft-04


async def test_the_output_schema_judges_the_last_responses_message_not_an_earlier_one(
        tmp_path: Path, sim_config: SimConfig) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}

    async def answer(message: Message) -> Any:
        return {"contentItems": [{"type": "inputText", "text": "ok"}], "success": True}

    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text('{"a": 1}'), FunctionCall("lookup", '{"q": "x"}', call_id="call_1")]),
                    Reply(output=[Reasoning()]))  # the final response has no message at all
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = answer
            thread_id = await new_thread(h.client, dynamicTools=[LOOKUP_TOOL])
            turn, _ = await run(h.client, thread_id, "answer in JSON", outputSchema=schema)
        assert turn["status"] == "failed"
        assert "not JSON" in turn["error"]["message"]


async def test_a_server_request_fails_at_once_when_the_clients_side_of_the_wire_is_closed() -> None:
    async with memory_transport() as (transport, end), anyio.create_task_group() as tg:
        conn = Connection(transport, Router({}))
        tg.start_soon(conn.run)
        transport.outbound.close()  # stdout gone, stdin still open: no reply can ever come
        with anyio.fail_after(5), pytest.raises(ConnectionClosed):
            await conn.request("item/tool/call", {})
        end.close()
        tg.cancel_scope.cancel()


async def test_a_failed_tool_result_with_an_image_still_reads_as_an_error_to_the_model(
        tmp_path: Path, sim_config: SimConfig) -> None:
    async def fail_with_a_picture(message: Message) -> Any:
        return {"contentItems": [{"type": "inputImage", "imageUrl": "data:image/png;base64,AAAA"}], "success": False}

    with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", '{"q": "x"}', call_id="call_img")]), Reply.text("I see"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = fail_with_a_picture
            thread_id = await new_thread(h.client, dynamicTools=[LOOKUP_TOOL])
            turn, _ = await run(h.client, thread_id, "look")
        assert turn["status"] == "completed"
        [output] = [e["output"] for e in sim.requests[-1].body["input"] if e.get("type") == "function_call_output"]
        assert output == [{"type": "input_text", "text": "error: the tool reported a failure"},
                          {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]
