"""Turn endings with a client that reads slowly, or stopped reading: nothing the turn announces is lost or shown
twice, no input is lost, and a shutdown still ends. Driven on a session with a fake store and fake clients
(``tests.fake_session``), where an interrupt can be made to land at a chosen send."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from server.sessions.registry import SessionRegistry
from server.sessions.turn import ActiveTurn, run_turn
from server.store.batch import PutTurn
from tests.fake_session import FakeStore, Peer, make_session

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
