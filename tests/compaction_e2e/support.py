"""Shared vocabulary of the compaction end-to-end tests: config, text of a given size, reading what was sent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from server.simulator import Simulator
from server.store import SqliteStore
from server.store.base import CheckpointRecord
from tests.harness import Harness, sim_overrides

Message = dict[str, Any]

LIMIT = 1_000  # the smallest compact_threshold the API accepts; small texts cross it
TOOL = {"type": "function", "name": "lookup", "description": "Look a word up.",
        "inputSchema": {"type": "object", "properties": {"word": {"type": "string"}}}}


def config(sim: Simulator, *, inline: bool = False, remote: str = "off", server_side: bool | None = None,
           limit: int = LIMIT, extra: Sequence[str] = ()) -> list[str]:
    """Overrides for a simulator provider with the given compaction capabilities and a small limit."""
    out = [*sim_overrides(sim.base_url, inline_compaction=inline, remote_compaction=remote),
           f"model_auto_compact_token_limit={limit}", *extra]
    if server_side is not None:
        out.append(f"features.server_side_compaction={'true' if server_side else 'false'}")
    return out


def text(label: str, n_bytes: int) -> list[Message]:
    """A `turn/start` input: one text of about `n_bytes` bytes starting with `label`."""
    body = label + " " + "lorem ipsum dolor sit amet " * (max(n_bytes - len(label), 0) // 27)
    return [{"type": "text", "text": body}]


def methods(events: Sequence[Message]) -> list[str]:
    return [event["method"] for event in events]


def of(events: Sequence[Message], method: str) -> list[Message]:
    return [event["params"] for event in events if event["method"] == method]


def items_completed(events: Sequence[Message], kind: str) -> list[Message]:
    return [p["item"] for p in of(events, "item/completed") if p["item"]["type"] == kind]


def input_texts(body: Message) -> list[str]:
    """The first text of every message in a request's input (what the model reads, in order)."""
    out = []
    for item in body["input"]:
        content = item.get("content")
        if item.get("type") == "message" and isinstance(content, list) and content:
            out.append(content[0].get("text", ""))
    return out


def input_types(body: Message) -> list[str]:
    return [item.get("type") if item.get("type") != "message" else f"message:{item['role']}" for item in body["input"]]


def responses_bodies(sim: Simulator) -> list[Message]:
    return [r.body for r in sim.requests_to("responses")]


async def stored_checkpoints(home: Path, thread_id: str) -> tuple[CheckpointRecord | None, list[bytes]]:
    """The latest checkpoint and the model-visible history as the store has them (server stopped)."""
    async with SqliteStore.open(home) as store:
        history = await store.load_history(thread_id)
        return await store.latest_checkpoint(thread_id), [data for _, data in history.entries]


def tool_answer(output: str = "an answer") -> Any:
    async def answer(message: Message) -> Message:
        return {"contentItems": [{"type": "inputText", "text": output}], "success": True}

    return answer


async def start_compaction(h: Harness, thread_id: str, *, timeout: float = 10) -> tuple[str, list[str]]:
    """`thread/compact/start`; returns the compaction turn's id once it started, and the live order of
    messages the client receives (methods, or "response" for answers), which keeps growing afterwards."""
    order: list[str] = []
    started: list[str] = []
    seen = anyio.Event()
    previous = h.client.on_message

    def record(message: Message) -> None:
        if previous is not None:
            previous(message)
        order.append(message.get("method") or "response")
        params = message.get("params") or {}
        if message.get("method") == "turn/started" and params.get("threadId") == thread_id:
            started.append(params["turn"]["id"])
            seen.set()

    h.client.on_message = record
    assert await h.client.request("thread/compact/start", {"threadId": thread_id}) == {}
    with anyio.fail_after(timeout):
        await seen.wait()
    return started[0], order


async def run_compaction(h: Harness, thread_id: str, *, timeout: float = 30) -> tuple[Message, list[Message]]:
    """A manual compaction from request to `turn/completed`: (the final turn, the turn's notifications)."""
    turn_id, _ = await start_compaction(h, thread_id)
    events = [event async for event in h.client.turn_events(turn_id, timeout=timeout)]
    return events[-1]["params"]["turn"], events


def assert_compaction_paid_then_estimated(earlier: Sequence[Message], events: Sequence[Message]) -> None:
    """As Codex counts a compaction: its request's usage joins the thread's total (which stood at the end of
    `earlier`), then the estimate of the new history is the last measurement — `totalTokens` alone — until a
    response measures it."""
    before = of(earlier, "thread/tokenUsage/updated")[-1]["tokenUsage"]["total"]
    [applied] = of(events, "thread/compaction/applied")
    paid, estimated = [u["tokenUsage"] for u in of(events, "thread/tokenUsage/updated")][:2]
    assert paid["last"]["totalTokens"] > 0
    assert paid["total"]["totalTokens"] == before["totalTokens"] + paid["last"]["totalTokens"]
    assert estimated["total"] == paid["total"]
    assert estimated["last"]["totalTokens"] == applied["tokensAfter"] and estimated["last"]["inputTokens"] == 0
