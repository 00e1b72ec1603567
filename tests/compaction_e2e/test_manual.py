"""`thread/compact/start` end to end: its own turn, its notification sequence, and the controls around it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from protocol.client import RpcFailure
from server.simulator import Gate, Reply, Simulator, Text
from server.store import apply
from tests.harness import SIM_ENV, running_server

from .support import (
    assert_compaction_paid_then_estimated,
    config,
    input_texts,
    input_types,
    items_completed,
    methods,
    of,
    responses_bodies,
    run_compaction,
    start_compaction,
    text,
)

pytestmark = pytest.mark.anyio


async def test_manual_compaction_answers_first_then_runs_as_a_turn_of_its_own(tmp_path: Path) -> None:
    with Simulator() as sim:
        # Inline is available here, yet a manual compaction must happen now: it takes the remote path.
        overrides = config(sim, inline=True, remote="v1", server_side=True, limit=100_000)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            _, first = await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 300)})
            turn_id, order = await start_compaction(h, thread_id)
            events = [e async for e in h.client.turn_events(turn_id)]
            assert order.index("response") < order.index("turn/started")
            assert methods(events) == ["turn/started", "item/started", "thread/tokenUsage/updated",  # as Codex: paid,
                                       "thread/tokenUsage/updated", "item/completed",  # then the estimate, then done
                                       "thread/compaction/applied", "turn/completed"]
            assert events[1]["params"]["item"]["type"] == "contextCompaction"
            [applied] = of(events, "thread/compaction/applied")
            assert (applied["mode"], applied["trigger"]) == ("remote", "manual")
            assert_compaction_paid_then_estimated(first, events)
            warning = await h.client.next_global("warning")  # it names the thread, not the turn
            assert warning["threadId"] == thread_id and "summary" in warning["message"]
            assert events[-1]["params"]["turn"]["status"] == "completed"
            await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 10)})
        assert len(sim.requests_to("compact")) == 1
        assert input_types(responses_bodies(sim)[-1]) == ["message:user", "compaction", "message:user"]


async def test_input_into_a_compaction_turn_is_refused_and_an_interrupt_leaves_the_history_alone(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("the first answer"), Reply(output=[Text("a summary", 3)], stall_after=2, gate=gate),
                    Reply.text("the second answer"))
        async with running_server(tmp_path, overrides=config(sim, limit=100_000), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 300)})
            turn_id, _ = await start_compaction(h, thread_id)
            assert await gate.wait_reached_async(10)
            with pytest.raises(RpcFailure) as steer:
                await h.client.request("turn/steer", {"threadId": thread_id, "expectedTurnId": turn_id,
                                                      "input": text("more", 10)})
            with pytest.raises(RpcFailure) as start:
                await h.client.request("turn/start", {"threadId": thread_id, "input": text("more", 10)})
            for refused in (steer.value, start.value):
                assert refused.data == {"codexErrorInfo": {"activeTurnNotSteerable": {"turnKind": "compact"}}}
            assert await h.client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id}) == {}
            events = [e async for e in h.client.turn_events(turn_id)]
            gate.release()
            assert events[-1]["params"]["turn"]["status"] == "interrupted"
            assert len(items_completed(events, "contextCompaction")) == 1
            assert not of(events, "thread/compaction/applied")
            turn, _ = await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 10)})
            assert turn["status"] == "completed"
        texts = input_texts(responses_bodies(sim)[-1])
        assert texts[0].startswith("first turn") and texts[1] == "the first answer"


async def test_compacting_while_a_turn_runs_answers_first_then_interrupts_the_turn_then_compacts(
        tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("the first answer"), Reply(output=[Text("a long answer", 3)], stall_after=2, gate=gate),
                    Reply.text("a summary"))
        async with running_server(tmp_path, overrides=config(sim, limit=100_000), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 300)})
            running = (await h.client.request("turn/start", {"threadId": thread_id,
                                                             "input": text("second turn", 10)}))["turn"]["id"]
            assert await gate.wait_reached_async(10)
            compaction_id, order = await start_compaction(h, thread_id)
            interrupted = [e async for e in h.client.turn_events(running)]
            compacted = [e async for e in h.client.turn_events(compaction_id, timeout=20)]
            gate.release()
            assert interrupted[-1]["params"]["turn"]["status"] == "interrupted"
            assert compacted[-1]["params"]["turn"]["status"] == "completed"
            assert [a["trigger"] for a in of(compacted, "thread/compaction/applied")] == ["manual"]
            assert order.index("response") < order.index("turn/completed") < order.index("turn/started")
            turns = (await h.client.request("thread/turns/list", {"threadId": thread_id,
                                                                  "sortDirection": "asc"}))["data"]
            assert [t["status"] for t in turns] == ["completed", "interrupted", "completed"]
        summary_request = responses_bodies(sim)[-1]
        assert "second turn" in " ".join(input_texts(summary_request))  # the interrupted turn's input is kept


async def test_a_second_compaction_asked_for_during_the_first_interrupts_it_and_runs(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("the first answer"), Reply(output=[Text("a summary", 3)], stall_after=2, gate=gate),
                    Reply.text("another summary"))
        async with running_server(tmp_path, overrides=config(sim, limit=100_000), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 300)})
            first, _ = await start_compaction(h, thread_id)
            assert await gate.wait_reached_async(10)
            second, _ = await start_compaction(h, thread_id)
            first_events = [e async for e in h.client.turn_events(first)]
            second_events = [e async for e in h.client.turn_events(second, timeout=20)]
            gate.release()
            assert first_events[-1]["params"]["turn"]["status"] == "interrupted"
            assert not of(first_events, "thread/compaction/applied")
            assert second_events[-1]["params"]["turn"]["status"] == "completed"
            assert len(of(second_events, "thread/compaction/applied")) == 1


async def test_compacting_an_empty_thread_completes_with_nothing_applied(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=config(sim, remote="v1"), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn, events = await run_compaction(h, thread_id)
            assert turn["status"] == "completed"
            assert len(items_completed(events, "contextCompaction")) == 1
            assert not of(events, "thread/compaction/applied")
        assert not sim.requests


async def test_compacting_needs_a_loaded_thread(tmp_path: Path) -> None:
    async with running_server(tmp_path, env=SIM_ENV) as h:
        with pytest.raises(RpcFailure, match="thread not found"):
            await h.client.request("thread/compact/start", {"threadId": "01a211fe-43ed-7591-9fdd-66bd377a22aa"})


async def test_a_checkpoint_the_store_refuses_leaves_memory_as_the_store_has_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = apply.apply_batch

    def refuse_checkpoints(conn: sqlite3.Connection, thread_id: str, ops: Any) -> None:
        if any(isinstance(op, apply.PutCheckpoint) for op in ops):
            raise sqlite3.OperationalError("disk I/O error")
        real(conn, thread_id, ops)

    with Simulator() as sim:
        overrides = config(sim, remote="v1", limit=100_000)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 300)})
            monkeypatch.setattr(apply, "apply_batch", refuse_checkpoints)
            final, _ = await run_compaction(h, thread_id)
            assert final["status"] == "failed"
            monkeypatch.setattr(apply, "apply_batch", real)
            await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 10)})
        same_daemon = input_types(responses_bodies(sim)[-1])
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            await h.client.request("thread/resume", {"threadId": thread_id})
            await h.client.run_turn({"threadId": thread_id, "input": text("third turn", 10)})
        after_restart = input_types(responses_bodies(sim)[-1])
    assert same_daemon == ["message:user", "message:assistant", "message:user"]  # no compaction item
    assert after_restart[: len(same_daemon)] == same_daemon
