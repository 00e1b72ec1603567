"""thread/list filters and stable cursors; thread/turns/list and thread/items/list paging both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from protocol.client import RpcFailure
from server.sessions.views import turn_view
from server.simulator import Simulator
from server.store.base import ItemRecord, TurnRecord
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio


def _say(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


async def _thread_with_turn(h: Harness, text: str, **start: Any) -> str:
    thread_id = (await h.client.request("thread/start", start))["thread"]["id"]
    await h.client.run_turn({"threadId": thread_id, "input": _say(text)})
    return thread_id


async def test_thread_list_filters_by_cwd_search_and_archive_and_pages_with_stable_cursors(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            a = await _thread_with_turn(h, "fix the parser", cwd=str(tmp_path / "a"))
            b = await _thread_with_turn(h, "write docs", cwd=str(tmp_path / "b"))
            c = await _thread_with_turn(h, "parser tests", cwd=str(tmp_path / "a"))
            everything = await h.client.request("thread/list", {})
            assert [t["id"] for t in everything["data"]] == [c, b, a]
            assert all(t["status"] == {"type": "idle"} for t in everything["data"])
            by_cwd = await h.client.request("thread/list", {"cwd": str(tmp_path / "a")})
            assert [t["id"] for t in by_cwd["data"]] == [c, a]
            with_slash = await h.client.request("thread/list", {"cwd": str(tmp_path / "a") + "/"})
            assert [t["id"] for t in with_slash["data"]] == [c, a]
            searched = await h.client.request("thread/list", {"searchTerm": "parser"})
            assert {t["id"] for t in searched["data"]} == {a, c}
            oldest_first = await h.client.request("thread/list", {"sortDirection": "asc"})
            assert [t["id"] for t in oldest_first["data"]] == [a, b, c]

            zero = await h.client.request("thread/list", {"limit": 0})  # as Codex: taken as 1
            assert [t["id"] for t in zero["data"]] == [c] and zero["nextCursor"]
            first = await h.client.request("thread/list", {"limit": 2})
            assert [t["id"] for t in first["data"]] == [c, b] and first["nextCursor"]
            d = await _thread_with_turn(h, "a newer thread")  # must not shift the next page
            second = await h.client.request("thread/list", {"limit": 2, "cursor": first["nextCursor"]})
            assert [t["id"] for t in second["data"]] == [a] and second["nextCursor"] is None
            assert d not in {t["id"] for t in second["data"]}

            await h.client.request("thread/archive", {"threadId": b})
            live = await h.client.request("thread/list", {})
            archived = await h.client.request("thread/list", {"archived": True})
            assert b not in {t["id"] for t in live["data"]} and [t["id"] for t in archived["data"]] == [b]

            with pytest.raises(RpcFailure) as foreign:
                await h.client.request("thread/list", {"cursor": first["nextCursor"], "sortKey": "updated_at"})
            assert foreign.value.code == -32600 and foreign.value.message.startswith("invalid cursor: ")
            with pytest.raises(RpcFailure) as garbage:
                await h.client.request("thread/list", {"cursor": "!!not-a-cursor!!"})
            # Codex's code and words for a cursor it never issued
            assert (garbage.value.code, garbage.value.message) == (-32600, "invalid cursor: !!not-a-cursor!!")


async def test_turns_and_items_page_in_both_directions(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn_ids = []
            for n in range(5):
                turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say(f"message {n}")})
                turn_ids.append(turn["id"])
            newest = await h.client.request("thread/turns/list", {"threadId": thread_id, "limit": 2})
            assert [t["id"] for t in newest["data"]] == turn_ids[:-3:-1]
            # The summary view, as Codex's: the turn's first user message and its answer.
            assert [i["type"] for i in newest["data"][0]["items"]] == ["userMessage", "agentMessage"]
            older = await h.client.request("thread/turns/list", {"threadId": thread_id, "limit": 2,
                                                                  "cursor": newest["nextCursor"]})
            assert [t["id"] for t in older["data"]] == [turn_ids[2], turn_ids[1]]
            back = await h.client.request("thread/turns/list", {"threadId": thread_id, "limit": 10,
                                                                 "sortDirection": "asc",
                                                                 "cursor": older["backwardsCursor"]})
            assert [t["id"] for t in back["data"]] == turn_ids[2:]

            items = await h.client.request("thread/items/list", {"threadId": thread_id, "limit": 3})
            assert len(items["data"]) == 3 and items["data"][0]["turnId"] == turn_ids[0]
            rest = await h.client.request("thread/items/list", {"threadId": thread_id, "limit": 100,
                                                                 "cursor": items["nextCursor"]})
            assert len(items["data"]) + len(rest["data"]) == 10  # user + agent message per turn
            one_turn = await h.client.request("thread/items/list", {"threadId": thread_id, "turnId": turn_ids[3]})
            first_id = one_turn["data"][0]["item"]["id"]
            after = await h.client.request("thread/items/list", {
                "threadId": thread_id, "turnId": turn_ids[3], "cursor": {"type": "item", "itemId": first_id}})
            assert [e["item"]["type"] for e in after["data"]] == ["agentMessage"]
            with pytest.raises(RpcFailure) as foreign:
                await h.client.request("thread/items/list", {"threadId": thread_id, "cursor": newest["nextCursor"]})
            assert foreign.value.code == -32600
            for unknown in ("01a211f7-0000-7000-8000-000000000000", "not-a-turn"):  # as Codex: nothing, no error
                nothing = await h.client.request("thread/items/list", {"threadId": thread_id, "turnId": unknown})
                assert nothing == {"data": [], "nextCursor": None, "backwardsCursor": None}
            with pytest.raises(RpcFailure, match="turnId is required when cursor is an item anchor"):
                await h.client.request("thread/items/list", {"threadId": thread_id,
                                                             "cursor": {"type": "item", "itemId": first_id}})


def test_the_summary_view_is_the_opening_message_and_the_answer_never_commentary_or_a_partial_one() -> None:
    def item(kind: str, text: str, phase: str | None = None) -> ItemRecord:
        body = ({"type": "userMessage", "id": text, "content": [{"type": "text", "text": text}], "clientId": None}
                if kind == "user" else
                {"type": "agentMessage", "id": text, "text": text, "phase": phase, "memoryCitation": None,
                 "delivery": None, "questions": None})
        return ItemRecord(thread_id="t", turn_id="u", item_id=text, seq=0, data=msgspec.json.encode(body),
                          started_at_ms=0, completed_at_ms=0)

    turn = TurnRecord(thread_id="t", turn_id="u", seq=1, status="completed", data=msgspec.json.encode(
        {"id": "u", "items": [], "itemsView": "notLoaded", "status": "completed", "error": None, "startedAt": 1,
         "completedAt": 2, "durationMs": 1, "rootTurnId": "u"}))
    items = [item("user", "ask"), item("agent", "the answer", "final_answer"), item("user", "steer"),
             item("agent", "working on it", "commentary"), item("agent", "half", "partial_answer")]
    summary = turn_view(turn, items, "summary")
    assert [getattr(i, "text", None) or i.content[0].text for i in summary.items] == ["ask", "the answer"]


async def test_resume_hands_out_a_cursor_that_pages_back_from_the_newest_turn(tmp_path: Path) -> None:
    # PROTOCOL.md §3.2: resume with excludeTurns, then page turns/list (desc) from turnsBackwardsCursor.
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            empty = (await h.client.request("thread/start", {}))["thread"]["id"]
            assert (await h.client.request("thread/resume", {"threadId": empty}))["turnsBackwardsCursor"] is None
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            turn_ids = [(await h.client.run_turn({"threadId": thread_id, "input": _say(word)}))[0]["id"]
                        for word in ("one", "two", "three")]
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            resumed = await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
            cursor = resumed["turnsBackwardsCursor"]
            assert resumed["thread"]["turns"] == [] and cursor
            first = await h.client.request("thread/turns/list", {"threadId": thread_id, "cursor": cursor,
                                                                 "limit": 2, "sortDirection": "desc"})
            assert [t["id"] for t in first["data"]] == turn_ids[:0:-1]
            rest = await h.client.request("thread/turns/list", {"threadId": thread_id, "cursor": first["nextCursor"],
                                                                "limit": 2, "sortDirection": "desc"})
            assert [t["id"] for t in rest["data"]] == turn_ids[:1] and rest["nextCursor"] is None


async def test_resume_and_revert_hand_out_a_cursor_that_pages_items_back_from_the_newest(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            assert (await h.client.request("thread/resume", {"threadId": thread_id}))["itemsBackwardsCursor"] is None
            turns = [(await h.client.run_turn({"threadId": thread_id, "input": _say(word)}))[0]
                     for word in ("one", "two")]
            every = (await h.client.request("thread/items/list", {"threadId": thread_id}))["data"]
            resumed = await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
            await h.client.run_turn({"threadId": thread_id, "input": _say("three")})  # after the cursor's anchor
            newest = await h.client.request("thread/items/list", {"threadId": thread_id, "limit": 3,
                                                                  "cursor": resumed["itemsBackwardsCursor"],
                                                                  "sortDirection": "desc"})
            assert [e["item"]["id"] for e in newest["data"]] == [e["item"]["id"] for e in every[:0:-1]]
            reverted = await h.client.request("thread/revert", {"threadId": thread_id, "beforeTurnId": turns[1]["id"]})
            kept = await h.client.request("thread/items/list", {"threadId": thread_id, "sortDirection": "desc",
                                                                "cursor": reverted["itemsBackwardsCursor"]})
            assert [e["item"]["id"] for e in kept["data"]] == [e["item"]["id"] for e in every[1::-1]]


async def test_resume_reports_the_collaboration_mode_that_turn_start_set(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"model": "gpt-5.1"}))["thread"]["id"]
            resumed = await h.client.request("thread/resume", {"threadId": thread_id})
            assert resumed["collaborationMode"] == {"mode": "default", "settings": {
                "model": "gpt-5.1", "reasoning_effort": None, "developer_instructions": None}}
            plan = {"mode": "plan", "settings": {"model": "gpt-5.1-codex", "reasoning_effort": "high",
                                                 "developer_instructions": "Plan before acting."}}
            await h.client.run_turn({"threadId": thread_id, "input": _say("go"), "collaborationMode": plan,
                                     "model": "gpt-5.1-codex-mini"})
            body = sim.requests[-1].body
            assert (body["model"], body["reasoning"]["effort"]) == ("gpt-5.1-codex", "high")  # the mode wins
            assert body["input"][0]["content"][0]["text"] == "Plan before acting."
            assert (await h.client.request("thread/resume", {"threadId": thread_id}))["collaborationMode"] == plan
