"""thread/fork's options as Codex 0.163.0 answers them: where a fork is cut (``lastTurnId``, ``beforeTurnId``), for
stored and ephemeral forks (which must be asked with ``excludeTurns``), the order of its refusals, the name a fork
takes from its source, and the token usage a fork answered without its turns does not send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from protocol.client import RpcFailure
from server.sessions.actor import ThreadSession
from server.simulator import Gate, Reply, Simulator, Text
from server.store import WriteBatch
from server.store.batch import PutTurn
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio

UNKNOWN_TURN = "01a20000-0000-7000-8000-000000000000"


def _say(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


def _user_texts(body: dict[str, Any]) -> list[str]:
    return [c["text"] for i in body["input"] if i.get("role") == "user" for c in i["content"]]


async def _three_turns(h: Harness, *, name: str | None = None) -> tuple[str, list[str]]:
    thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    if name is not None:
        await h.client.request("thread/name/set", {"threadId": thread_id, "name": name})
    turn_ids = []
    for word in ("one", "two", "three"):
        turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say(word)})
        turn_ids.append(turn["id"])
    return thread_id, turn_ids


async def _refusal(h: Harness, params: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(RpcFailure) as refused:
        await h.client.request("thread/fork", params)
    return refused.value.code, refused.value.message


def _announced(h: Harness, method: str, thread_id: str) -> list[dict[str, Any]]:
    return [m["params"] for m in h.witness.seen if m.get("method") == method and
            (m["params"].get("threadId") or m["params"].get("thread", {}).get("id")) == thread_id]


async def _started(h: Harness, fork_id: str) -> dict[str, Any]:
    return await h.client.next_global("thread/started", where=lambda p: p["thread"]["id"] == fork_id)


async def _ids(h: Harness, thread_id: str) -> list[str]:
    read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
    return [t["id"] for t in read["thread"]["turns"]]


async def test_a_fork_before_a_turn_holds_the_turns_older_than_it_and_the_model_is_sent_only_those(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, turns = await _three_turns(h)
            fork = (await h.client.request("thread/fork", {"threadId": source, "beforeTurnId": turns[1]}))["thread"]
            assert fork["forkedFromId"] == source and [t["id"] for t in fork["turns"]] == turns[:1]
            assert await _ids(h, fork["id"]) == turns[:1]
            await h.client.run_turn({"threadId": fork["id"], "input": _say("four")})
            assert await _ids(h, source) == turns  # the source keeps every turn
        assert _user_texts(sim.requests[-1].body) == ["one", "four"]


async def test_a_fork_before_the_first_turn_holds_no_turn_and_starts_the_model_afresh(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, turns = await _three_turns(h)
            for exclude in (False, True):
                fork = (await h.client.request("thread/fork", {"threadId": source, "beforeTurnId": turns[0],
                                                               "excludeTurns": exclude}))["thread"]
                assert fork["turns"] == [] and fork["forkedFromId"] == source
                await _started(h, fork["id"])
                # As a fork cut at an earlier turn (lastTurnId): no usage carried over, so none is reported.
                assert _announced(h, "thread/tokenUsage/updated", fork["id"]) == []
                assert await _ids(h, fork["id"]) == []
                await h.client.run_turn({"threadId": fork["id"], "input": _say("fresh")})
                assert _user_texts(sim.requests[-1].body) == ["fresh"]


async def test_before_turn_id_is_refused_with_last_turn_id_or_naming_a_turn_the_thread_lacks(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, turns = await _three_turns(h)
            combined = (-32600, "`beforeTurnId` cannot be combined with `lastTurnId`")
            for last, before in ((turns[0], turns[1]), (turns[1], turns[1]), (UNKNOWN_TURN, UNKNOWN_TURN)):
                assert await _refusal(h, {"threadId": source, "lastTurnId": last, "beforeTurnId": before}) == combined
            # Codex's words; the notice for an answer with every turn comes first, as Codex sends it.
            notices = len([m for m in h.witness.seen if m.get("method") == "deprecationNotice"])
            for unknown in (UNKNOWN_TURN, "no-such-turn", ""):
                assert await _refusal(h, {"threadId": source, "beforeTurnId": unknown}) == (
                    -32600, f"turn not found: {unknown}")
            assert len([m for m in h.witness.seen if m.get("method") == "deprecationNotice"]) == notices + 3
            assert await _refusal(h, {"threadId": source, "beforeTurnId": UNKNOWN_TURN, "excludeTurns": True}) == (
                -32600, f"turn not found: {UNKNOWN_TURN}")
            # A turn of another thread is not one of this thread's.
            other, _ = await h.client.run_turn({"threadId": (await h.client.request("thread/start", {}))["thread"]["id"],
                                                "input": _say("elsewhere")})
            assert await _refusal(h, {"threadId": source, "beforeTurnId": other["id"], "excludeTurns": True}) == (
                -32600, f"turn not found: {other['id']}")
            assert not [m for m in h.witness.seen if m.get("method") == "thread/started"
                        and m["params"]["thread"]["forkedFromId"] == source]  # nothing was made


async def test_before_turn_id_needs_the_experimental_api(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV,
                                  experimental=False) as h:
            source, turns = await _three_turns(h)
            assert await _refusal(h, {"threadId": source, "beforeTurnId": turns[1]}) == (
                -32600, "thread/fork.beforeTurnId requires experimentalApi capability")
            fork = await h.client.request("thread/fork", {"threadId": source, "beforeTurnId": None})
            assert len(fork["thread"]["turns"]) == 3


@pytest.mark.parametrize("earlier_turns", [1, 0])
async def test_a_fork_before_the_running_turn_holds_the_turns_before_it_even_before_it_is_first_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, earlier_turns: int) -> None:
    # The running turn's first write is held back, so the store does not know it yet when the fork is asked.
    writing, go_on = anyio.Event(), anyio.Event()
    persist = ThreadSession.persist
    done: list[str] = []
    armed = False

    async def held_first_write(self: ThreadSession, batch: WriteBatch) -> None:
        if armed and not go_on.is_set() and any(isinstance(op, PutTurn) and op.turn_id not in done
                                                for op in batch.ops):
            writing.set()
            await go_on.wait()
        await persist(self, batch)

    monkeypatch.setattr(ThreadSession, "persist", held_first_write)
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(*[Reply.text(f"answer {n}") for n in range(earlier_turns)],
                    Reply(output=[Text("slow answer", 2)], stall_after=2, gate=gate))
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source = (await h.client.request("thread/start", {}))["thread"]["id"]
            done.extend([(await h.client.run_turn({"threadId": source, "input": _say(f"q{n}")}))[0]["id"]
                         for n in range(earlier_turns)])
            armed = True
            turn = (await h.client.request("turn/start", {"threadId": source, "input": _say("go")}))["turn"]
            try:
                with anyio.fail_after(10):
                    await writing.wait()
                before = await h.client.request("thread/fork", {"threadId": source, "beforeTurnId": turn["id"]})
                assert [t["id"] for t in before["thread"]["turns"]] == done
            finally:
                go_on.set()
            assert await gate.wait_reached_async(10)
            # Once it is written, the same fork holds the same turns.
            again = await h.client.request("thread/fork", {"threadId": source, "beforeTurnId": turn["id"]})
            assert [t["id"] for t in again["thread"]["turns"]] == done
            gate.release()
            events = [e async for e in h.client.turn_events(turn["id"])]
            assert events[-1]["params"]["turn"]["status"] == "completed"
            assert await _ids(h, before["thread"]["id"]) == done


async def test_an_ephemeral_fork_cut_at_a_turn_sends_the_model_the_history_up_to_the_cut(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, turns = await _three_turns(h)
            cuts = [({"lastTurnId": turns[0]}, ["one"]), ({"beforeTurnId": turns[1]}, ["one"]),
                    ({"beforeTurnId": turns[0]}, []), ({"lastTurnId": turns[1]}, ["one", "two"]),
                    ({}, ["one", "two", "three"])]
            for cut, kept in cuts:
                fork = await h.client.request("thread/fork", {"threadId": source, "ephemeral": True,
                                                              "excludeTurns": True, **cut})
                await h.client.run_turn({"threadId": fork["thread"]["id"], "input": _say("in the fork")})
                assert _user_texts(sim.requests[-1].body) == [*kept, "in the fork"], cut
            for cut in ({"lastTurnId": UNKNOWN_TURN}, {"beforeTurnId": UNKNOWN_TURN}):
                assert await _refusal(h, {"threadId": source, "ephemeral": True, "excludeTurns": True, **cut}) == (
                    -32600, f"turn not found: {UNKNOWN_TURN}")


async def test_a_fork_asked_with_every_turn_sends_its_deprecation_notice_before_refusing_the_turn_or_an_override(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, _ = await _three_turns(h)
            refusals = [({"lastTurnId": UNKNOWN_TURN}, f"turn not found: {UNKNOWN_TURN}"),
                        ({"model": ""}, "model must not be empty"),
                        ({"modelProvider": "nope"}, "failed to load configuration")]
            for params, words in refusals:
                for exclude in (False, True):
                    mark = len(h.witness.seen)
                    code, message = await _refusal(h, {"threadId": source, "excludeTurns": exclude, **params})
                    assert code == -32600 and message.startswith(words)
                    # As Codex: the notice, then the refusal; nothing of the kind without every turn.
                    sent = [m.get("method", "error" if "error" in m else "result") for m in h.witness.seen[mark:]]
                    assert sent == (["error"] if exclude else ["deprecationNotice", "error"]), params


async def test_a_fork_takes_its_source_name_cut_or_not_and_keeps_it(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, turns = await _three_turns(h, name="Source name")
            forks = []
            for cut in ({}, {"lastTurnId": turns[1]}, {"beforeTurnId": turns[1]}, {"beforeTurnId": turns[0]},
                        {"excludeTurns": True}):
                fork = (await h.client.request("thread/fork", {"threadId": source, **cut}))["thread"]
                assert fork["name"] == "Source name", cut
                assert (await _started(h, fork["id"]))["thread"]["name"] == "Source name"
                assert (await h.client.request("thread/read", {"threadId": fork["id"]}))["thread"]["name"] == \
                    "Source name"
                forks.append(fork["id"])
            await h.client.run_turn({"threadId": forks[0], "input": _say("four")})
            # Its own from here on: renaming the source leaves the fork, and a fork of the fork takes the fork's.
            await h.client.request("thread/name/set", {"threadId": source, "name": "Renamed"})
            assert (await h.client.request("thread/read", {"threadId": forks[0]}))["thread"]["name"] == "Source name"
            await h.client.request("thread/name/set", {"threadId": forks[0], "name": "Fork name"})
            again = await h.client.request("thread/fork", {"threadId": forks[0], "excludeTurns": True})
            assert again["thread"]["name"] == "Fork name"
            unnamed, _ = await _three_turns(h)
            plain = await h.client.request("thread/fork", {"threadId": unnamed, "excludeTurns": True})
            assert plain["thread"]["name"] is None
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            listed = {t["id"]: t["name"] for t in (await h.client.request("thread/list", {}))["data"]}
            assert listed[forks[0]] == "Fork name"  # stored: listed by name once it has had a turn of its own
            read = await h.client.request("thread/read", {"threadId": forks[1]})
            assert read["thread"]["name"] == "Source name"


async def test_an_ephemeral_fork_is_answered_and_announced_with_its_source_name_but_reads_nameless(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, _ = await _three_turns(h, name="Source name")
            fork = (await h.client.request("thread/fork", {"threadId": source, "ephemeral": True,
                                                           "excludeTurns": True}))["thread"]
            assert fork["name"] == "Source name" and fork["ephemeral"] is True
            assert (await _started(h, fork["id"]))["thread"]["name"] == "Source name"
            # As Codex: an ephemeral thread keeps no name, so a read shows none.
            assert (await h.client.request("thread/read", {"threadId": fork["id"]}))["thread"]["name"] is None


async def test_an_ephemeral_fork_of_a_thread_must_be_answered_without_its_turns(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, turns = await _three_turns(h)
            loaded = (await h.client.request("thread/loaded/list", {}))["data"]
            refused = (-32600, "ephemeral paginated thread/fork requires `excludeTurns: true`")
            for params in ({"ephemeral": True}, {"ephemeral": True, "excludeTurns": False},
                           {"ephemeral": True, "lastTurnId": UNKNOWN_TURN}):
                assert await _refusal(h, {"threadId": source, **params}) == refused
            # Codex's order: the two cuts together are refused first.
            assert await _refusal(h, {"threadId": source, "ephemeral": True, "lastTurnId": turns[0],
                                      "beforeTurnId": turns[1]}) == (
                -32600, "`beforeTurnId` cannot be combined with `lastTurnId`")
            assert (await h.client.request("thread/loaded/list", {}))["data"] == loaded  # nothing was made
            assert not [m for m in h.witness.seen if m.get("method") == "thread/started"
                        and m["params"]["thread"]["ephemeral"]]
            fork = await h.client.request("thread/fork", {"threadId": source, "ephemeral": True, "excludeTurns": True})
            assert fork["thread"]["ephemeral"] is True and fork["thread"]["turns"] == []


async def test_a_fork_answered_without_its_turns_sends_no_token_usage(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, turns = await _three_turns(h)
            with_turns = [(await h.client.request("thread/fork", {"threadId": source, **shown}))["thread"]["id"]
                          for shown in ({}, {"excludeTurns": False})]
            without = [(await h.client.request("thread/fork", {"threadId": source, "excludeTurns": True, **cut}))
                       ["thread"]["id"] for cut in ({}, {"lastTurnId": turns[-1]}, {"ephemeral": True})]
            for fork_id in (*with_turns, *without):
                await _started(h, fork_id)  # the usage, when sent, comes before it
            # As Codex: a fork of the whole thread answered with its turns reports the usage it carries; answered
            # without them (excludeTurns), none, though it carries the same usage into its next turn.
            assert [len(_announced(h, "thread/tokenUsage/updated", f)) for f in with_turns] == [1, 1]
            assert [_announced(h, "thread/tokenUsage/updated", f) for f in without] == [[], [], []]
            carried = _announced(h, "thread/tokenUsage/updated", with_turns[0])[0]["tokenUsage"]["total"]
            await h.client.run_turn({"threadId": without[0], "input": _say("four")})
            usage = _announced(h, "thread/tokenUsage/updated", without[0])[-1]["tokenUsage"]
            assert usage["total"]["totalTokens"] == carried["totalTokens"] + usage["last"]["totalTokens"]
