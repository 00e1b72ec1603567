"""Crash safety at the daemon level (issue 3, item 5): SIGKILL at seeded random moments, then reopen.

Two homes, many daemons. Each iteration starts the real daemon (`python -m server app-server` over pipes)
against a fresh simulator, first checks with that fresh process everything the previous (killed) one wrote,
then drives new work — new threads with dynamic tools, turns with reasoning, messages and a client tool round,
renames, forks, and turns on threads reopened after earlier kills — and SIGKILLs the daemon when the client
has received a random number of messages. A last daemon checks every thread ever written. The checks are in
`tests.crash.ledger`: every thread reads, resumes and lists as a consistent prefix of what was acknowledged.

`THREADLINE_CRASH_SEED` and `THREADLINE_CRASH_ITERATIONS` change the seed and the count (default 50).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import anyio
import pytest

from protocol.client import RpcFailure
from server.simulator import FunctionCall, Reasoning, Reply, Simulator, Text
from tests.crash.ledger import Findings, ThreadNote, TurnNote, check_thread
from tests.faults.daemon import Daemon, spawn_daemon
from tests.faults.support import LOOKUP_TOOL, text_input

pytestmark = pytest.mark.anyio

SEED = int(os.environ.get("THREADLINE_CRASH_SEED", "20261125"))
ITERATIONS = int(os.environ.get("THREADLINE_CRASH_ITERATIONS", "50"))
MAX_KILL_AFTER = 70  # messages; an iteration's work sends 25 to 100 (median about 60)
DIED = (RpcFailure, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)

Message = dict[str, Any]


async def _tool_answer(message: Message) -> Message:
    return {"contentItems": [{"type": "inputText", "text": f"found {message['params']['arguments']['q']}"}],
            "success": True}


def _script(sim: Simulator, tag: str, rng: random.Random) -> tuple[str, list[tuple[str, str | None]]]:
    """Queue one turn's replies; returns (the user's text, the item shapes the turn must produce)."""
    text, answer = f"question {tag}", f"Answer for {tag}, in a few streamed words."
    if rng.random() < 0.5:
        sim.enqueue(Reply(output=[Reasoning(summary=[f"Thinking about {tag}."], deltas=3), Text(answer, 6)]))
        return text, [("userMessage", text), ("reasoning", None), ("agentMessage", answer)]
    sim.enqueue(Reply(output=[Text("Let me look that up.", 3), FunctionCall("lookup", f'{{"q": "{tag}"}}')]),
                Reply(output=[Text(answer, 5)]))
    return text, [("userMessage", text), ("agentMessage", "Let me look that up."),
                  ("dynamicToolCall", "lookup:completed"), ("agentMessage", answer)]


async def _turn(daemon: Daemon, sim: Simulator, note: ThreadNote, tag: str, rng: random.Random) -> None:
    text, expected = _script(sim, tag, rng)
    turn = TurnNote(text, expected)
    note.turns.append(turn)  # before sending: the daemon may persist it even if its answer never arrives
    started = await daemon.client.request("turn/start", {"threadId": note.id, "input": text_input(text)}, timeout=20)
    turn.turn_id = started["turn"]["id"]
    async for event in daemon.client.turn_events(turn.turn_id, timeout=20):
        if event["method"] == "item/completed":
            turn.seen_items.append(event["params"]["item"])
        elif event["method"] == "turn/completed":
            turn.final = event["params"]["turn"]


async def _workload(daemon: Daemon, sim: Simulator, threads: dict[str, ThreadNote], touched: set[str],
                    iteration: int, rng: random.Random) -> None:
    client = daemon.client
    older = [n for n in threads.values() if n.fork_of is None]
    if older and rng.random() < 0.5:  # a thread written (and perhaps cut) by an earlier, killed daemon
        note = rng.choice(older)
        touched.add(note.id)
        await client.request("thread/resume", {"threadId": note.id}, timeout=20)
        await _turn(daemon, sim, note, f"i{iteration}-resumed", rng)
    started = await client.request("thread/start", {"dynamicTools": [LOOKUP_TOOL]}, timeout=20)
    note = threads.setdefault(started["thread"]["id"], ThreadNote(started["thread"]["id"]))
    touched.add(note.id)
    for n in range(rng.randint(1, 3)):
        await _turn(daemon, sim, note, f"i{iteration}-t{n}", rng)
        if rng.random() < 0.4:
            name = f"name {iteration}.{n}"
            note.names_sent.append(name)
            await client.request("thread/name/set", {"threadId": note.id, "name": name}, timeout=20)
            note.names_acked = len(note.names_sent)
    forkable = [n for n in threads.values() if n.fork_of is None and any(t.final for t in n.turns)]
    if forkable and rng.random() < 0.6:
        source = rng.choice(forkable)
        forked = await client.request("thread/fork", {"threadId": source.id}, timeout=20)
        fork = threads.setdefault(forked["thread"]["id"], ThreadNote(forked["thread"]["id"], fork_of=source.id))
        fork.fork_turns, fork.fork_name = forked["thread"]["turns"], forked["thread"]["name"]
        touched.add(fork.id)


async def _verify(daemon: Daemon, threads: dict[str, ThreadNote], ids: set[str], findings: Findings) -> None:
    client = daemon.client
    listed: set[str] = set()
    cursor = None
    while True:
        page = await client.request("thread/list", {"limit": 100, "cursor": cursor}, timeout=20)
        listed.update(t["id"] for t in page["data"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    for thread_id in sorted(ids):
        read = await client.request("thread/read", {"threadId": thread_id, "includeTurns": True}, timeout=20)
        thread = read["thread"]
        check_thread(threads[thread_id], thread, findings)
        # Listed once a user message gave it a preview (a fork: once it ran a turn of its own), as Codex lists.
        assert (thread_id in listed) == bool(thread["preview"]), \
            f"thread {thread_id}: preview {thread['preview']!r}, but listed is {thread_id in listed}"
        resumed = await client.request("thread/resume", {"threadId": thread_id}, timeout=20)
        assert [t["id"] for t in resumed["thread"]["turns"]] == [t["id"] for t in thread["turns"]]
        if thread["turns"]:
            items = await client.request("thread/items/list", {"threadId": thread_id, "limit": 1000}, timeout=20)
            turn_ids = {t["id"] for t in thread["turns"]}
            assert all(e["turnId"] in turn_ids for e in items["data"]), "an item belongs to no turn"
            assert [e["item"] for e in items["data"]] == [i for t in thread["turns"] for i in t["items"]]
        # Unload again so the next check reads from disk, not from this daemon's memory.
        await client.request("thread/unsubscribe", {"threadId": thread_id}, timeout=20)


async def _lane(home: Path, lane: int, iterations: int, findings: Findings) -> int:
    """`iterations` kill-and-reopen rounds on one home; returns how many kills landed mid-work."""
    threads: dict[str, ThreadNote] = {}
    kills_mid_work = 0
    to_check: set[str] = set()
    for iteration in range(iterations):
        rng = random.Random(f"{SEED}/{lane}/{iteration}")
        async with Simulator() as sim, spawn_daemon(home, sim.base_url) as daemon:
            daemon.client.handlers["item/tool/call"] = _tool_answer
            await _verify(daemon, threads, to_check, findings)
            kill_after = daemon.received + rng.randint(1, MAX_KILL_AFTER)

            def maybe_kill(message: Message, daemon: Daemon = daemon, at: int = kill_after) -> None:
                if daemon.received >= at:
                    daemon.kill()

            daemon.on_message = maybe_kill
            to_check = set()
            try:
                await _workload(daemon, sim, threads, to_check, iteration, rng)
            except DIED:
                kills_mid_work += 1
            daemon.kill()
            with anyio.fail_after(10):
                await daemon.process.wait()
    async with Simulator() as sim, spawn_daemon(home, sim.base_url) as daemon:
        await _verify(daemon, threads, set(threads), findings)
    findings.threads_written += len(threads)
    return kills_mid_work


async def test_sigkill_at_random_moments_never_leaves_a_thread_unreadable_or_inconsistent(tmp_path: Path) -> None:
    findings = Findings()
    mid_work: list[int] = []

    async def lane(index: int, iterations: int) -> None:
        mid_work.append(await _lane(tmp_path / f"home{index}", index, iterations, findings))

    # Two homes side by side: daemon start-up is most of the cost, and the machine has two cores.
    with anyio.fail_after(240):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lane, 0, ITERATIONS - ITERATIONS // 2)
            tg.start_soon(lane, 1, ITERATIONS // 2)
    assert sum(mid_work) >= ITERATIONS // 2, f"only {sum(mid_work)} of {ITERATIONS} kills landed in the middle of work"
    print(f"crash test: {ITERATIONS} kills ({sum(mid_work)} mid-work), {findings.threads_written} threads, "
          f"{findings.turns_checked} turn checks, {findings.in_progress_after_reopen} turns inProgress after reopen")
