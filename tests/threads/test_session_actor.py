"""Session actors: bounded mailboxes, crash containment, and the experimental first page on resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from protocol._generated.types import NotLoadedThreadStatus
from protocol.client import RpcFailure
from server.errors import InvalidRequest, ServerOverloaded
from server.sessions.actor import MAILBOX_SIZE, SessionDeps, ThreadSession
from server.sessions.meta import ThreadMeta, ThreadSettings, encode_meta
from server.sessions.reply import Reply
from server.sessions.turn import ActiveTurn, run_turn
from server.simulator import Simulator
from server.store import SqliteStore, StoreError, ThreadRecord
from tests.fake_session import FakeStore, Peer, make_session
from tests.harness import SIM_ENV, running_server, sim_overrides

pytestmark = pytest.mark.anyio


def _session() -> ThreadSession:
    meta = ThreadMeta(session_id="s", cli_version="t", settings=ThreadSettings(model="m", model_provider="p", cwd="/"))
    record = ThreadRecord(id="0198c6a0-0000-7000-8000-0000000000aa", created_at=0, updated_at=0, cwd="/",
                          model_provider="p", source_kind="vscode", data=encode_meta(meta))

    async def nowhere(method: str, params: Any) -> None:
        return None

    return ThreadSession(record, SessionDeps(store=None, broadcast=nowhere), meta=meta)  # type: ignore[arg-type]


async def test_a_full_mailbox_answers_server_overloaded_at_once() -> None:
    session = _session()
    release = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(session.run)

        async def blocked() -> None:
            await release.wait()

        for _ in range(MAILBOX_SIZE + 1):  # one running, the rest queued
            tg.start_soon(session.call, blocked)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(ServerOverloaded):
            await session.call(blocked)
        release.set()
        await anyio.wait_all_tasks_blocked()
        await session.stop()


async def test_a_bug_inside_one_actor_ends_that_actor_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_server(tmp_path) as h:
        broken = (await h.client.request("thread/start", {}))["thread"]["id"]
        healthy = (await h.client.request("thread/start", {}))["thread"]["id"]

        async def explode(self: ThreadSession, batch: Any) -> None:
            if self.thread_id == broken:
                raise RuntimeError("simulated bug in the session")

        monkeypatch.setattr(ThreadSession, "persist", explode)
        with pytest.raises(RpcFailure) as failure:
            await h.client.request("thread/name/set", {"threadId": broken, "name": "boom"})
        assert (failure.value.code, failure.value.message) == (-32603, "Internal error")
        status = await h.client.next_global("thread/status/changed", where=lambda p: p["threadId"] == broken)
        assert status["status"] == {"type": "systemError"}
        loaded = (await h.client.request("thread/loaded/list", {}))["data"]
        assert healthy in loaded and broken not in loaded
        monkeypatch.undo()
        await h.client.request("thread/name/set", {"threadId": healthy, "name": "still fine"})
        resumed = await h.client.request("thread/resume", {"threadId": broken})  # reloaded from the store
        assert resumed["thread"]["id"] == broken


async def test_a_store_failure_inside_a_thread_request_is_reported_and_the_thread_lives_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        model = (await h.client.request("thread/resume", {"threadId": thread_id}))["model"]

        async def disk_full(self: ThreadSession, batch: Any) -> None:
            raise StoreError("store write failed: database or disk is full")

        monkeypatch.setattr(ThreadSession, "persist", disk_full)
        for method, params in (("thread/name/set", {"name": "lost"}), ("thread/resume", {"model": "gpt-5.1"}),
                               ("thread/metadata/update", {"gitInfo": {"branch": "lost"}})):
            with pytest.raises(RpcFailure) as failure:
                await h.client.request(method, {"threadId": thread_id, **params})
            assert failure.value.code == -32603 and "database or disk is full" in failure.value.message
        monkeypatch.undo()
        assert (await h.client.request("thread/loaded/list", {}))["data"] == [thread_id]  # its actor lives on
        resumed = await h.client.request("thread/resume", {"threadId": thread_id})
        assert (resumed["model"], resumed["thread"]["name"]) == (model, None)  # nothing changed in memory
        assert (resumed["thread"]["gitInfo"] or {}).get("branch") != "lost"
        assert resumed["thread"]["status"] == {"type": "idle"}
        await h.client.request("thread/name/set", {"threadId": thread_id, "name": "kept"})
        read = await h.client.request("thread/read", {"threadId": thread_id})
        assert read["thread"]["name"] == "kept"


async def test_a_store_failure_outside_a_thread_request_is_reported_as_such_and_the_daemon_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]

        async def disk_error(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise StoreError("store read failed: disk I/O error")

        monkeypatch.setattr(SqliteStore, "list_threads", disk_error)
        monkeypatch.setattr(SqliteStore, "get_thread", disk_error)
        with pytest.raises(RpcFailure) as listing:
            await h.client.request("thread/list", {})
        with pytest.raises(RpcFailure) as reading:  # a thread that is not loaded here: read from the store
            await h.client.request("thread/read", {"threadId": "01a211fe-43ed-7591-9fdd-66bd377a22aa"})
        for failure in (listing.value, reading.value):
            assert (failure.code, failure.message) == (-32603, "the store failed: store read failed: disk I/O error")
        monkeypatch.undo()
        assert (await h.client.request("thread/read", {"threadId": thread_id}))["thread"]["id"] == thread_id
        assert (await h.client.request("thread/list", {}))["data"] == []  # it never ran a turn: not listed


async def test_resume_can_embed_the_first_turns_page(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            for text in ("a", "b", "c"):
                await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": text}]})
            resumed = await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True,
                                                               "initialTurnsPage": {"limit": 2}})
            assert resumed["thread"]["turns"] == []
            page = resumed["initialTurnsPage"]
            assert len(page["data"]) == 2 and page["nextCursor"] is not None


async def test_a_job_queued_behind_the_idle_unload_fails_instead_of_running_in_a_thread_that_is_gone() -> None:
    session = _session()
    release, ran = anyio.Event(), []
    outcomes: list[Any] = []

    async def blocked() -> None:
        await release.wait()

    async def late() -> None:  # e.g. a turn/start that arrived as the idle timer fired
        ran.append("late")

    async def call(fn: Any) -> None:
        try:
            outcomes.append(await session.call(fn))
        except InvalidRequest as exc:
            outcomes.append(exc.message)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run)
            tg.start_soon(session.call, blocked)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(call, session._unload)  # the idle unload, queued as the timer queues it
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(call, late)
            await anyio.wait_all_tasks_blocked()
            release.set()
            await session.ended.wait()
    assert ran == [] and outcomes == [None, f"thread not loaded: {session.thread_id}"]
    assert session.unloaded and isinstance(session.status, NotLoadedThreadStatus)


async def test_resuming_a_thread_while_it_unloads_loads_it_afresh(tmp_path: Path) -> None:
    async with running_server(tmp_path, overrides=["thread_idle_unload_seconds=0"]) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        await h.client.request("thread/unsubscribe", {"threadId": thread_id})  # the unload starts at once
        resumed = await h.client.request("thread/resume", {"threadId": thread_id})
        assert resumed["thread"]["id"] == thread_id and resumed["thread"]["status"] == {"type": "idle"}
        assert (await h.client.request("thread/loaded/list", {}))["data"] == [thread_id]


async def test_the_idle_unload_waits_for_a_turns_ending_to_be_announced() -> None:
    store, peer = FakeStore(), Peer()
    session = make_session(store, peer)
    session.deps.unload_delay = 0
    lease_given_back_while: list[ActiveTurn | None] = []
    session.give_back_lease = lambda: lease_given_back_while.append(session.ending)

    async def body(turn: ActiveTurn) -> None:
        await anyio.sleep_forever()

    interrupt_answered = anyio.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run)
            turn = session.active = ActiveTurn(session, "t1")
            turn.response_sent.set()
            session.start_task(run_turn, turn, body)
            await anyio.wait_all_tasks_blocked()
            turn.interrupt_waiters.append((Reply(), interrupt_answered))  # its answer is not out yet
            turn.scope.cancel()
            await turn.done.wait()  # ended, its last words waiting for the interrupt's answer
            session.unsubscribe(peer)  # the last client leaves meanwhile
            await anyio.wait_all_tasks_blocked()
            interrupt_answered.set()
            await session.ended.wait()
    said = [(method.rsplit("/", 1)[-1], type(params.status).__name__ if method.endswith("changed") else None)
            for method, params in session.broadcasts]
    assert said[-3:] == [("changed", "IdleThreadStatus"), ("changed", "NotLoadedThreadStatus"), ("closed", None)]
    assert lease_given_back_while == [None]
