"""A turn's frame (``run_turn``) driven directly, on a session with a fake store and fake clients
(``tests.fake_session``), where an interrupt can be made to land at a chosen moment: with a client that reads
slowly, or stopped reading, nothing the turn announces is lost or shown twice, no input is lost, and a shutdown
still ends; a turn ended before its body ran keeps its input."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from protocol._generated.types import ReasoningThreadItem, TextUserInput
from server.sessions import turn as turn_module
from server.sessions.registry import SessionRegistry
from server.sessions.reply import Reply
from server.sessions.turn import ActiveTurn, PendingInput, run_turn
from server.store.batch import AppendHistory, PutItem, PutTurn
from tests.fake_session import FakeStore, Peer, make_session, sent

pytestmark = pytest.mark.anyio


async def _returns(turn: ActiveTurn) -> None:
    return None


def _stored_status(store: FakeStore, turn_id: str) -> str | None:
    statuses = [op.status for batch in store.writes for op in batch.ops
                if isinstance(op, PutTurn) and op.turn_id == turn_id]
    return statuses[-1] if statuses else None


async def test_shutdown_cuts_an_ending_held_in_its_last_words_and_the_turn_waiting_behind_it() -> None:
    store, peer = FakeStore(), Peer(stalls_at="turn/completed")  # the client stops reading at the first one
    registry = SessionRegistry()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(registry.run)
            session = make_session(store, peer)
            await registry.start(session)
            first = session.active = ActiveTurn(session, "t1")
            first.response_sent.set()
            session.start_task(run_turn, first, _returns)
            await first.done.wait()
            await anyio.wait_all_tasks_blocked()
            assert session.active is None and session.ending is first  # held at its turn/completed
            second = session.active = ActiveTurn(session, "t2", follows=first)  # a turn/start right behind it
            second.response_sent.set()
            session.start_task(run_turn, second, _returns)
            await registry.shutdown(grace=0.1)
            with anyio.move_on_after(1):
                await second.announced.wait()
            ended = first.announced.is_set(), second.announced.is_set()
            for turn in (first, second):  # a shutdown that cut nothing fails the test rather than hang it
                if turn.finish_scope is not None:
                    turn.finish_scope.cancel()
    assert ended == (True, True)
    assert (_stored_status(store, "t1"), _stored_status(store, "t2")) == ("completed", "interrupted")


async def test_a_turn_held_in_its_last_words_past_its_follower_leaves_the_followers_ending_in_place(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turn_module, "_FOLLOW_SECONDS", 0.05)  # the follower's bounded wait for its end runs out
    store, peer = FakeStore(), Peer(stalls_at="turn/completed")
    session = make_session(store, peer)
    running, answered = anyio.Event(), anyio.Event()

    async def runs(turn: ActiveTurn) -> None:
        running.set()
        await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run)
            first = session.active = ActiveTurn(session, "t1")
            first.response_sent.set()
            session.start_task(run_turn, first, _returns)
            await peer.stalled.wait()  # the first turn is held at its turn/completed
            second = session.active = ActiveTurn(session, "t2", follows=first)
            second.response_sent.set()
            session.start_task(run_turn, second, runs)
            await running.wait()
            second.interrupt_waiters.append((Reply(), answered))  # interrupted; the answer is not out yet
            second.scope.cancel()
            await second.done.wait()
            assert session.ending is second
            peer.reads_again.set()
            await first.announced.wait()
            still_ending, idle = session.ending, session.idle
            answered.set()
            await second.announced.wait()
            await session.stop()
    assert still_ending is second and not idle
    assert [params["turn"]["id"] for params in sent(peer, "turn/completed")] == ["t1", "t2"]


@pytest.mark.parametrize("slow", ["none", "one", "both"])
async def test_an_item_whose_write_an_interrupt_lands_in_is_announced_once_to_every_client(slow: str) -> None:
    store = FakeStore()
    fast_reader, other_reader = Peer(slow=slow == "both"), Peer(slow=slow != "none")
    session = make_session(store, fast_reader)
    session.subscribe(other_reader)
    item = ReasoningThreadItem(id="r1", summary=[], content=[])
    writing_it = anyio.Event()

    async def body(turn: ActiveTurn) -> None:
        await turn.item_started(item)
        store.gate = writing_it
        await turn.item_completed(item)
        await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run)
            turn = session.active = ActiveTurn(session, "t1")
            turn.response_sent.set()
            session.start_task(run_turn, turn, body)
            await store.writing.wait()
            turn.scope.cancel()  # turn/interrupt while the item is being written: it lands at the announcement
            writing_it.set()
            await turn.announced.wait()
            await session.stop()
    for peer in (fast_reader, other_reader):
        assert [method for method, _ in peer.seen if method.startswith(("item/", "turn/"))] == [
            "turn/started", "item/started", "item/completed", "turn/completed"]


def _texts(entries: list[dict]) -> list[str]:
    return [part["text"] for entry in entries for part in entry.get("content", [])]


async def test_steered_inputs_an_interrupt_lands_among_are_all_kept_stored_and_announced_once() -> None:
    store, peer = FakeStore(), Peer(slow=True)
    session = make_session(store, peer)

    async def body(turn: ActiveTurn) -> None:
        turn.pending_inputs += [PendingInput([TextUserInput(text="STEER ONE")]),
                                PendingInput([TextUserInput(text="STEER TWO")])]
        turn.scope.cancel()  # turn/interrupt arrives as the loop takes the steered input
        await turn.take_pending_inputs()
        await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run)
            turn = session.active = ActiveTurn(session, "t1")
            turn.response_sent.set()
            session.start_task(run_turn, turn, body)
            await turn.announced.wait()
            await session.stop()
    assert session.history is not None and _texts(session.history) == ["STEER ONE", "STEER TWO"]
    stored = [op.item_id for batch in store.writes for op in batch.ops if isinstance(op, PutItem)]
    started = [params["item"]["id"] for params in sent(peer, "item/started")]
    completed = [params["item"]["id"] for params in sent(peer, "item/completed")]
    assert len(stored) == 2 and started == completed == stored
    assert [_texts([{"content": params["item"]["content"]}]) for params in sent(peer, "item/completed")] == [
        ["STEER ONE"], ["STEER TWO"]]


@pytest.mark.parametrize("ephemeral", [False, True])
async def test_a_turn_ended_before_its_body_loaded_the_history_keeps_its_input(ephemeral: bool) -> None:
    store, peer = FakeStore(), Peer()
    session = make_session(store, peer, loaded=False, ephemeral=ephemeral)  # resumed, or new: nothing read yet

    async def never_runs(turn: ActiveTurn) -> None:
        await anyio.lowlevel.checkpoint()  # where the interrupt lands, at the latest (a real body's first await)
        raise AssertionError("the body of a turn interrupted before it began went on")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run)
            turn = session.active = ActiveTurn(session, "t1")
            turn.pending_inputs.append(PendingInput([TextUserInput(text="KEEP ME")]))  # its turn/start input
            turn.scope.cancel()  # a compaction right behind the turn/start
            turn.response_sent.set()
            session.start_task(run_turn, turn, never_runs)
            await turn.announced.wait()
            await session.stop()
    assert [params["item"]["type"] for params in sent(peer, "item/completed")] == ["userMessage"]
    assert sent(peer, "turn/completed")[0]["turn"]["status"] == "interrupted"
    if ephemeral:  # its history lives in memory only
        assert session.history is not None and _texts(session.history) == ["KEEP ME"]
    else:  # written on top of the stored history, for the next load to read back
        assert session.history is None
        written = [msgspec.json.decode(entry) for batch in store.writes for op in batch.ops
                   if isinstance(op, AppendHistory) for entry in op.entries]
        assert _texts(written) == ["KEEP ME"]


async def test_an_interrupt_of_a_turn_waiting_behind_a_held_ending_lands_at_once_and_its_start_still_follows() -> None:
    store, peer = FakeStore(), Peer(stalls_at="turn/completed")
    session = make_session(store, peer)

    async def never_runs(turn: ActiveTurn) -> None:
        raise AssertionError("the body of a turn interrupted before it began")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(session.run)
            first = session.active = ActiveTurn(session, "t1")
            first.response_sent.set()
            session.start_task(run_turn, first, _returns)
            await peer.stalled.wait()  # the first turn is held at its turn/completed
            second = session.active = ActiveTurn(session, "t2", follows=first)
            second.pending_inputs.append(PendingInput([TextUserInput(text="KEEP ME")]))
            second.response_sent.set()
            session.start_task(run_turn, second, never_runs)
            await anyio.wait_all_tasks_blocked()  # waiting to announce itself after the first one's end
            second.scope.cancel()  # turn/interrupt
            with anyio.move_on_after(1):
                await second.done.wait()  # ended and written: the interrupt is answered now
            ended_at_once = second.done.is_set() and _stored_status(store, "t2") == "interrupted"
            peer.reads_again.set()
            await second.announced.wait()
            await session.stop()
    assert ended_at_once
    shown = [(method, params.get("turn", params.get("item", {})).get("id", "")[:2]) for method, params in peer.seen
             if method.startswith(("turn/", "item/"))]
    assert [method for method, _ in shown] == ["turn/started", "turn/completed",  # t1
                                               "turn/started", "item/started", "item/completed", "turn/completed"]
    assert [turn_id for method, turn_id in shown if method.startswith("turn/")] == ["t1", "t1", "t2", "t2"]
    assert [params["item"]["content"][0]["text"] for params in sent(peer, "item/completed")] == ["KEEP ME"]
