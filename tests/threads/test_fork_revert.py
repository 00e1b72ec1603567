"""thread/fork copies history without touching the source; thread/revert drops a turn and what follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from protocol.client import RpcFailure
from server.simulator import Gate, Reply, Simulator, Text
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio


def _say(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


async def _three_turns(h: Harness) -> tuple[str, list[str]]:
    thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    turn_ids = []
    for word in ("one", "two", "three"):
        turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say(word)})
        turn_ids.append(turn["id"])
    return thread_id, turn_ids


async def test_fork_at_a_turn_copies_history_up_to_it_and_leaves_the_source_alone(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, turns = await _three_turns(h)
            forked = await h.client.request("thread/fork", {"threadId": source, "lastTurnId": turns[1]})
            fork = forked["thread"]
            started = await h.client.next_global("thread/started", where=lambda p: p["thread"]["id"] == fork["id"])
            assert started["thread"]["forkedFromId"] == source != fork["id"]
            assert fork["forkedFromId"] == source
            assert [t["id"] for t in fork["turns"]] == turns[:2]
            await h.client.run_turn({"threadId": fork["id"], "input": _say("four")})
            original = await h.client.request("thread/read", {"threadId": source, "includeTurns": True})
            assert [t["id"] for t in original["thread"]["turns"]] == turns
        inputs = sim.requests[-1].body["input"]
        said = [c["text"] for i in inputs if i.get("role") == "user" for c in i["content"]]
        assert said == ["one", "two", "four"]


async def test_forking_mid_turn_snapshots_the_running_turn_as_interrupted(tmp_path: Path) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("slow answer", 2)], stall_after=2, gate=gate))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source = (await h.client.request("thread/start", {}))["thread"]["id"]
            running = (await h.client.request("turn/start", {"threadId": source, "input": _say("go")}))["turn"]
            assert await gate.wait_reached_async(10)
            with pytest.raises(RpcFailure, match="still in progress"):
                await h.client.request("thread/fork", {"threadId": source, "lastTurnId": running["id"]})
            fork = (await h.client.request("thread/fork", {"threadId": source}))["thread"]
            assert [(t["id"], t["status"]) for t in fork["turns"]] == [(running["id"], "interrupted")]
            gate.release()
            events = [e async for e in h.client.turn_events(running["id"])]
            assert events[-1]["params"]["turn"]["status"] == "completed"


async def test_revert_drops_the_named_turn_and_every_later_one(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id, turns = await _three_turns(h)
            with pytest.raises(RpcFailure) as unknown:
                await h.client.request("thread/revert", {"threadId": thread_id, "beforeTurnId": "no-such-turn"})
            assert unknown.value.message == "turn not found: no-such-turn"
            reverted = await h.client.request("thread/revert", {"threadId": thread_id, "beforeTurnId": turns[1]})
            assert reverted["thread"]["turns"] == []
            assert await h.client.next_global("thread/reverted") == {"threadId": thread_id}
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert [t["id"] for t in read["thread"]["turns"]] == turns[:1]
            await h.client.run_turn({"threadId": thread_id, "input": _say("again")})
        inputs = sim.requests[-1].body["input"]
        said = [c["text"] for i in inputs if i.get("role") == "user" for c in i["content"]]
        assert said == ["one", "again"]


async def test_a_fork_of_the_whole_thread_carries_its_token_usage_and_says_so_before_thread_started(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, turns = await _three_turns(h)
            whole = (await h.client.request("thread/fork", {"threadId": source}))["thread"]
            cut = (await h.client.request("thread/fork", {"threadId": source, "lastTurnId": turns[1]}))["thread"]
            at_last = (await h.client.request("thread/fork", {"threadId": source, "lastTurnId": turns[-1]}))["thread"]
            await h.client.next_global("thread/started", where=lambda p: p["thread"]["id"] == at_last["id"])
            seen = h.witness.seen
    usage = [(i, m["params"]) for i, m in enumerate(seen) if m.get("method") == "thread/tokenUsage/updated"
             and m["params"]["threadId"] in (whole["id"], cut["id"], at_last["id"])]
    # As Codex; none for the fork cut at an earlier turn, whose usage at that point is not kept.
    assert [(p["threadId"], p["turnId"]) for _, p in usage] == [(whole["id"], turns[-1]), (at_last["id"], turns[-1])]
    started = next(i for i, m in enumerate(seen) if m.get("method") == "thread/started"
                   and m["params"]["thread"]["id"] == whole["id"])
    assert usage[0][0] < started and usage[0][1]["tokenUsage"]["total"]["totalTokens"] > 0


async def test_reverting_while_a_turn_runs_interrupts_it_first_then_reverts(tmp_path: Path) -> None:
    # As Codex 0.163.0: the running turn ends interrupted (turn/completed before the answer), then the revert.
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply.text("first answer"), Reply(output=[Text("slow answer", 2)], stall_after=2, gate=gate))
        try:
            async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
                thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
                first, _ = await h.client.run_turn({"threadId": thread_id, "input": _say("one")})
                running = (await h.client.request("turn/start", {"threadId": thread_id, "input": _say("two")}))["turn"]
                assert await gate.wait_reached_async(10)
                reverted = await h.client.request("thread/revert", {"threadId": thread_id,
                                                                    "beforeTurnId": running["id"]})
                events = [e async for e in h.client.turn_events(running["id"], timeout=20)]
                assert events[-1]["params"]["turn"]["status"] == "interrupted"
                assert reverted["thread"]["status"] == {"type": "idle"}
                read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
                assert [t["id"] for t in read["thread"]["turns"]] == [first["id"]]
                await h.client.run_turn({"threadId": thread_id, "input": _say("again")})
        finally:
            gate.release()
    said = [c["text"] for i in sim.requests[-1].body["input"] if i.get("role") == "user" for c in i["content"]]
    assert said == ["one", "again"]
