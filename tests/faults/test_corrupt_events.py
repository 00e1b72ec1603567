"""Damaged upstream events end to end, in memory against the simulator: a delta cut between the halves of a
surrogate pair, an invalid UTF-8 byte, an `output_item.done` that cannot be decoded or arrives damaged, a delta
lost on the way.

In every case the client, the store and the model agree: the concatenated `item/agentMessage/delta` text equals
the item's completed text, `thread/read` shows what the client saw, and the next request replays that same text
(a `partial_answer` item excepted: it is never sent to the model); a tool call the model made is run; and the
turn ends with exactly one `turn/completed` (checked on every turn by `run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.simulator import FunctionCall, Garble, Reply, Simulator, Text
from tests.faults.conftest import SimConfig
from tests.faults.support import (
    LOOKUP_TOOL,
    Message,
    assert_calls_paired,
    assert_persisted_as_seen,
    completed_items,
    new_thread,
    run,
)
from tests.harness import SIM_ENV, running_server

pytestmark = pytest.mark.anyio

EMOJI = "\U0001f600"


def deltas(events: list[Message]) -> str:
    return "".join(e["params"]["delta"] for e in events if e["method"] == "item/agentMessage/delta")


def messages(events: list[Message]) -> list[Message]:
    return [item for item in completed_items(events) if item["type"] == "agentMessage"]


def replayed_assistant(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry for entry in body["input"] if entry.get("type") == "message" and entry.get("role") == "assistant"]


def replayed_texts(body: dict[str, Any]) -> list[str]:
    return ["".join(part.get("text", "") for part in entry["content"]) for entry in replayed_assistant(body)]


async def test_an_emoji_split_into_two_lone_surrogate_deltas_is_shown_stored_and_replayed_whole(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    # A server that escapes like Python's json.dumps and cuts text by UTF-16 units sends "\ud83d" then "\ude00":
    # neither half is valid Unicode alone, so each delta used to be dropped and the client saw "Done  see you".
    answer = Text.from_deltas(["Done ", "\ud83d", "\ude00", " see you"])
    with Simulator() as sim:
        sim.enqueue(Reply(output=[answer], ascii_only=True), Reply.text("ok"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "completed"
            assert deltas(events) == f"Done {EMOJI} see you" == messages(events)[0]["text"]
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await run(h.client, thread_id, "again")
            assert replayed_texts(sim.requests[-1].body) == [f"Done {EMOJI} see you"]
            assert len(sim.requests) == 2  # no retry: nothing was lost


async def test_an_invalid_utf8_byte_in_the_answer_is_one_replacement_character_everywhere(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    with Simulator() as sim:
        # The byte is in the delta and in every event that repeats the text (item done, response.completed).
        sim.enqueue(Reply(output=[Text.from_deltas(["p", "q@@", "r"])], garble=[Garble(replace=(b"@@", b"\xff"))]),
                    Reply.text("ok"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert turn["status"] == "completed"
            assert deltas(events) == "pq\ufffdr" == messages(events)[0]["text"]
            assert messages(events)[0]["phase"] is None
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await run(h.client, thread_id, "again")
            assert replayed_texts(sim.requests[-1].body) == ["pq\ufffdr"]


async def test_a_message_whose_output_item_done_cannot_be_decoded_completes_from_response_completed(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    garble = Garble(event="response.output_item.done", item="message", truncate=True)
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("The answer is forty-two.", 3)], garble=[garble]), Reply.text("ok"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "question one")
            (message,) = messages(events)
            assert message["text"] == "The answer is forty-two." and message["phase"] is None  # not a partial answer
            assert turn["items"] == [message]  # turn/completed carries the answer, as for any completed turn
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await run(h.client, thread_id, "what did you just say?")
            assert replayed_texts(sim.requests[-1].body) == ["The answer is forty-two."]


async def test_a_message_whose_output_item_done_arrives_damaged_is_replayed_from_its_intact_copy(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    # One bad byte in the item's `status`: repaired, it would read "completed\ufffd", an enum the API refuses as
    # input. response.completed lists the item intact, and that copy is the one kept.
    garble = Garble(event="response.output_item.done", item="message",
                    replace=(b'"status":"completed"', b'"status":"completed\xff"'))
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("The answer is forty-two.", 3)], garble=[garble]), Reply.text("ok"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "question one")
            assert deltas(events) == "The answer is forty-two." == messages(events)[0]["text"]
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await run(h.client, thread_id, "what did you just say?")
            (replayed,) = replayed_assistant(sim.requests[-1].body)
            assert replayed["status"] == "completed"
            assert replayed["content"][0]["text"] == "The answer is forty-two."


async def test_a_function_call_whose_output_item_done_cannot_be_decoded_is_still_run(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    asked: list[Message] = []

    async def lookup(message: Message) -> Any:
        asked.append(message)
        return {"contentItems": [{"type": "inputText", "text": "found"}], "success": True}

    garble = Garble(event="response.output_item.done", item="function_call", truncate=True)
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("Let me look.", 2), FunctionCall("lookup", '{"q": "w"}', call_id="call_1")],
                          garble=[garble]),
                    Reply.text("Found it."))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = lookup
            thread_id = await new_thread(h.client, dynamicTools=[LOOKUP_TOOL])
            turn, events = await run(h.client, thread_id, "look it up")
            assert turn["status"] == "completed"
            assert [(m["params"]["callId"], m["params"]["arguments"]) for m in asked] == [("call_1", {"q": "w"})]
            assert [i["type"] for i in completed_items(events)] == ["userMessage", "agentMessage", "dynamicToolCall",
                                                                    "agentMessage"]
            assert len(sim.requests) == 2
            follow_up = sim.requests[1].body["input"]
            assert_calls_paired(follow_up)
            assert [e["type"] for e in follow_up][-2:] == ["function_call", "function_call_output"]
            await assert_persisted_as_seen(h.client, thread_id, turn, events)


async def test_a_delta_lost_mid_message_completes_what_was_shown_as_partial_and_sends_the_message_whole(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    # Shown deltas cannot be taken back, and "Done  see you" is not the start of the final text: the shown item
    # ends as it was seen (a partial answer, never sent to the model), and the message follows as its own item.
    garble = Garble(event="response.output_text.delta", containing=b"LOST", truncate=True)
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text.from_deltas(["Done ", "LOST", " see you"])], garble=[garble]),
                    Reply.text("ok"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")  # checks each item's deltas spell its text
            shown, whole = messages(events)
            assert (shown["text"], shown["phase"]) == ("Done  see you", "partial_answer")
            assert (whole["text"], whole["phase"]) == ("Done LOST see you", None)
            assert turn["status"] == "completed" and turn["items"] == [whole]
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await run(h.client, thread_id, "again")
            assert replayed_texts(sim.requests[-1].body) == ["Done LOST see you"]


async def test_a_message_no_event_completes_is_completed_as_shown_and_replayed_as_shown(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    # Its output_item.done is lost and response.completed lists nothing (as some compatible servers send it):
    # what the client was shown is all there is, so that is what the model is sent back.
    garble = Garble(event="response.output_item.done", item="message", truncate=True)
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("Shown in full.", 3)], garble=[garble], completed_output=False),
                    Reply.text("ok"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            (message,) = messages(events)
            assert (message["text"], message["phase"]) == ("Shown in full.", None)
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await run(h.client, thread_id, "again")
            assert replayed_texts(sim.requests[-1].body) == ["Shown in full."]


async def test_a_message_settled_late_does_not_displace_the_last_answer_in_turn_completed(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    garble = Garble(event="response.output_item.done", containing=b"First thoughts.", truncate=True)
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("First thoughts.", 2), Text("The answer.", 2)], garble=[garble]),
                    Reply.text("ok"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            # The first message completes at response.completed, after the second: the answer is still the second.
            assert [m["text"] for m in messages(events)] == ["The answer.", "First thoughts."]
            assert [i["text"] for i in turn["items"]] == ["The answer."]
            await assert_persisted_as_seen(h.client, thread_id, turn, events)
            await run(h.client, thread_id, "again")
            assert replayed_texts(sim.requests[-1].body) == ["First thoughts.", "The answer."]  # the response's order


async def _looked_up_once(tmp_path: Path, sim_config: SimConfig, garble: list[Garble]) -> None:
    """A message then a call to the client's tool, under `garble`: the call runs once, each item shows once, and the
    follow-up request carries the call and its output once each."""
    asked: list[Message] = []

    async def lookup(message: Message) -> Any:
        asked.append(message)
        return {"contentItems": [{"type": "inputText", "text": "found"}], "success": True}

    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("Let me look.", 2), FunctionCall("lookup", '{"q": "w"}', call_id="call_1")],
                          garble=garble),
                    Reply.text("Found it."))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            h.client.handlers["item/tool/call"] = lookup
            thread_id = await new_thread(h.client, dynamicTools=[LOOKUP_TOOL])
            turn, events = await run(h.client, thread_id, "look it up")
            assert turn["status"] == "completed" and len(asked) == 1
            assert [i["type"] for i in completed_items(events)] == ["userMessage", "agentMessage", "dynamicToolCall",
                                                                    "agentMessage"]
            follow_up = sim.requests[1].body["input"]
            assert_calls_paired(follow_up)
            assert [e["type"] for e in follow_up].count("function_call") == 1
            assert len(replayed_assistant(sim.requests[1].body)) == 1
            await assert_persisted_as_seen(h.client, thread_id, turn, events)


async def test_a_function_call_whose_done_arrives_with_a_damaged_id_runs_once(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    await _looked_up_once(tmp_path, sim_config, [Garble(event="response.output_item.done", item="function_call",
                                                        replace=(b'"id":"fc_', b'"id":"fc_\xff'))])


async def test_a_server_that_names_every_item_afresh_in_response_completed_shows_and_runs_each_once(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    # mistral.rs and other compatible servers mint new ids for the same items in response.completed's list.
    await _looked_up_once(tmp_path, sim_config, [Garble(event="response.completed", replace=(b"_sim_", b"_fresh_"))])


async def test_a_message_named_differently_in_every_event_is_shown_stored_and_replayed_once(
    tmp_path: Path, sim_config: SimConfig
) -> None:
    renamed = [Garble(event="response.output_item.done", replace=(b"msg_sim_", b"msg_B_")),
               Garble(event="response.completed", replace=(b"msg_sim_", b"msg_C_"))]
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Text("Hello there.", 3)], garble=renamed), Reply.text("ok"))
        async with running_server(tmp_path, overrides=sim_config(sim.base_url), env=SIM_ENV) as h:
            thread_id = await new_thread(h.client)
            turn, events = await run(h.client, thread_id, "hi")
            assert [m["text"] for m in messages(events)] == ["Hello there."] == [deltas(events)]
            await run(h.client, thread_id, "again")
            assert replayed_texts(sim.requests[-1].body) == ["Hello there."]
