"""Shared checks for the fault tests: one turn's events, what was persisted, and whether the daemon goes on.

Every fault test asserts the same three things (issue 4, item 8): exactly one `turn/completed`; `thread/read`
shows the turn exactly as the client saw it (status, error, the completed items in order); and the thread
still serves the next turn.
"""

from __future__ import annotations

from typing import Any

import anyio

from protocol.client import AppServerClient
from server.simulator import Reply, Simulator

Message = dict[str, Any]

LOOKUP_TOOL = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"],
                    "additionalProperties": False},
}


def text_input(text: str) -> list[Message]:
    return [{"type": "text", "text": text}]


async def new_thread(client: AppServerClient, **params: Any) -> str:
    return (await client.request("thread/start", params))["thread"]["id"]


async def run(client: AppServerClient, thread_id: str, text: str, **extra: Any) -> tuple[Message, list[Message]]:
    """One turn: returns (the `turn/completed` turn, every event of the turn)."""
    turn, events = await client.run_turn({"threadId": thread_id, "input": text_input(text), **extra}, timeout=30)
    check_turn_events(events)
    return turn, events


async def start_turn(client: AppServerClient, thread_id: str, text: str) -> str:
    """`turn/start` without waiting for the turn: returns its id."""
    started = await client.request("turn/start", {"threadId": thread_id, "input": text_input(text)})
    return str(started["turn"]["id"])


async def interrupt(client: AppServerClient, thread_id: str, turn_id: str) -> list[Message]:
    """`turn/interrupt` (answered within 5 s), then every event of the turn through its `turn/completed`."""
    with anyio.fail_after(5):
        assert await client.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id}) == {}
    return [event async for event in client.turn_events(turn_id, timeout=10)]


def completed_items(events: list[Message]) -> list[Message]:
    return [e["params"]["item"] for e in events if e["method"] == "item/completed"]


def methods(events: list[Message]) -> list[str]:
    return [e["method"] for e in events]


def check_turn_events(events: list[Message]) -> None:
    """One turn/completed, last; per item: started → deltas → completed, and the deltas spell the final text."""
    names = methods(events)
    assert names.count("turn/completed") == 1 and names[-1] == "turn/completed", names
    assert names.count("turn/started") == 1 and names[0] == "turn/started", names
    started: set[str] = set()
    done: set[str] = set()
    deltas: dict[str, list[str]] = {}
    for event in events:
        params = event["params"]
        if event["method"] == "item/started":
            assert params["item"]["id"] not in started, f"item started twice: {params['item']}"
            started.add(params["item"]["id"])
        elif event["method"] == "item/agentMessage/delta":
            assert params["itemId"] in started and params["itemId"] not in done, "a delta outside its item"
            deltas.setdefault(params["itemId"], []).append(params["delta"])
        elif event["method"] == "item/completed":
            item = params["item"]
            assert item["id"] in started and item["id"] not in done, f"completed without start, or twice: {item}"
            done.add(item["id"])
            if item["type"] == "agentMessage":
                assert "".join(deltas.get(item["id"], [])) == item["text"], "deltas do not spell the final text"
    assert started == done, f"items started but never completed: {started - done}"


async def read_turns(client: AppServerClient, thread_id: str) -> list[Message]:
    return (await client.request("thread/read", {"threadId": thread_id, "includeTurns": True}))["thread"]["turns"]


async def assert_persisted_as_seen(client: AppServerClient, thread_id: str, turn: Message,
                                   events: list[Message]) -> Message:
    """`thread/read` shows this turn with the status, error and completed items the client was shown."""
    stored = {t["id"]: t for t in await read_turns(client, thread_id)}
    assert turn["id"] in stored, "the turn was not persisted"
    kept = stored[turn["id"]]
    assert kept["status"] == turn["status"] and kept["error"] == turn["error"]
    assert kept["status"] != "inProgress"
    assert kept["items"] == completed_items(events), "thread/read differs from what the client was shown"
    return kept


async def assert_serves_next_turn(client: AppServerClient, sim: Simulator, thread_id: str) -> Message:
    """The daemon still runs a normal turn on this thread; returns the upstream request body it sent."""
    sim.enqueue(Reply.text("Still here."))
    turn, events = await run(client, thread_id, "are you still there?")
    assert turn["status"] == "completed", turn
    assert completed_items(events)[-1]["text"] == "Still here."
    body = sim.requests[-1].body
    assert_calls_paired(body["input"])
    return body


def assert_calls_paired(entries: list[Message]) -> None:
    """The Responses API refuses a call without an output and an output without an earlier call."""
    calls = [e["call_id"] for e in entries if e.get("type") == "function_call"]
    outputs = [e["call_id"] for e in entries if e.get("type") == "function_call_output"]
    assert sorted(calls) == sorted(outputs) and len(set(calls)) == len(calls), (calls, outputs)
    for entry in entries:
        if entry.get("type") == "function_call_output":
            call_at = next(i for i, e in enumerate(entries)
                           if e.get("type") == "function_call" and e["call_id"] == entry["call_id"])
            assert call_at < entries.index(entry)


def user_texts(entries: list[Message]) -> list[str]:
    return [part["text"] for e in entries if e.get("role") in ("user", "assistant")
            for part in e.get("content", []) if "text" in part]
