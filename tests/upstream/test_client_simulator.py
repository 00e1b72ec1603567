"""ResponsesClient against the real simulator on 127.0.0.1: requests, retries, compression and stream faults."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from server.simulator import FunctionCall, HttpError, Reasoning, Reply, Simulator, Text, Usage
from server.upstream import RetryNotice
from server.upstream import errors as e
from server.upstream.events import OutputItemDone, OutputTextDelta, ResponseCompleted, StreamEvent
from tests.upstream.conftest import SENTINEL_KEY, Sleeps, make_client, sim_provider, user_body

pytestmark = pytest.mark.anyio


async def collect(client: Any, body: dict[str, Any], **kwargs: Any) -> list[StreamEvent]:
    with anyio.fail_after(10):
        async with client.stream(body, **kwargs) as events:
            return [event async for event in events]


async def test_a_streamed_reply_yields_typed_events_and_ends_at_completed(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    sim.enqueue(
        Reply(
            output=[
                Reasoning(summary=["Plan"]),
                Text("Hello there", deltas=4),
                FunctionCall("shell", '{"cmd":"ls"}', "call_1"),
            ],
            usage=Usage(input_tokens=50, output_tokens=7, cached_tokens=10, reasoning_tokens=2),
        )
    )
    events = await collect(make_client(sim_provider(sim), http, sleeps), user_body())
    assert "".join(ev.delta for ev in events if isinstance(ev, OutputTextDelta)) == "Hello there"
    done = [ev.item for ev in events if isinstance(ev, OutputItemDone)]
    assert [item["type"] for item in done] == ["reasoning", "message", "function_call"]
    assert done[2]["call_id"] == "call_1" and done[2]["arguments"] == '{"cmd":"ls"}'
    assert isinstance(events[-1], ResponseCompleted) and events[-1].response.usage is not None
    usage = events[-1].response.usage
    assert (usage.input_tokens, usage.cached_tokens, usage.reasoning_tokens, usage.total_tokens) == (50, 10, 2, 57)


async def test_the_request_carries_auth_headers_query_params_and_the_body(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    provider = sim_provider(sim, query_params={"api-version": "2025-01"}, http_headers={"X-Team": "blue"})
    await collect(make_client(provider, http, sleeps), user_body("ping"))
    (request,) = sim.requests
    assert request.path == "/v1/responses" and request.query == "api-version=2025-01"
    assert request.headers["authorization"] == f"Bearer {SENTINEL_KEY}"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["x-team"] == "blue"
    assert "x-client-request-id" in request.headers
    assert request.headers["user-agent"].startswith("threadline/")  # not python-httpx's or aiohttp's
    assert "content-encoding" not in request.headers
    assert request.body == user_body("ping")


async def test_5xx_answers_are_retried_with_backoff_and_announced(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    sim.enqueue(HttpError.server_error(), HttpError.server_error(502), Reply.text("ok"))
    notices: list[RetryNotice] = []

    async def on_retry(notice: RetryNotice) -> None:
        notices.append(notice)

    events = await collect(make_client(sim_provider(sim), http, sleeps), user_body(), on_retry=on_retry)
    assert isinstance(events[-1], ResponseCompleted)
    assert [(n.attempt, n.max_attempts) for n in notices] == [(1, 4), (2, 4)]
    assert [type(n.error) for n in notices] == [e.UpstreamServerError, e.BadGateway]
    assert sleeps.delays == pytest.approx([0.2, 0.4])  # rand=0.5 → jitter factor exactly 1.0
    assert len(sim.requests) == 3


async def test_429_waits_as_long_as_retry_after_says(sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps) -> None:
    sim.enqueue(HttpError.rate_limited(retry_after="3"), HttpError.rate_limited(retry_after=None), Reply.text("ok"))
    await collect(make_client(sim_provider(sim), http, sleeps), user_body())
    assert sleeps.delays == pytest.approx([3.0, 0.02])  # the second has only "try again in 20ms" in its message


async def test_exhausted_retries_raise_with_the_last_error(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    sim.enqueue(*[HttpError.server_error()] * 3)
    client = make_client(sim_provider(sim, request_max_retries=2), http, sleeps)
    with pytest.raises(e.RetriesExhausted) as caught:
        await collect(client, user_body())
    assert isinstance(caught.value.last, e.UpstreamServerError)
    assert caught.value.codex_error_info() == {"responseTooManyFailedAttempts": {"httpStatusCode": 500}}
    assert len(sim.requests) == 3


@pytest.mark.parametrize(
    ("entry", "cls"),
    [
        (HttpError.bad_request("Invalid 'input'.", param="input"), e.BadRequest),
        (HttpError.unauthorized(), e.Unauthorized),
        (HttpError.usage_limit(), e.UsageLimitExceeded),
    ],
)
async def test_client_errors_are_not_retried(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps, entry: HttpError, cls: type[Exception]
) -> None:
    sim.enqueue(entry)
    with pytest.raises(cls):
        await collect(make_client(sim_provider(sim), http, sleeps), user_body())
    assert len(sim.requests) == 1 and sleeps.delays == []


async def test_a_context_window_overflow_is_reported_as_such(http: httpx.AsyncClient, sleeps: Sleeps) -> None:
    with Simulator(context_window=10) as sim:
        with pytest.raises(e.ContextWindowExceeded):
            await collect(make_client(sim_provider(sim), http, sleeps), user_body("x" * 200))


async def test_a_zstd_body_arrives_compressed_and_decodes_to_the_same_json(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    body = user_body("compress me " * 500)
    stream_client = make_client(sim_provider(sim, request_compression="zstd"), http, sleeps)
    with anyio.fail_after(10):
        async with stream_client.stream(body) as events:
            assert events.compressed
            _ = [event async for event in events]
    (request,) = sim.requests
    assert request.compressed and request.headers["content-encoding"] == "zstd"
    assert request.body == body
    assert request.raw_size < request.size / 5


async def test_a_refused_zstd_body_is_resent_plain_once_and_the_refusal_is_remembered(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    sim.refuse_zstd = True
    client = make_client(sim_provider(sim, request_compression="zstd"), http, sleeps)
    first = await collect(client, user_body("one"))
    assert isinstance(first[-1], ResponseCompleted)
    assert [r.compressed for r in sim.requests] == [True, False]
    assert client.compression_refused
    await collect(client, user_body("two"))
    assert [r.compressed for r in sim.requests] == [True, False, False]
    assert sleeps.delays == []  # the fallback is not a backoff retry


async def test_a_cut_stream_raises_stream_disconnected_after_the_events_it_delivered(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    sim.enqueue(Reply.text("partial answer", deltas=10, cut_after=5))
    seen: list[StreamEvent] = []
    with pytest.raises(e.StreamDisconnected) as caught, anyio.fail_after(10):
        async with make_client(sim_provider(sim), http, sleeps).stream(user_body()) as events:
            async for event in events:
                seen.append(event)
    # Events 0-4 were sent; #3 (content_part.added) is not modelled and is skipped.
    assert [event.sequence_number for event in seen] == [0, 1, 2, 4]
    assert caught.value.retryable


async def test_a_stream_that_ends_without_completed_is_a_disconnect(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    sim.enqueue(Reply.text("no ending", end="eof"))
    with pytest.raises(e.StreamDisconnected, match="stream closed before response.completed"):
        await collect(make_client(sim_provider(sim), http, sleeps), user_body())


async def test_a_stalled_stream_raises_idle_timeout(sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps) -> None:
    reply = Reply.text("slow", stall_after=3)
    sim.enqueue(reply)
    client = make_client(sim_provider(sim, stream_idle_timeout_ms=100), http, sleeps)
    with pytest.raises(e.IdleTimeout, match="idle timeout"):
        await collect(client, user_body())
    assert reply.gate.reached


async def test_a_malformed_event_is_skipped_and_the_stream_still_completes(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    sim.enqueue(Reply.text("fine", malformed_after=3))
    client = make_client(sim_provider(sim), http, sleeps)
    with anyio.fail_after(10):
        async with client.stream(user_body()) as events:
            received = [event async for event in events]
            assert events.malformed_events == 1
    assert isinstance(received[-1], ResponseCompleted)
    assert "skipping malformed SSE event" in caplog.text


@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        (Reply.text("x", end="failed", error_code="server_error"), e.ResponseFailed),
        (Reply.text("x", end="failed", error_code="context_length_exceeded"), e.ContextWindowExceeded),
        (Reply.text("x", end="incomplete", incomplete_reason="max_output_tokens"), e.ResponseIncomplete),
        (Reply.text("x", end="error", error_code="server_is_overloaded"), e.ResponseFailed),
    ],
)
async def test_terminal_failure_events_raise_their_errors(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps, reply: Reply, cls: type[Exception]
) -> None:
    sim.enqueue(reply)
    with pytest.raises(cls):
        await collect(make_client(sim_provider(sim), http, sleeps), user_body())


async def test_interrupting_a_turn_closes_the_upstream_response(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    reply = Reply.text("long", stall_after=4, stall_seconds=30)
    sim.enqueue(reply)
    client = make_client(sim_provider(sim), http, sleeps)
    opened: list[Any] = []
    first_event = anyio.Event()
    scope = anyio.CancelScope()

    async def consume() -> None:
        with scope:
            async with client.stream(user_body()) as events:
                opened.append(events)
                async for _ in events:
                    first_event.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await first_event.wait()
            assert await reply.gate.wait_reached_async(5)  # the server is now holding the stream open
            scope.cancel()
    assert scope.cancelled_caught
    assert opened[0]._response.is_closed


async def test_compact_returns_the_output_items_and_is_never_compressed(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    client = make_client(sim_provider(sim, request_compression="zstd"), http, sleeps)
    body = user_body("remember this")
    body["input"].append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]})
    with anyio.fail_after(10):
        output = (await client.compact(body)).output
    assert [item["type"] for item in output] == ["message", "compaction"]
    (request,) = sim.requests
    assert request.path == "/v1/responses/compact" and not request.compressed
    assert request.headers["accept"] == "application/json"


async def test_a_missing_compact_endpoint_raises_its_own_error(http: httpx.AsyncClient, sleeps: Sleeps) -> None:
    with Simulator(compact_endpoint=False) as sim:
        with pytest.raises(e.CompactEndpointMissing), anyio.fail_after(10):
            await make_client(sim_provider(sim), http, sleeps).compact(user_body())


async def test_per_request_headers_are_sent_but_cannot_replace_the_credential(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    client = make_client(sim_provider(sim), http, sleeps)
    extra = {"x-codex-turn-state": "ts-1", "authorization": "Bearer attacker", "Accept": "text/html"}
    with anyio.fail_after(10):
        async with client.stream(user_body(), headers=extra) as events:
            _ = [event async for event in events]
        await client.compact(user_body(), headers={"x-codex-turn-state": "ts-1"})
    stream_request, compact_request = sim.requests
    assert stream_request.headers["x-codex-turn-state"] == compact_request.headers["x-codex-turn-state"] == "ts-1"
    assert stream_request.headers["authorization"] == f"Bearer {SENTINEL_KEY}"
    assert stream_request.headers["accept"] == "text/event-stream"


async def test_a_completed_stream_hands_its_connection_back_for_the_next_request(
    sim: Simulator, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    sim.enqueue(Reply(output=[Text("one", deltas=2)]), Reply(output=[Text("two", deltas=2)]))
    client = make_client(sim_provider(sim), http, sleeps)
    for _ in range(2):
        with anyio.fail_after(10):
            async with client.stream(user_body()) as events:
                async for event in events:
                    if isinstance(event, ResponseCompleted):
                        break  # as the turn loop does: the stream is closed right at its last event
    first, second = sim.requests
    assert first.connection == second.connection != 0
