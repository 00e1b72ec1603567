"""Upstream faults end to end, in memory against the simulator: 429, 5xx, cut streams, stalls, malformed SSE.

In every case: exactly one `turn/completed`, `thread/read` shows the turn as the client saw it, and the same
thread serves the next turn (issue 4, item 8).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from server.simulator import Gate, HttpError, Reasoning, Reply, Simulator, Text
from tests.faults.conftest import SimConfig
from tests.faults.support import (
    Message,
    assert_persisted_as_seen,
    assert_serves_next_turn,
    completed_items,
    methods,
    new_thread,
    read_turns,
    run,
    user_texts,
)
from tests.harness import SIM_ENV, running_server

pytestmark = pytest.mark.anyio

ANSWER = "The whole answer, streamed in several pieces."


def _retries(events: list[dict]) -> list[dict]:
    return [e["params"] for e in events if e["method"] == "error"]


async def test_a_429_with_retry_after_is_waited_out_then_the_turn_completes(tmp_path: Path, sim_config: SimConfig) -> None:
    with Simulator() as sim:
        sim.enqueue(HttpError.rate_limited(retry_after="0.5", message="Rate limit reached."), Reply.text(ANSWER, deltas=4))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            began = time.monotonic()
            turn, events = await run(h.client, thread_id, "hi")
            assert time.monotonic() - began >= 0.5, "Retry-After was not honoured"
            assert turn["status"] == "completed" and turn["error"] is None
            # The wait was the server's to set and may be long, so it is announced (Codex fails a 429 at once).
            (retry,) = _retries(events)
            assert retry["willRetry"] is True and retry["turnId"] == turn["id"]
            assert retry["error"]["codexErrorInfo"] == {"responseStreamDisconnected": {"httpStatusCode": 429}}
            assert [i["type"] for i in completed_items(events)] == ["userMessage", "agentMessage"]
            assert completed_items(events)[-1]["text"] == ANSWER
            assert len(sim.requests) == 2
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await assert_serves_next_turn(h.client, sim, thread_id)


async def test_500s_are_retried_silently_then_the_turn_completes(tmp_path: Path, sim_config: SimConfig) -> None:
    # Codex 0.163.0, run on the same script, retries a 500 and a 502 before the stream opens without any
    # `error` notification; a client sees only the completed turn.
    with Simulator() as sim:
        sim.enqueue(HttpError.server_error(), HttpError.server_error(502), Reply.text(ANSWER))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "completed" and _retries(events) == []
            assert completed_items(events)[-1]["text"] == ANSWER and len(sim.requests) == 3
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await assert_serves_next_turn(h.client, sim, thread_id)


async def test_a_503_that_sets_retry_after_is_announced_because_the_server_chose_the_wait(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    unavailable = HttpError.api_error(503, "Overloaded.", type="server_error", headers={"Retry-After": "0.2"})
    with Simulator() as sim:
        sim.enqueue(unavailable, Reply.text(ANSWER))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "completed"
            (retry,) = _retries(events)
            assert retry["willRetry"] is True and retry["turnId"] == turn["id"]
            assert retry["error"]["codexErrorInfo"] == {"responseStreamDisconnected": {"httpStatusCode": 503}}
            assert len(sim.requests) == 2


async def test_a_429_that_names_no_wait_is_retried_on_our_own_backoff_silently(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    with Simulator() as sim:
        sim.enqueue(HttpError.rate_limited(retry_after=None, message="Rate limit reached."), Reply.text(ANSWER))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "completed" and _retries(events) == []
            assert completed_items(events)[-1]["text"] == ANSWER and len(sim.requests) == 2


async def test_500s_past_the_retry_limit_fail_the_turn_with_codex_error_info(tmp_path: Path, sim_config: SimConfig) -> None:
    with Simulator() as sim:
        sim.enqueue(*[HttpError.server_error()] * 3)
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "failed"
            assert turn["error"]["codexErrorInfo"] == {"responseTooManyFailedAttempts": {"httpStatusCode": 500}}
            assert "retry limit" in turn["error"]["message"]
            assert len(sim.requests) == 3
            kept = await assert_persisted_as_seen(h.client, thread_id, turn, events)
            assert [i["type"] for i in kept["items"]] == ["userMessage"]
            body = await assert_serves_next_turn(h.client, sim, thread_id)
            # The failed turn's question stays in the model's history; nothing of an answer was invented.
            assert user_texts(body["input"]) == ["hi", "are you still there?"]


async def test_a_failed_turn_announces_its_error_with_will_retry_false_before_turn_completed(tmp_path: Path, sim_config: SimConfig) -> None:
    # Codex 0.163.0 (tests/schema/fixtures/codex-0.163.0-observed.jsonl) sends the final error as an `error`
    # notification with willRetry false, then turn/completed {failed} carrying the same TurnError.
    with Simulator() as sim:
        sim.enqueue(*[HttpError.server_error()] * 3)
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            final = [r for r in _retries(events) if r["willRetry"] is False]
            assert len(final) == 1 and final[0]["error"] == turn["error"]
            assert methods(events)[-2:] == ["error", "turn/completed"]


async def test_a_stream_cut_mid_item_is_retried_and_the_retry_completes(tmp_path: Path, sim_config: SimConfig) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Reasoning(summary=["Planning."]), Text(ANSWER, 8)], cut_after=12),
                    Reply(output=[Reasoning(summary=["Planning."]), Text(ANSWER, 8)]))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "completed"
            (retry,) = _retries(events)
            assert retry["willRetry"] is True
            assert retry["error"]["codexErrorInfo"] == {"responseStreamDisconnected": {"httpStatusCode": None}}
            messages = [i for i in completed_items(events) if i["type"] == "agentMessage"]
            assert messages[-1]["text"] == ANSWER
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            body = await assert_serves_next_turn(h.client, sim, thread_id)
            # The model's history holds the retry's answer once, and nothing of the broken attempt.
            assert user_texts(body["input"]) == ["hi", ANSWER, "are you still there?"]


async def test_a_stream_cut_keeps_what_it_showed_as_a_partial_answer_and_the_retry_as_the_answer(
        tmp_path: Path, sim_config: SimConfig) -> None:
    # Our choice: every item/started gets its item/completed, and thread/read mirrors what the client saw. A message
    # cut short is therefore kept with the text it showed, marked `partial_answer`, so no client (the SDK's
    # final_response included) takes it for the answer; none of it reaches the model's history.
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text(ANSWER, 8)], cut_after=6), Reply(output=[Text(ANSWER, 8)]))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "completed"
            (kept,) = await read_turns(h.client, thread_id)
            messages = [i for i in kept["items"] if i["type"] == "agentMessage"]
            assert [m["phase"] for m in messages] == ["partial_answer", None]
            assert ANSWER.startswith(messages[0]["text"]) and messages[0]["text"] != ANSWER
            assert messages[1]["text"] == ANSWER
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            body = await assert_serves_next_turn(h.client, sim, thread_id)
            assert user_texts(body["input"]) == ["hi", ANSWER, "are you still there?"]


async def test_a_stream_cut_on_every_attempt_fails_the_turn_after_stream_max_retries(tmp_path: Path, sim_config: SimConfig) -> None:
    with Simulator() as sim:
        sim.enqueue(*[Reply(output=[Text(ANSWER, 8)], cut_after=6) for _ in range(3)])
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "failed"
            assert turn["error"]["codexErrorInfo"] == {"responseStreamDisconnected": {"httpStatusCode": None}}
            assert [r["willRetry"] for r in _retries(events)][:2] == [True, True] and len(sim.requests) == 3
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            body = await assert_serves_next_turn(h.client, sim, thread_id)
            assert user_texts(body["input"]) == ["hi", "are you still there?"]  # no fragment of a broken attempt


async def test_an_idle_stall_times_out_is_retried_and_the_retry_completes(tmp_path: Path, sim_config: SimConfig) -> None:
    gate = Gate()
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text(ANSWER, 4)], stall_after=5, gate=gate, stall_seconds=10), Reply.text(ANSWER))
        overrides = sim_config(sim.base_url, stream_idle_timeout_ms=300)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            gate.release()
            assert gate.reached and turn["status"] == "completed"
            (retry,) = _retries(events)
            assert retry["willRetry"] is True and "idle" in (retry["error"]["additionalDetails"] or "")
            assert completed_items(events)[-1]["text"] == ANSWER
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await assert_serves_next_turn(h.client, sim, thread_id)


@asynccontextmanager
async def _stalling_on_every_attempt(
    tmp_path: Path, sim_config: SimConfig, stall_after: int
) -> AsyncIterator[tuple[Any, str, Message, list[Message], Simulator]]:
    """A turn whose every attempt stalls after `stall_after` events, past a 300 ms idle timeout."""
    gates = [Gate() for _ in range(3)]  # the first attempt and stream_max_retries (2) more
    with Simulator() as sim:
        sim.enqueue(*[Reply(output=[Text(ANSWER, 4)], stall_after=stall_after, gate=g, stall_seconds=10)
                      for g in gates])
        overrides = sim_config(sim.base_url, stream_idle_timeout_ms=300)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            try:
                turn, events = await run(h.client, thread_id, "hi")
            finally:
                for gate in gates:
                    gate.release()
            yield h, thread_id, turn, events, sim


async def test_an_idle_stall_on_every_attempt_fails_the_turn(tmp_path: Path, sim_config: SimConfig) -> None:
    async with _stalling_on_every_attempt(tmp_path, sim_config, stall_after=5) as (h, thread_id, turn, events, sim):
        assert turn["status"] == "failed"
        assert turn["error"]["codexErrorInfo"] == {"responseStreamDisconnected": {"httpStatusCode": None}}
        assert "idle" in turn["error"]["message"]
        await assert_persisted_as_seen(h.client, thread_id, turn, events)
        await assert_serves_next_turn(h.client, sim, thread_id)


async def test_an_attempt_that_streamed_no_text_leaves_no_empty_message(tmp_path: Path, sim_config: SimConfig) -> None:
    async with _stalling_on_every_attempt(tmp_path, sim_config, stall_after=4) as (_, _, turn, events, _):
        assert turn["status"] == "failed"
        assert [i for i in completed_items(events) if i["type"] == "agentMessage" and not i["text"]] == []


async def test_a_malformed_sse_event_is_skipped_and_the_answer_is_intact(tmp_path: Path, sim_config: SimConfig) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text(ANSWER, 5)], malformed_after=5))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "completed" and _retries(events) == []
            assert completed_items(events)[-1]["text"] == ANSWER and len(sim.requests) == 1
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await assert_serves_next_turn(h.client, sim, thread_id)


async def test_a_stream_that_ends_without_response_completed_is_retried(tmp_path: Path, sim_config: SimConfig) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text(ANSWER, 3)], end="eof"), Reply.text(ANSWER))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "completed" and [r["willRetry"] for r in _retries(events)] == [True]
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            body = await assert_serves_next_turn(h.client, sim, thread_id)
            assert user_texts(body["input"]).count(ANSWER) == 1


async def test_a_response_failed_the_server_marks_retryable_is_sent_again_after_its_hint(
        tmp_path: Path, sim_config: SimConfig) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("not this", end="failed", error_code="rate_limit_exceeded",
                               error_message="Rate limit reached. Please try again in 300ms."),
                    Reply.text("not this either", end="failed", error_code="server_error"), Reply.text(ANSWER))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            began = time.monotonic()
            turn, events = await run(h.client, thread_id, "hi")
            assert time.monotonic() - began >= 0.3, "the 'try again in' hint was not honoured"
            assert turn["status"] == "completed" and len(sim.requests) == 3
            assert [r["willRetry"] for r in _retries(events)] == [True, True]
            assert completed_items(events)[-1]["text"] == ANSWER
            await assert_persisted_as_seen(h.client, thread_id, turn, events)


async def test_a_response_failed_that_retrying_cannot_fix_fails_the_turn_at_once(
        tmp_path: Path, sim_config: SimConfig) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("no", end="failed", error_code="invalid_prompt", error_message="Bad prompt."))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "failed" and len(sim.requests) == 1
            assert [r["willRetry"] for r in _retries(events)] == [False]
            body = await assert_serves_next_turn(h.client, sim, thread_id)
            # The message it completed was shown, and no retry will replace it: the model is sent it too.
            assert user_texts(body["input"]) == ["hi", "no", "are you still there?"]


def _messages(body: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(role, text, status) of every message a request sends."""
    return [(e["role"], part["text"], e.get("status")) for e in body["input"] if e.get("type") == "message"
            for part in e["content"]]


async def test_an_answer_cut_short_by_max_output_tokens_stays_in_the_history_the_next_turn_answers_after(
        tmp_path: Path, sim_config: SimConfig) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("half an ans", deltas=2)], end="incomplete"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "incomplete")
            assert turn["status"] == "failed" and "max_output_tokens" in turn["error"]["message"]
            assert [i["text"] for i in completed_items(events) if i["type"] == "agentMessage"] == ["half an ans"]
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            await h.client.request("thread/resume", {"threadId": thread_id})  # it was stored, not only remembered
            body = await assert_serves_next_turn(h.client, sim, thread_id)
        # As Codex 0.163.0 sends it: the user's question, the part of the answer they saw (as the server marked
        # it), then their next message.
        assert _messages(body) == [("user", "incomplete", None), ("assistant", "half an ans", "incomplete"),
                                   ("user", "are you still there?", None)]


async def test_what_attempts_the_server_failed_showed_never_reaches_the_history_even_once_retries_run_out(
        tmp_path: Path, sim_config: SimConfig) -> None:
    # Kept on purpose (Codex 0.163.0 sends the text of every broken attempt, here "x" twice): a response the
    # server broke is not the model's answer, and the next request must not depend on how many retries were left.
    with Simulator() as sim:
        sim.enqueue(*[Reply.text("x", end="failed", error_code="server_error")] * 3)
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "failed" and len(sim.requests) == 3
            assert [r["willRetry"] for r in _retries(events)] == [True, True, False]
            body = await assert_serves_next_turn(h.client, sim, thread_id)
            assert user_texts(body["input"]) == ["hi", "are you still there?"]
