"""Scripting the simulator: FIFO answers, HTTP errors, stream faults, and the request log."""

from __future__ import annotations

import httpx
import msgspec
import pytest
import zstandard

from server.simulator import FunctionCall, Garble, HttpError, Reply, Simulator, Text
from server.upstream.sse import parse_stream
from tests.simulator.conftest import done_items, post_stream, user


def test_the_default_reply_echoes_the_last_user_message(sim: Simulator, http: httpx.Client) -> None:
    events = post_stream(http, sim, {"model": "m", "input": [user("first"), user("tell me about otters")]})
    (item,) = done_items(events)
    assert "tell me about otters" in item["content"][0]["text"]
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == item["content"][0]["text"]


def test_scripted_answers_are_served_in_order_then_the_default_resumes(sim: Simulator, http: httpx.Client) -> None:
    sim.enqueue(Reply.text("one"), HttpError.server_error(), Reply.text("two"))
    body = {"model": "m", "input": [user("hi")]}
    assert done_items(post_stream(http, sim, body))[0]["content"][0]["text"] == "one"
    assert http.post(sim.base_url + "/responses", json=body).status_code == 500
    assert done_items(post_stream(http, sim, body))[0]["content"][0]["text"] == "two"
    assert "hi" in done_items(post_stream(http, sim, body))[0]["content"][0]["text"]
    assert sim.pending() == 0


def test_http_errors_carry_their_status_body_and_headers(sim: Simulator, http: httpx.Client) -> None:
    sim.enqueue(HttpError.rate_limited(retry_after="2"))
    answer = http.post(sim.base_url + "/responses", json={"input": []})
    assert answer.status_code == 429 and answer.headers["retry-after"] == "2"
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"
    assert "try again in" in answer.json()["error"]["message"]


def test_thousands_of_small_deltas_stream_in_order(sim: Simulator, http: httpx.Client) -> None:
    sim.enqueue(Reply(output=[Text.words(5000)]))
    events = post_stream(http, sim, {"model": "m", "input": [user("bench")]})
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) == 5000 and deltas[4999] == "word4999 "


def test_usage_is_reported_as_scripted_or_estimated(sim: Simulator, http: httpx.Client) -> None:
    from server.simulator import Usage

    sim.enqueue(Reply.text("x", usage=Usage(input_tokens=9, output_tokens=3, cached_tokens=4, reasoning_tokens=1)))
    usage = post_stream(http, sim, {"model": "m", "input": [user("hi")]})[-1]["response"]["usage"]
    assert usage["input_tokens_details"]["cached_tokens"] == 4 and usage["total_tokens"] == 12
    estimated = post_stream(http, sim, {"model": "m", "input": [user("y" * 400)]})[-1]["response"]["usage"]
    assert estimated["input_tokens"] > 100


def test_a_cut_stream_closes_the_connection_mid_body(sim: Simulator, http: httpx.Client) -> None:
    sim.enqueue(Reply.text("abcdef", deltas=6, cut_after=4))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(sim.base_url + "/responses", json={"input": []})


def test_a_cut_after_the_last_event_still_cuts_before_the_body_ends(sim: Simulator, http: httpx.Client) -> None:
    total = len(post_stream(http, sim, {"input": user("hi")}))
    sim.enqueue(Reply(cut_after=total))  # every event, response.completed included, then no terminating chunk
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(sim.base_url + "/responses", json={"input": user("hi")})


def test_a_malformed_message_is_inserted_without_a_sequence_number(sim: Simulator, http: httpx.Client) -> None:
    sim.enqueue(Reply.text("ok", malformed_after=2))
    text = http.post(sim.base_url + "/responses", json={"input": []}).text
    assert text.count('"delta": \n') == 1
    events = post_stream(http, sim, {"input": []})  # the next (default) reply is clean again
    assert events[-1]["type"] == "response.completed"


def test_a_stall_holds_the_stream_until_released(sim: Simulator) -> None:
    reply = Reply.text("later", stall_after=2)
    sim.enqueue(reply)
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", sim.base_url + "/responses", json={"input": []}) as answer,
    ):
        lines = answer.iter_lines()
        assert next(lines).startswith("event: response.created")
        assert reply.gate.wait_reached(5)
        reply.gate.release()
        assert any('"response.completed"' in line for line in lines)


def test_stop_releases_a_stalled_stream_and_returns() -> None:
    sim = Simulator().start()
    reply = Reply.text("never", stall_after=1, stall_seconds=60)
    sim.enqueue(reply)
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", sim.base_url + "/responses", json={"input": []}) as answer,
    ):
        next(answer.iter_lines())
        assert reply.gate.wait_reached(5)
        sim.stop()  # must not wait the 60 s out
    sim.stop()  # idempotent


def test_the_request_log_records_headers_sizes_and_the_decoded_zstd_body(sim: Simulator, http: httpx.Client) -> None:
    raw = b'{"model":"m","input":"' + b"z" * 5000 + b'"}'
    packed = zstandard.compress(raw, 3)
    headers = {"Content-Encoding": "zstd", "Content-Type": "application/json", "Authorization": "Bearer k"}
    assert http.post(sim.base_url + "/responses?x=1", content=packed, headers=headers).status_code == 200
    (record,) = sim.requests
    assert (record.method, record.path, record.query, record.status) == ("POST", "/v1/responses", "x=1", 200)
    assert record.headers["authorization"] == "Bearer k"
    assert record.compressed and record.raw_size == len(packed) and record.size == len(raw)
    assert record.body["input"] == "z" * 5000


def test_refuse_zstd_answers_invalid_json(sim: Simulator, http: httpx.Client) -> None:
    sim.refuse_zstd = True
    packed = zstandard.compress(b'{"input": []}', 3)
    answer = http.post(sim.base_url + "/responses", content=packed, headers={"Content-Encoding": "zstd"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"
    assert http.post(sim.base_url + "/responses", json={"input": []}).status_code == 200


def test_unknown_paths_and_bad_json_get_api_style_errors(sim: Simulator, http: httpx.Client) -> None:
    assert http.post(sim.base_url + "/chat/completions", json={}).status_code == 404
    assert http.get(sim.base_url + "/models").status_code == 404
    bad = http.post(sim.base_url + "/responses", content=b"{nope", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"


def test_a_garble_damages_only_the_events_it_matches(sim: Simulator, http: httpx.Client) -> None:
    sim.enqueue(Reply(output=[Text.from_deltas(["p", "@@q"]), FunctionCall("lookup", "{}")], garble=[
        Garble(replace=(b"@@", b"\xff")),
        Garble(event="response.output_item.done", item="function_call", truncate=True),
    ]))
    messages = parse_stream(http.post(sim.base_url + "/responses", json={"input": []}).content)
    undecodable = []
    for message in messages:
        try:
            msgspec.json.decode(message.data)
        except msgspec.DecodeError:
            undecodable.append(message)
    # Every event holding the text (a delta, the text and part dones, the item done, response.completed) carries the
    # invalid byte, and the call's output_item.done is cut in half; the other events are intact.
    assert [m.event for m in undecodable] == [
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.output_item.done", "response.completed"]
    cut = undecodable.pop(4)
    assert b'"fc_sim_' in cut.data and not cut.data.endswith(b"}") and b"\xff" not in cut.data
    assert all(b"\xff" in m.data for m in undecodable)


def test_ascii_only_escapes_every_non_ascii_character_and_can_send_half_a_surrogate_pair(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.enqueue(Reply(output=[Text.from_deltas(["Done ", "\ud83d", "\ude00", " é"])], ascii_only=True))
    messages = parse_stream(http.post(sim.base_url + "/responses", json={"input": []}).content)
    assert all(m.data.isascii() for m in messages)
    deltas = [m.data for m in messages if m.event == "response.output_text.delta"]
    # Each half of the pair goes as a lone surrogate escape, which no UTF-8 decoder (msgspec's included) accepts.
    assert [rb'"delta":"\ud83d"' in deltas[1], rb'"delta":"\ude00"' in deltas[2]] == [True, True]
    assert [msgspec.json.decode(d)["delta"] for d in (deltas[0], deltas[3])] == ["Done ", " \u00e9"]
    done = next(msgspec.json.decode(m.data) for m in messages if m.event == "response.output_item.done")
    assert done["item"]["content"][0]["text"] == "Done \U0001f600 é"  # a whole pair: escaped, and valid
