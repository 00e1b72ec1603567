"""thread/fork's options as Codex 0.163.0 answers them: where a fork is cut, for stored and ephemeral forks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from protocol.client import RpcFailure
from server.simulator import Simulator
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio

UNKNOWN_TURN = "01a20000-0000-7000-8000-000000000000"


def _say(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


def _user_texts(body: dict[str, Any]) -> list[str]:
    return [c["text"] for i in body["input"] if i.get("role") == "user" for c in i["content"]]


async def _three_turns(h: Harness) -> tuple[str, list[str]]:
    thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    turn_ids = []
    for word in ("one", "two", "three"):
        turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say(word)})
        turn_ids.append(turn["id"])
    return thread_id, turn_ids


async def _refusal(h: Harness, params: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(RpcFailure) as refused:
        await h.client.request("thread/fork", params)
    return refused.value.code, refused.value.message


async def test_an_ephemeral_fork_cut_at_a_turn_sends_the_model_the_history_up_to_the_cut(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source, turns = await _three_turns(h)
            cuts = [({"lastTurnId": turns[0]}, ["one"]), ({"lastTurnId": turns[1]}, ["one", "two"]),
                    ({}, ["one", "two", "three"])]
            for cut, kept in cuts:
                fork = await h.client.request("thread/fork", {"threadId": source, "ephemeral": True,
                                                              "excludeTurns": True, **cut})
                await h.client.run_turn({"threadId": fork["thread"]["id"], "input": _say("in the fork")})
                assert _user_texts(sim.requests[-1].body) == [*kept, "in the fork"], cut
            assert await _refusal(h, {"threadId": source, "ephemeral": True, "excludeTurns": True,
                                      "lastTurnId": UNKNOWN_TURN}) == (-32600, f"turn not found: {UNKNOWN_TURN}")


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
