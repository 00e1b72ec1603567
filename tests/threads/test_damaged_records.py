"""One damaged stored record costs that record, never its thread or the thread list (USERS.md #23, N7).

Each test runs a daemon, stops it, damages one blob with ``sqlite3`` on the store's file (as a disk fault or a hand
edit would), and starts a daemon on the same home again. Reads pass over the record with one warning that names
the thread and the row, never the record's content; the rest of the thread reads, pages, resumes and runs turns.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from protocol.client import RpcFailure
from server.sessions.meta import decode_meta
from server.simulator import FunctionCall, Reply, Simulator, Text
from server.store.connections import DB_NAME
from tests.compaction_e2e.support import run_compaction
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio

DEFAULT_MODEL = "the-daemon-default-model"
SECRET = "SECRET-WORD"  # inside damaged blobs: a warning must never show it
# Valid JSON that is not a thread's metadata; msgspec's own message would quote the secret back.
BAD_META = msgspec.json.encode({"session_id": "s", "cli_version": "v", "settings": {
    "model": "m", "model_provider": "p", "cwd": "/", "approval_policy": SECRET}})
GARBAGE = b'{"text": "' + SECRET.encode() + b'" garbage'
TOOL = {"type": "function", "name": "lookup", "description": "Look a word up.",
        "inputSchema": {"type": "object", "properties": {"word": {"type": "string"}}}}


def _say(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


@contextlib.contextmanager
def store_file(home: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(home / DB_NAME)) as conn, conn:
        yield conn


def damage(home: Path, sql: str, *params: object) -> None:
    """Run one UPDATE on the stopped daemon's store; it must hit exactly one row."""
    with store_file(home) as conn:
        assert conn.execute(sql, params).rowcount == 1


def overrides(sim: Simulator) -> list[str]:
    return [*sim_overrides(sim.base_url), f'model="{DEFAULT_MODEL}"']


async def _thread_with_turns(h: Harness, *words: str, **start: Any) -> tuple[str, list[str]]:
    thread_id = (await h.client.request("thread/start", {"model": "the-thread-s-own-model", **start}))["thread"]["id"]
    turn_ids = []
    for word in words:
        turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say(word)})
        assert turn["status"] == "completed"
        turn_ids.append(turn["id"])
    return thread_id, turn_ids


def warnings_about(caplog: pytest.LogCaptureFixture, thread_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and thread_id in r.getMessage()]


def user_texts(body: dict[str, Any]) -> list[str]:
    return [c["text"] for i in body["input"] if i.get("role") == "user" for c in i["content"]]


async def test_a_history_entry_that_cannot_be_read_is_left_out_and_later_turns_still_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            thread_id, _ = await _thread_with_turns(h, "one", "two", "three")
        damage(tmp_path, "UPDATE history SET data = ? WHERE CAST(data AS TEXT) LIKE '%\"two\"%'", GARBAGE)
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
            for word in ("four", "five"):
                turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say(word)})
                assert turn["status"] == "completed"
        assert user_texts(sim.requests[-1].body) == ["one", "three", "four", "five"]
    [warning] = warnings_about(caplog, thread_id)
    assert "history seq 3" in warning
    assert SECRET not in caplog.text


@pytest.mark.parametrize("lost", ["function_call", "function_call_output"])
async def test_a_tool_call_or_output_whose_pair_cannot_be_read_is_never_sent_alone(tmp_path: Path, lost: str) -> None:
    """The API refuses a call without its output and an output without its call: a call whose output was lost
    is answered "aborted", and an output whose call was lost is left out too."""
    with Simulator() as sim:
        sim.enqueue(Reply(output=[FunctionCall("lookup", '{"word": "x"}', call_id="call_1")]),
                    Reply(output=[Text("looked up", 1)]))
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            async def answer(message: dict[str, Any]) -> dict[str, Any]:
                return {"contentItems": [{"type": "inputText", "text": "the answer"}], "success": True}

            h.client.handlers["item/tool/call"] = answer
            thread_id, _ = await _thread_with_turns(h, "look x up", dynamicTools=[TOOL])
        damage(tmp_path, "UPDATE history SET data = ? WHERE json_extract(CAST(data AS TEXT), '$.type') = ?",
               GARBAGE, lost)
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
            turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say("go on")})
            assert turn["status"] == "completed"
        sent = [(i["type"], i.get("output")) for i in sim.requests[-1].body["input"] if "call_id" in i]
    assert sent == ([] if lost == "function_call" else [("function_call", None), ("function_call_output", "aborted")])


async def test_a_compaction_checkpoint_that_cannot_be_read_sends_the_history_from_before_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with Simulator() as sim:
        config = [*sim_overrides(sim.base_url, remote_compaction="v1"), "model_auto_compact_token_limit=100000"]
        async with running_server(tmp_path, overrides=config, env=SIM_ENV) as h:
            thread_id, _ = await _thread_with_turns(h, "one", "two")
            compacted, _ = await run_compaction(h, thread_id)
            assert compacted["status"] == "completed"
        with store_file(tmp_path) as conn:
            (seq,) = conn.execute("SELECT seq FROM checkpoints").fetchone()
        damage(tmp_path, "UPDATE checkpoints SET replacement = ? WHERE seq = ?", GARBAGE, seq)
        async with running_server(tmp_path, overrides=config, env=SIM_ENV) as h:
            await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
            turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say("three")})
            assert turn["status"] == "completed"
        body = sim.requests_to("responses")[-1].body
    assert [i["type"] for i in body["input"]].count("compaction") == 0
    assert user_texts(body) == ["one", "two", "three"]
    [warning] = warnings_about(caplog, thread_id)
    assert f"checkpoints seq {seq}" in warning


async def test_a_turn_whose_record_cannot_be_read_is_shown_from_its_id_and_status_with_all_its_items(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            thread_id, turns = await _thread_with_turns(h, "one", "two", "three")
            before = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
        damage(tmp_path, "UPDATE turns SET data = ? WHERE turn_id = ?", GARBAGE, turns[1])
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            shown = read["thread"]["turns"]
            assert [(t["id"], t["status"]) for t in shown] == [(t, "completed") for t in turns]
            assert shown[1]["items"] == before["thread"]["turns"][1]["items"]
            assert (shown[1]["startedAt"], shown[1]["completedAt"], shown[1]["error"]) == (None, None, None)
            assert shown[0] == before["thread"]["turns"][0] and shown[2] == before["thread"]["turns"][2]
            # Paging one turn at a time walks past it: cursors are seqs, not what a blob decoded to.
            paged, cursor = [], None
            while True:
                page = await h.client.request("thread/turns/list", {"threadId": thread_id, "limit": 1,
                                                                    "sortDirection": "asc", "cursor": cursor})
                paged += [(t["id"], [i["type"] for i in t["items"]]) for t in page["data"]]
                if (cursor := page["nextCursor"]) is None:
                    break
            assert paged == [(t, ["userMessage", "agentMessage"]) for t in turns]
            await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
            turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say("four")})
            assert turn["status"] == "completed"
    [warning] = warnings_about(caplog, thread_id)
    assert turns[1] in warning and "turns seq 2" in warning and "is not valid JSON" in warning
    assert SECRET not in caplog.text


async def test_an_item_that_cannot_be_read_is_left_out_and_paging_goes_on_past_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            thread_id, turns = await _thread_with_turns(h, "one", "two", "three")
            items = (await h.client.request("thread/items/list", {"threadId": thread_id, "limit": 100}))["data"]
        lost = next(e["item"]["id"] for e in items if e["turnId"] == turns[1] and e["item"]["type"] == "agentMessage")
        damage(tmp_path, "UPDATE items SET data = ? WHERE item_id = ?", GARBAGE, lost)
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            read = await h.client.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert [[i["type"] for i in t["items"]] for t in read["thread"]["turns"]] == [
                ["userMessage", "agentMessage"], ["userMessage"], ["userMessage", "agentMessage"]]
            summary = await h.client.request("thread/turns/list", {"threadId": thread_id, "sortDirection": "asc"})
            assert [len(t["items"]) for t in summary["data"]] == [2, 1, 2]
            paged, cursor = [], None
            while True:
                page = await h.client.request("thread/items/list", {"threadId": thread_id, "limit": 1,
                                                                    "cursor": cursor})
                paged += [e["item"]["id"] for e in page["data"]]
                if (cursor := page["nextCursor"]) is None:
                    break
            assert paged == [e["item"]["id"] for e in items if e["item"]["id"] != lost]
    [warning] = warnings_about(caplog, thread_id)
    assert lost in warning and "left out" in warning
    assert SECRET not in caplog.text


async def test_a_thread_whose_metadata_cannot_be_read_is_still_listed_and_read_and_so_is_every_other(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            damaged, turns = await _thread_with_turns(h, "one", "two")
            other, _ = await _thread_with_turns(h, "elsewhere")
        damage(tmp_path, "UPDATE threads SET data = ? WHERE id = ?", BAD_META, damaged)
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            for _ in range(2):  # a client polling the list
                listed = {t["id"]: t for t in (await h.client.request("thread/list", {}))["data"]}
            assert set(listed) == {damaged, other}
            # What the columns hold is shown as stored; what the blob held comes from the daemon's defaults.
            assert (listed[damaged]["preview"], listed[damaged]["cwd"]) == ("one", listed[other]["cwd"])
            assert (listed[damaged]["model"], listed[other]["model"]) == (DEFAULT_MODEL, "the-thread-s-own-model")
            read = await h.client.request("thread/read", {"threadId": damaged, "includeTurns": True})
            assert [t["id"] for t in read["thread"]["turns"]] == turns
    [warning] = warnings_about(caplog, damaged)
    assert "threads.data" in warning and "$.settings.approval_policy" in warning and "default" in warning
    assert SECRET not in caplog.text


async def test_a_thread_whose_metadata_cannot_be_read_resumes_on_the_defaults_and_its_next_turn_repairs_it(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            thread_id, _ = await _thread_with_turns(h, "one", "two")
        damage(tmp_path, "UPDATE threads SET data = ? WHERE id = ?", GARBAGE, thread_id)
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            resumed = await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
            assert resumed["model"] == DEFAULT_MODEL
            turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say("three")})
            assert turn["status"] == "completed"
        assert user_texts(sim.requests[-1].body) == ["one", "two", "three"]  # the history is intact
    with store_file(tmp_path) as conn:
        (stored,) = conn.execute("SELECT data FROM threads WHERE id = ?", (thread_id,)).fetchone()
    assert decode_meta(stored).settings.model == DEFAULT_MODEL


async def test_a_thread_whose_metadata_cannot_be_read_can_be_archived_unarchived_reverted_forked_and_deleted(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            thread_id, turns = await _thread_with_turns(h, "one", "two")
        damage(tmp_path, "UPDATE threads SET data = ? WHERE id = ?", GARBAGE, thread_id)
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            await h.client.request("thread/archive", {"threadId": thread_id})
            unarchived = await h.client.request("thread/unarchive", {"threadId": thread_id})
            assert unarchived["thread"]["model"] == DEFAULT_MODEL
            fork = (await h.client.request("thread/fork", {"threadId": thread_id}))["thread"]
            assert [t["id"] for t in fork["turns"]] == turns and fork["model"] == DEFAULT_MODEL
            reverted = await h.client.request("thread/revert", {"threadId": thread_id, "beforeTurnId": turns[1]})
            assert reverted["thread"]["id"] == thread_id
            await h.client.request("thread/delete", {"threadId": thread_id})
            with pytest.raises(RpcFailure, match="thread not loaded"):
                await h.client.request("thread/read", {"threadId": thread_id})


async def test_a_thread_whose_git_state_cannot_be_read_is_listed_without_it_and_a_patch_writes_over_it(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            thread_id, _ = await _thread_with_turns(h, "one")
        damage(tmp_path, "UPDATE threads SET git_info = ? WHERE id = ?", GARBAGE, thread_id)
        async with running_server(tmp_path, overrides=overrides(sim), env=SIM_ENV) as h:
            [listed] = (await h.client.request("thread/list", {}))["data"]
            assert (listed["id"], listed["gitInfo"]) == (thread_id, None)
            patched = await h.client.request("thread/metadata/update", {"threadId": thread_id,
                                                                        "gitInfo": {"branch": "main"}})
            assert patched["thread"]["gitInfo"] == {"sha": None, "branch": "main", "originUrl": None}


async def test_a_history_restored_from_before_a_damaged_checkpoint_is_measured_whole_and_compacted_again(
        tmp_path: Path) -> None:
    """The last response measured the compacted history; the restored one is longer, and counted as such."""
    with Simulator() as sim:
        def config(limit: int) -> list[str]:
            return [*sim_overrides(sim.base_url, remote_compaction="v1"), f"model_auto_compact_token_limit={limit}"]

        sim.enqueue(*[Reply.text(f"long answer {n} " + "lorem ipsum " * 500) for n in range(3)])
        async with running_server(tmp_path, overrides=config(100_000), env=SIM_ENV) as h:
            thread_id, _ = await _thread_with_turns(h, "one", "two", "three")
            compacted, _ = await run_compaction(h, thread_id)
            assert compacted["status"] == "completed"
            await h.client.run_turn({"threadId": thread_id, "input": _say("short")})
        damage(tmp_path, "UPDATE checkpoints SET replacement = ? WHERE rowid = 1", GARBAGE)
        compactions = len(sim.requests_to("compact"))
        async with running_server(tmp_path, overrides=config(2_000), env=SIM_ENV) as h:
            await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
            turn, _ = await h.client.run_turn({"threadId": thread_id, "input": _say("go on")})
            assert turn["status"] == "completed"
        assert len(sim.requests_to("compact")) == compactions + 1
