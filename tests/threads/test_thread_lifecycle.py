"""thread/start, resume, read, loaded/list, name/set, archive, unsubscribe — wire-compatible with Codex."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from protocol.client import RpcFailure
from server.rpc.connection import Connection
from server.sessions import lifecycle, manage
from server.sessions import turn as turn_module
from server.sessions.actor import ThreadSession
from server.sessions.registry import SessionRegistry
from server.sessions.service import Sessions
from server.sessions.views import IDLE, NOT_LOADED
from server.simulator import Gate, Reply, Simulator, Text
from tests.harness import SIM_ENV, running_server, sim_overrides

pytestmark = pytest.mark.anyio

SDK_START = {"approvalPolicy": "on-request", "approvalsReviewer": "auto_review"}


async def test_thread_start_answers_then_announces_thread_started_with_every_key(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        order: list[str] = []
        h.client.on_message = _chain(h.client.on_message, lambda m: order.append(m.get("method", "response")))
        result = await h.client.request("thread/start", SDK_START)
        started = await h.client.next_global("thread/started")
        assert order[:2] == ["response", "thread/started"]
        thread = result["thread"]
        assert started["thread"]["id"] == thread["id"]
        assert thread["status"] == {"type": "idle"} and thread["turns"] == []
        assert thread["sessionId"] == thread["id"] and thread["preview"] == "" and thread["ephemeral"] is False
        assert thread["name"] is None and thread["forkedFromId"] is None and thread["gitInfo"] is None
        # Persisted threads name where they are kept (Codex: a rollout file), one per thread, in every view.
        store, _, kept_as = thread["path"].partition("#")
        assert store == str(tmp_path / "threadline.sqlite3") and Path(store).is_file() and kept_as == thread["id"]
        read = await h.client.request("thread/read", {"threadId": thread["id"]})
        assert read["thread"]["path"] == thread["path"]
        assert result["approvalPolicy"] == "on-request" and result["approvalsReviewer"] == "auto_review"
        assert result["sandbox"] == {"type": "readOnly", "networkAccess": False}


async def test_a_started_thread_can_be_resumed_after_a_restart_but_is_listed_only_once_it_has_a_turn(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {"approvalPolicy": "never"}))["thread"]["id"]
        listed = await h.client.request("thread/list", {})
        assert listed["data"] == [] and listed["nextCursor"] is None
    async with running_server(tmp_path) as h:
        resumed = await h.client.request("thread/resume", {"threadId": thread_id})
        status = await h.client.next_global("thread/status/changed")
        assert status == {"threadId": thread_id, "status": {"type": "idle"}}
        assert resumed["thread"]["id"] == thread_id and resumed["approvalPolicy"] == "never"
        assert (await h.client.request("thread/loaded/list", {}))["data"] == [thread_id]


async def test_resume_overrides_are_applied_and_persisted(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    async with running_server(tmp_path) as h:
        await h.client.request("thread/resume", {"threadId": thread_id, "model": "gpt-x", "sandbox": "workspace-write"})
    async with running_server(tmp_path) as h:
        resumed = await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
        assert resumed["model"] == "gpt-x" and resumed["sandbox"]["type"] == "workspaceWrite"


async def test_thread_read_of_a_stored_thread_that_is_not_loaded_says_not_loaded(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    async with running_server(tmp_path) as h:
        read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
        assert read["thread"]["status"] == {"type": "notLoaded"} and read["thread"]["turns"] == []


async def test_thread_read_with_turns_sends_a_deprecation_notice_first_and_without_turns_none(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        await h.client.next_global("thread/started")
        order: list[str] = []
        h.client.on_message = _chain(h.client.on_message, lambda m: order.append(m.get("method", "response")))
        await h.client.request("thread/read", {"threadId": thread_id})
        await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
        assert order == ["response", "deprecationNotice", "response"]
        notice = await h.client.next_global("deprecationNotice")
        assert "thread/turns/list" in notice["summary"] and notice["details"] is None


@pytest.mark.parametrize("method", ["thread/resume", "thread/fork"])
async def test_resume_and_fork_with_every_turn_send_a_deprecation_notice_first_and_with_exclude_turns_none(
        tmp_path: Path, method: str) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        await h.client.next_global("thread/started")
        order: list[str] = []
        h.client.on_message = _chain(h.client.on_message, lambda m: order.append(m.get("method", "response")))
        await h.client.request(method, {"threadId": thread_id, "excludeTurns": True})
        before = [m for m in order if m != "thread/started"]
        assert before == ["response"]
        await h.client.request(method, {"threadId": thread_id})
        assert [m for m in order if m != "thread/started"] == ["response", "deprecationNotice", "response"]
        notice = await h.client.next_global("deprecationNotice")
        assert "excludeTurns" in notice["summary"]


async def test_resuming_a_thread_that_is_not_loaded_sends_the_notice_then_its_status_then_the_answer(
        tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    async with running_server(tmp_path) as h:
        order: list[str] = []
        h.client.on_message = _chain(h.client.on_message, lambda m: order.append(m.get("method", "response")))
        await h.client.request("thread/resume", {"threadId": thread_id})
        assert order == ["deprecationNotice", "thread/status/changed", "response"]  # as Codex orders them


async def test_unknown_and_malformed_thread_ids_get_codex_wording(tmp_path: Path) -> None:
    unknown = "0198c6a0-0000-7000-8000-000000000000"
    async with running_server(tmp_path) as h:
        cases = [
            ("thread/resume", {"threadId": unknown}, f"no rollout found for thread id {unknown}"),
            ("thread/read", {"threadId": unknown}, f"thread not loaded: {unknown}"),
            ("thread/archive", {"threadId": unknown}, f"no rollout found for thread id {unknown}"),
            ("thread/name/set", {"threadId": unknown, "name": "x"}, f"no rollout found for thread id {unknown}"),
            ("thread/revert", {"threadId": unknown, "beforeTurnId": "t"}, f"thread not found: {unknown}"),
            ("thread/read", {"threadId": "../../etc/passwd"}, "invalid thread id: ../../etc/passwd"),
        ]
        for method, params, message in cases:
            with pytest.raises(RpcFailure) as failure:
                await h.client.request(method, params)
            assert (failure.value.code, failure.value.message) == (-32600, message)


async def test_a_wrongly_typed_param_is_invalid_params_naming_the_field(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        with pytest.raises(RpcFailure) as failure:
            await h.client.request("thread/read", {"threadId": 123})
        assert failure.value.code == -32602 and "$.threadId" in failure.value.message
        assert failure.value.data == {"path": "$.threadId"}


async def test_name_set_answers_then_tells_every_connection(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        assert await h.client.request("thread/name/set", {"threadId": thread_id, "name": "Refactor"}) == {}
        updated = await h.client.next_global("thread/name/updated")
        assert updated == {"threadId": thread_id, "threadName": "Refactor"}
        read = await h.client.request("thread/read", {"threadId": thread_id})
        assert read["thread"]["name"] == "Refactor"


async def test_archive_and_unarchive_round_trip_with_notifications(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        with pytest.raises(RpcFailure, match="no archived rollout found"):
            await h.client.request("thread/unarchive", {"threadId": thread_id})
        await h.client.next_global("thread/started")
        order: list[str] = []
        h.client.on_message = _chain(h.client.on_message, lambda m: order.append(m.get("method", "response")))
        assert await h.client.request("thread/archive", {"threadId": thread_id}) == {}
        assert await h.client.next_global("thread/archived") == {"threadId": thread_id}
        # As Codex: archiving unloads an idle thread, and says so before its answer.
        assert order == ["thread/status/changed", "response", "thread/archived"]
        assert (await h.client.request("thread/loaded/list", {}))["data"] == []
        assert await h.client.request("thread/unsubscribe", {"threadId": thread_id}) == {"status": "notLoaded"}
        result = await h.client.request("thread/unarchive", {"threadId": thread_id})
        assert result["thread"]["id"] == thread_id and result["thread"]["status"] == {"type": "notLoaded"}
        assert await h.client.next_global("thread/unarchived") == {"threadId": thread_id}
        resumed = await h.client.request("thread/resume", {"threadId": thread_id})  # loads it afresh
        assert resumed["thread"]["status"] == {"type": "idle"}


async def test_unsubscribe_reports_unsubscribed_then_not_subscribed_then_not_loaded(tmp_path: Path) -> None:
    overrides = ["thread_unload_delay_secs=0"]  # Codex's key (test_session_actor uses the older name)
    async with running_server(tmp_path, overrides=overrides) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        first = await h.client.request("thread/unsubscribe", {"threadId": thread_id})
        assert first == {"status": "unsubscribed"}
        closed = await h.client.next_global("thread/closed")
        assert closed == {"threadId": thread_id}
        assert await h.client.request("thread/unsubscribe", {"threadId": thread_id}) == {"status": "notLoaded"}


async def test_a_client_that_unsubscribed_mid_turn_still_hears_the_thread_status_and_nothing_else(
        tmp_path: Path) -> None:
    # As Codex 0.163.0: thread/status/changed goes to every client, so a thread list stays current.
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("still answering", 2)], stall_after=2, gate=gate))
        try:
            async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
                thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
                await h.client.request("turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]})
                assert await gate.wait_reached_async(10)
                assert await h.client.request("thread/unsubscribe", {"threadId": thread_id}) == {"status": "unsubscribed"}
                after: list[str] = []
                h.client.on_message = _chain(h.client.on_message, lambda m: after.append(m.get("method", "response")))
                gate.release()
                idle = await h.client.next_global("thread/status/changed",
                                                  where=lambda p: p["status"] == {"type": "idle"})
                assert idle["threadId"] == thread_id
                listed = await h.client.request("thread/turns/list", {"threadId": thread_id})
                assert [t["status"] for t in listed["data"]] == ["completed"]
                assert after == ["thread/status/changed", "response"]
        finally:
            gate.release()


async def test_ephemeral_threads_never_touch_disk(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread = (await h.client.request("thread/start", {"ephemeral": True}))["thread"]
        assert thread["ephemeral"] is True and thread["path"] is None
        with pytest.raises(RpcFailure) as refused:
            await h.client.request("thread/read", {"threadId": thread["id"], "includeTurns": True})
        assert (refused.value.code, refused.value.message) == (-32600, "ephemeral threads do not support includeTurns")
    async with running_server(tmp_path) as h:
        with pytest.raises(RpcFailure, match="no rollout found"):
            await h.client.request("thread/resume", {"threadId": thread["id"]})


async def test_dynamic_tools_need_the_experimental_capability(tmp_path: Path) -> None:
    tool = {"type": "function", "name": "lookup", "description": "d", "inputSchema": {"type": "object"}}
    async with running_server(tmp_path, experimental=False) as h:
        with pytest.raises(RpcFailure) as failure:
            await h.client.request("thread/start", {"dynamicTools": [tool]})
        assert failure.value.message == "thread/start.dynamicTools requires experimentalApi capability"


async def test_dynamic_tools_without_a_type_are_taken_as_codex_takes_them(tmp_path: Path) -> None:
    # Codex's own README registers tools this way: no "type"; a group is told apart by its "tools".
    function = {"name": "lookup", "description": "d", "inputSchema": {"type": "object"}}
    group = {"name": "files", "description": "file tools", "tools": [
        {"name": "read", "description": "r", "inputSchema": {"type": "object"}}]}  # nested ones too
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread = (await h.client.request("thread/start", {"dynamicTools": [function, group]}))["thread"]
            turn, _ = await h.client.run_turn({"threadId": thread["id"], "input": [{"type": "text", "text": "hi"}]})
            assert turn["status"] == "completed"
            with pytest.raises(RpcFailure) as refused:  # what no repair can mend still gets the decoder's own error
                await h.client.request("thread/start", {"dynamicTools": [{"name": "lookup"}]})
            assert refused.value.code == -32602 and "dynamicTools[0]" in refused.value.message
    assert [t["name"] for t in sim.requests[-1].body["tools"]] == ["lookup", "files__read"]


async def test_a_dynamic_tool_with_an_invalid_input_schema_is_rejected_by_name(tmp_path: Path) -> None:
    tool = {"type": "function", "name": "lookup", "description": "d", "inputSchema": {"type": "nonsense"}}
    async with running_server(tmp_path) as h:
        with pytest.raises(RpcFailure) as failure:
            await h.client.request("thread/start", {"dynamicTools": [tool]})
        assert failure.value.code == -32602 and "`lookup`" in failure.value.message


def _chain(first, second):  # type: ignore[no-untyped-def]
    def both(message):  # type: ignore[no-untyped-def]
        if first is not None:
            first(message)
        second(message)

    return both


async def test_a_repaired_dynamic_tool_that_is_still_invalid_is_refused_for_what_is_really_wrong(
        tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        with pytest.raises(RpcFailure) as refused:
            await h.client.request("thread/start", {"dynamicTools": [{"name": "lookup", "description": "d"}]})
    assert refused.value.code == -32602 and "inputSchema" in refused.value.message  # not the missing `type`


async def test_archiving_a_thread_with_a_turn_running_interrupts_the_turn_then_unloads_the_thread(
        tmp_path: Path) -> None:
    # As Codex 0.163.0: the turn ends interrupted before the answer, then notLoaded, {} and thread/archived.
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("still answering", 2)], stall_after=4, gate=gate), Reply.text("later"))
        try:
            async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
                thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
                started = await h.client.request("turn/start", {"threadId": thread_id,
                                                                "input": [{"type": "text", "text": "hi"}]})
                assert await gate.wait_reached_async(10)
                order: list[str] = []
                h.client.on_message = _chain(h.client.on_message, lambda m: order.append(m.get("method", "response")))
                assert await h.client.request("thread/archive", {"threadId": thread_id}) == {}
                events = [e async for e in h.client.turn_events(started["turn"]["id"], timeout=20)]
                assert events[-1]["params"]["turn"]["status"] == "interrupted"
                ending = [m for m in order if m in ("turn/completed", "thread/status/changed", "response")]
                assert ending == ["thread/status/changed", "turn/completed", "thread/status/changed", "response"]
                assert await h.client.next_global("thread/archived") == {"threadId": thread_id}
                assert (await h.client.request("thread/loaded/list", {}))["data"] == []
                # Nothing of the turn was lost: it is stored as it ended.
                await h.client.request("thread/unarchive", {"threadId": thread_id})
                read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
                assert [t["status"] for t in read["thread"]["turns"]] == ["interrupted"]
        finally:
            gate.release()


async def _refused(h: Any, method: str, params: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(RpcFailure) as failure:
        await h.client.request(method, params)
    return failure.value.code, failure.value.message


async def test_an_ephemeral_thread_refuses_archive_rename_and_resume_and_stays_loaded(tmp_path: Path) -> None:
    # As Codex 0.163.0: an ephemeral thread has no rollout to archive or resume, and no stored metadata.
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {"ephemeral": True}))["thread"]["id"]
        missing = (-32600, f"no rollout found for thread id {thread_id}")
        assert await _refused(h, "thread/archive", {"threadId": thread_id}) == missing
        assert await _refused(h, "thread/name/set", {"threadId": thread_id, "name": "x"}) == (
            -32600, f"ephemeral thread does not support metadata updates: {thread_id}")
        assert await h.client.request("thread/unsubscribe", {"threadId": thread_id}) == {"status": "unsubscribed"}
        assert await _refused(h, "thread/resume", {"threadId": thread_id}) == missing
        assert (await h.client.request("thread/loaded/list", {}))["data"] == [thread_id]
        assert (await h.client.request("thread/read", {"threadId": thread_id}))["thread"]["id"] == thread_id


async def test_an_archived_thread_refuses_archive_rename_resume_and_fork_until_it_is_unarchived(
        tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        assert await h.client.request("thread/archive", {"threadId": thread_id}) == {}
        missing = (-32600, f"no rollout found for thread id {thread_id}")
        assert await _refused(h, "thread/archive", {"threadId": thread_id}) == missing
        assert await _refused(h, "thread/name/set", {"threadId": thread_id, "name": "x"}) == missing
        archived = (-32600, f"thread {thread_id} is archived; unarchive it first (thread/unarchive)")
        assert await _refused(h, "thread/resume", {"threadId": thread_id}) == archived
        assert await _refused(h, "thread/fork", {"threadId": thread_id}) == archived
        assert (await h.client.request("thread/loaded/list", {}))["data"] == []  # refusing loaded nothing
        await h.client.request("thread/unarchive", {"threadId": thread_id})
        assert (await h.client.request("thread/resume", {"threadId": thread_id}))["thread"]["id"] == thread_id
        assert await h.client.request("thread/name/set", {"threadId": thread_id, "name": "back"}) == {}


async def test_a_blank_thread_name_is_refused_as_codex_refuses_it(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        for blank in ("", "   "):
            assert await _refused(h, "thread/name/set", {"threadId": thread_id, "name": blank}) == (
                -32600, "thread name must not be empty")


async def test_delete_removes_a_stored_thread_for_good_and_announces_it_after_the_answer(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]})
            kept = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": kept, "input": [{"type": "text", "text": "stay"}]})
            order: list[str] = []
            h.client.on_message = _chain(h.client.on_message, lambda m: order.append(m.get("method", "response")))
            assert await h.client.request("thread/delete", {"threadId": thread_id}) == {}
            assert await h.client.next_global("thread/deleted") == {"threadId": thread_id}
            # As Codex 0.163.0: the thread is unloaded before the answer, and the notification follows it.
            assert order == ["thread/status/changed", "response", "thread/deleted"]
            missing = (-32600, f"no rollout found for thread id {thread_id}")
            assert await _refused(h, "thread/resume", {"threadId": thread_id}) == missing
            assert await _refused(h, "thread/delete", {"threadId": thread_id}) == missing
            assert [t["id"] for t in (await h.client.request("thread/list", {}))["data"]] == [kept]
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            assert await _refused(h, "thread/resume", {"threadId": thread_id}) == missing  # gone from disk too
            resumed = await h.client.request("thread/resume", {"threadId": kept})
            assert [t["status"] for t in resumed["thread"]["turns"]] == ["completed"]


async def test_deleting_a_thread_with_a_turn_running_ends_the_turn_first(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("still answering", 2)], stall_after=4, gate=gate))
        try:
            async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
                thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
                started = await h.client.request("turn/start", {"threadId": thread_id,
                                                                "input": [{"type": "text", "text": "hi"}]})
                assert await gate.wait_reached_async(10)
                assert await h.client.request("thread/delete", {"threadId": thread_id}) == {}
                events = [e async for e in h.client.turn_events(started["turn"]["id"], timeout=20)]
                assert [e["params"]["turn"]["status"] for e in events if e["method"] == "turn/completed"] == [
                    "interrupted"]
                assert (await h.client.request("thread/loaded/list", {}))["data"] == []
                assert await _refused(h, "thread/resume", {"threadId": thread_id}) == (
                    -32600, f"no rollout found for thread id {thread_id}")
        finally:
            gate.release()


async def test_an_ephemeral_thread_cannot_be_deleted_and_stays_loaded(tmp_path: Path) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {"ephemeral": True}))["thread"]["id"]
        assert await _refused(h, "thread/delete", {"threadId": thread_id}) == (
            -32600, f"no rollout found for thread id {thread_id}")
        assert (await h.client.request("thread/loaded/list", {}))["data"] == [thread_id]


# How long a turn's ending is held up in the tests below (a slow subscriber, an interrupt answer awaited): the
# length of the fault, not a wait for anything. Correctness must not depend on it.
ENDING_HELD = 0.5


def _hold_endings(monkeypatch: pytest.MonkeyPatch) -> anyio.Event:
    """Hold every turn's ending (after `active` is cleared, before turn/completed) for ENDING_HELD seconds."""
    original, holding = turn_module._announce_end, anyio.Event()

    async def held(*args: Any) -> None:
        holding.set()
        await anyio.sleep(ENDING_HELD)
        await original(*args)

    monkeypatch.setattr(turn_module, "_announce_end", held)
    return holding


@pytest.mark.parametrize("method", ["thread/archive", "thread/delete"])
async def test_archive_and_delete_wait_for_a_turn_that_is_already_ending(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    holding = _hold_endings(monkeypatch)
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            started = await h.client.request("turn/start", {"threadId": thread_id,
                                                            "input": [{"type": "text", "text": "hi"}]})
            with anyio.fail_after(10):
                await holding.wait()
            assert await h.client.request(method, {"threadId": thread_id}) == {}
            events = [e async for e in h.client.turn_events(started["turn"]["id"], timeout=10)]
            assert events[-1]["params"]["turn"]["status"] == "completed"
            assert (await h.client.request("thread/loaded/list", {}))["data"] == []


async def test_a_turn_that_does_not_end_in_time_gets_a_clear_error_not_an_internal_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holding = _hold_endings(monkeypatch)
    monkeypatch.setattr(manage, "_TURN_END_SECONDS", 0.05)
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            started = await h.client.request("turn/start", {"threadId": thread_id,
                                                            "input": [{"type": "text", "text": "hi"}]})
            with anyio.fail_after(10):
                await holding.wait()
            code, message = await _refused(h, "thread/archive", {"threadId": thread_id})
            assert code == -32600 and "did not end within" in message
            [e async for e in h.client.turn_events(started["turn"]["id"], timeout=10)]
            read = await h.client.request("thread/read", {"threadId": thread_id})
            assert read["thread"]["status"] == {"type": "idle"}  # nothing was archived or unloaded


async def test_a_delete_racing_a_resume_that_is_loading_the_thread_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]})
        # The resume is held between reading the thread and starting its actor until the delete has arrived.
        starting, deleting, go = anyio.Event(), anyio.Event(), anyio.Event()
        start, while_not_loaded = SessionRegistry.start, SessionRegistry.while_not_loaded

        async def held_start(self: SessionRegistry, session: Any) -> None:
            starting.set()
            await go.wait()
            await start(self, session)

        async def noted(self: SessionRegistry, *args: Any) -> bool:
            deleting.set()
            return await while_not_loaded(self, *args)

        monkeypatch.setattr(SessionRegistry, "start", held_start)
        monkeypatch.setattr(SessionRegistry, "while_not_loaded", noted)
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            answers: dict[str, Any] = {}

            async def ask(method: str) -> None:
                try:
                    answers[method] = await h.client.request(method, {"threadId": thread_id})
                except RpcFailure as exc:
                    answers[method] = (exc.code, exc.message)

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ask, "thread/resume")
                    await starting.wait()
                    tg.start_soon(ask, "thread/delete")
                    await deleting.wait()
                    go.set()
            # Whichever the actor served first, the resume is answered for real: the thread as it was, or missing
            # (the test below forces the orderings that answer "missing").
            assert answers["thread/delete"] == {}
            resumed = answers["thread/resume"]
            assert resumed == (-32600, f"no rollout found for thread id {thread_id}") or (
                resumed["thread"]["id"] == thread_id)
            assert (await h.client.request("thread/loaded/list", {}))["data"] == []
            assert await _refused(h, "thread/resume", {"threadId": thread_id}) == (
                -32600, f"no rollout found for thread id {thread_id}")


@pytest.mark.parametrize("order", ["its job queued behind the delete's unload", "its reads after the delete"])
async def test_a_resume_that_loses_the_race_to_a_delete_is_told_the_thread_is_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]})
        paused, deleted = anyio.Event(), anyio.Event()
        notify, respond = Connection.notify, lifecycle._resume_response

        async def held_announcement(self: Connection, method: str, params: Any) -> None:
            if method == "thread/status/changed" and params.status == IDLE and not paused.is_set():
                paused.set()  # the resume has loaded the thread; its job is not queued yet
                await deleted.wait()
            await notify(self, method, params)

        async def held_answer(*args: Any) -> Any:
            paused.set()  # the resume has subscribed; its answer is not read from the store yet
            await deleted.wait()
            return await respond(*args)

        if order == "its job queued behind the delete's unload":
            monkeypatch.setattr(Connection, "notify", held_announcement)
        else:
            monkeypatch.setattr(lifecycle, "_resume_response", held_answer)
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            answers: dict[str, Any] = {}

            async def resume() -> None:
                try:
                    answers["resume"] = await h.client.request("thread/resume",
                                                               {"threadId": thread_id, "excludeTurns": True})
                except RpcFailure as exc:
                    answers["resume"] = (exc.code, exc.message)

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(resume)
                    await paused.wait()
                    answers["delete"] = await h.client.request("thread/delete", {"threadId": thread_id})
                    deleted.set()
            assert answers == {"delete": {}, "resume": (-32600, f"no rollout found for thread id {thread_id}")}
            assert (await h.client.request("thread/loaded/list", {}))["data"] == []


@pytest.mark.parametrize("held_at", ["before the unload", "the unload's announcement"])
@pytest.mark.parametrize("method", ["thread/name/set", "thread/archive"])
async def test_a_rename_or_archive_racing_an_idle_unload_is_done_all_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, held_at: str) -> None:
    """The request reaches the thread as it unloads for want of a subscriber: queued behind the unload in its
    actor, or after the unload has begun. Either way the change is made, in the store."""
    holding, go = anyio.Event(), anyio.Event()
    unload_now, notify = ThreadSession.unload_now, Connection.notify

    async def held_unload(self: ThreadSession, *, closed: bool) -> None:
        holding.set()  # in the unload's job: the thread not unloaded yet, its mailbox open
        await go.wait()
        await unload_now(self, closed=closed)

    async def held_announcement(self: Connection, method: str, params: Any) -> None:
        if method == "thread/status/changed" and params.status == NOT_LOADED and not holding.is_set():
            holding.set()  # inside the unload: the thread still registered, its mailbox still open
            await go.wait()
        await notify(self, method, params)

    if held_at == "before the unload":
        monkeypatch.setattr(ThreadSession, "unload_now", held_unload)
    else:
        monkeypatch.setattr(Connection, "notify", held_announcement)
    params = {"threadId": "", "name": "renamed"} if method == "thread/name/set" else {"threadId": ""}
    async with running_server(tmp_path, overrides=["thread_idle_unload_seconds=0"]) as h:
        thread_id = params["threadId"] = (await h.client.request("thread/start", {}))["thread"]["id"]
        answers: dict[str, Any] = {}

        async def ask() -> None:
            try:
                answers[method] = await h.client.request(method, params)
            except RpcFailure as exc:
                answers[method] = (exc.code, exc.message)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                await h.client.request("thread/unsubscribe", {"threadId": thread_id})
                await holding.wait()
                tg.start_soon(ask)
                await anyio.wait_all_tasks_blocked()  # the request is as far as it gets while the unload is held
                go.set()
        assert answers[method] == {}
        thread = (await h.client.request("thread/read", {"threadId": thread_id}))["thread"]
        assert thread["status"] == {"type": "notLoaded"}
        if method == "thread/name/set":
            assert thread["name"] == "renamed"
        else:  # archived: resuming it is refused until it is unarchived
            assert await _refused(h, "thread/resume", {"threadId": thread_id}) == (
                -32600, f"thread {thread_id} is archived; unarchive it first (thread/unarchive)")


async def test_a_rename_of_a_thread_that_is_loading_reaches_the_loaded_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    # A resume is held once it has read the thread, before its actor starts; the rename comes in then, and the
    # load goes on once the rename is either written or waiting for the load.
    loading, go, renamed = anyio.Event(), anyio.Event(), anyio.Event()
    settle, while_not_loaded = Sessions._settle_cut_turn, SessionRegistry.while_not_loaded

    async def held_load(self: Sessions, loading_id: str) -> None:
        loading.set()
        await go.wait()
        await settle(self, loading_id)

    async def noted(self: SessionRegistry, *args: Any) -> bool:
        renamed.set()  # waiting for the load to end
        return await while_not_loaded(self, *args)

    monkeypatch.setattr(Sessions, "_settle_cut_turn", held_load)
    monkeypatch.setattr(SessionRegistry, "while_not_loaded", noted)
    async with running_server(tmp_path) as h:

        async def rename() -> None:
            await h.client.request("thread/name/set", {"threadId": thread_id, "name": "renamed"})
            renamed.set()  # answered while the load was held: written under it

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(h.client.request, "thread/resume", {"threadId": thread_id, "excludeTurns": True})
                await loading.wait()
                tg.start_soon(rename)
                await renamed.wait()
                go.set()
        read = await h.client.request("thread/read", {"threadId": thread_id})
        assert read["thread"]["status"] == {"type": "idle"} and read["thread"]["name"] == "renamed"


async def test_a_delete_that_races_an_idle_unload_still_deletes_the_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unloading, finish_unloading = anyio.Event(), anyio.Event()
    unload_now = ThreadSession.unload_now

    async def slow_unload(self: ThreadSession, *, closed: bool) -> None:
        unloading.set()  # the idle unload is the actor's job now: a delete queues behind it
        await finish_unloading.wait()
        await unload_now(self, closed=closed)

    monkeypatch.setattr(ThreadSession, "unload_now", slow_unload)
    async with running_server(tmp_path, overrides=["thread_unload_delay_secs=0"]) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        await h.client.request("thread/unsubscribe", {"threadId": thread_id})
        with anyio.fail_after(10):
            await unloading.wait()
            async with anyio.create_task_group() as tg:
                answer: list[Any] = []
                tg.start_soon(lambda: _append(answer, h.client.request("thread/delete", {"threadId": thread_id})))
                await anyio.wait_all_tasks_blocked()
                finish_unloading.set()
        assert answer == [{}]
        with pytest.raises(RpcFailure, match="no rollout found"):
            await h.client.request("thread/resume", {"threadId": thread_id})


async def _append(into: list[Any], pending: Any) -> None:
    into.append(await pending)
