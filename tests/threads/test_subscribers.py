"""A thread's subscribers, in memory: one request goes to every open subscriber under one id, the first reply
wins, and a waiting request is replayed, same id, to a peer that resumes the thread (as Codex does) — also
while nobody else can answer it. A request made while nobody at all is subscribed fails at once, as Codex's does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
import pytest

from server.errors import ConnectionClosed, RemoteError
from server.sessions.peer import NoSubscriber, Subscribers

pytestmark = pytest.mark.anyio


class FakePeer:
    """A client that records what it was asked and answers when the test says so."""

    def __init__(self, *, closed: bool = False) -> None:
        self.closed = closed
        self.asked: list[tuple[str, int | None]] = []
        self.resent: list[int] = []
        self.asked_event = anyio.Event()
        self._answer: anyio.Event = anyio.Event()
        self._reply: msgspec.Raw | BaseException | None = None

    async def notify(self, method: str, params: Any) -> None:  # not used here
        pass

    async def send_notification(self, method: str, frame: bytes) -> None:  # not used here
        pass

    async def resend(self, request_id: int, method: str, params: Any) -> None:
        self.resent.append(request_id)

    def answer(self, reply: msgspec.Raw | BaseException) -> None:
        self._reply = reply
        self._answer.set()

    async def request(self, method: str, params: Any, *, request_id: int | None = None) -> msgspec.Raw:
        if self.closed:
            raise ConnectionClosed(method)
        self.asked.append((method, request_id))
        self.asked_event.set()
        await self._answer.wait()
        if isinstance(self._reply, BaseException):
            raise self._reply
        assert self._reply is not None
        return self._reply


def _subscribed(*peers: FakePeer) -> Subscribers:
    subscribers = Subscribers()
    for peer in peers:
        subscribers.add(peer)
    return subscribers


@dataclass
class _Call:
    """One ``item/tool/call`` through ``subscribers``: what it returned (or the error reply) and its id."""

    subscribers: Subscribers
    out: list[Any] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)

    async def run(self) -> None:
        try:
            self.out.append(await self.subscribers.request("item/tool/call", {}, on_id=self.ids.append))
        except RemoteError as exc:
            self.out.append(exc)


async def test_every_open_subscriber_is_asked_under_one_id_and_the_first_reply_wins() -> None:
    first, second, gone = FakePeer(), FakePeer(), FakePeer(closed=True)
    call = _Call(_subscribed(first, second, gone))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.run)
            await first.asked_event.wait()
            await second.asked_event.wait()
            second.answer(msgspec.Raw(b'{"from":"second"}'))
    assert call.out == [msgspec.Raw(b'{"from":"second"}')]
    assert first.asked == second.asked == [("item/tool/call", call.ids[0])] and gone.asked == []


async def test_an_error_reply_wins_like_any_other() -> None:
    peer = FakePeer()
    call = _Call(_subscribed(peer))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.run)
            await peer.asked_event.wait()
            peer.answer(RemoteError(-32000, "the tool crashed"))
    assert isinstance(call.out[0], RemoteError) and call.out[0].message == "the tool crashed"


async def test_with_nobody_able_to_answer_the_request_waits_and_is_replayed_to_a_resuming_peer() -> None:
    leaving, later = FakePeer(), FakePeer()
    call = _Call(subscribers := _subscribed(leaving))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.run)
            await leaving.asked_event.wait()
            leaving.answer(ConnectionClosed("gone before it answered"))  # the client disconnected mid-call
            await anyio.wait_all_tasks_blocked()
            assert call.out == []  # no tool error is made up for the model: the call still waits
            subscribers.add(later)
            subscribers.replay(later)  # what thread/resume does once it has answered
            await later.asked_event.wait()
            later.answer(msgspec.Raw(b"{}"))
    assert call.out == [msgspec.Raw(b"{}")] and later.asked == [("item/tool/call", call.ids[0])]


async def test_a_waiting_request_ends_when_its_caller_is_cancelled() -> None:
    silent = FakePeer()
    call = _Call(_subscribed(silent))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.run)
            await silent.asked_event.wait()
            tg.cancel_scope.cancel()  # the turn was interrupted
    assert call.out == [] and silent.asked == [("item/tool/call", call.ids[0])]


async def test_with_no_open_subscriber_a_request_fails_at_once_and_is_never_sent() -> None:
    for subscribers in (_subscribed(), _subscribed(FakePeer(closed=True))):
        call = _Call(subscribers)
        with anyio.fail_after(5), pytest.raises(NoSubscriber):
            await call.run()
        assert call.ids == []  # no id was handed out: there is nothing to resolve, nor to replay


async def test_a_peer_asked_before_is_sent_the_same_request_again_when_it_resumes() -> None:
    peer = FakePeer()
    call = _Call(subscribers := _subscribed(peer))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.run)
            await peer.asked_event.wait()
            subscribers.replay(peer)  # e.g. an IDE window reloaded and resumed the thread
            await anyio.wait_all_tasks_blocked()
            assert peer.resent == call.ids and peer.asked == [("item/tool/call", call.ids[0])]
            peer.answer(msgspec.Raw(b"{}"))
    assert call.out == [msgspec.Raw(b"{}")]
    subscribers.replay(peer)  # nothing is waiting any more: nothing is sent
    assert peer.resent == call.ids


async def test_once_one_peer_answers_the_others_are_no_longer_waited_on() -> None:
    quick, slow = FakePeer(), FakePeer()
    call = _Call(_subscribed(quick, slow))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.run)
            await slow.asked_event.wait()
            quick.answer(msgspec.Raw(b'{"from":"quick"}'))
    assert call.out == [msgspec.Raw(b'{"from":"quick"}')]  # returned without the slow peer ever answering
    slow.answer(msgspec.Raw(b'{"from":"slow"}'))  # too late: nothing is waiting for it
    assert call.out == [msgspec.Raw(b'{"from":"quick"}')]


async def test_a_bug_in_a_peer_surfaces_as_itself_not_as_an_exception_group() -> None:
    peer = FakePeer()
    subscribers = _subscribed(peer)

    async def fail_when_asked() -> None:
        await peer.asked_event.wait()
        peer.answer(ValueError("cannot encode"))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(fail_when_asked)
            with pytest.raises(ValueError, match="cannot encode"):
                await subscribers.request("item/tool/call", {})


async def test_a_resuming_peer_gets_no_request_before_its_resume_answer_then_gets_it_once() -> None:
    resuming = FakePeer()
    subscribers = Subscribers()
    subscribers.add(resuming, hold_requests=True)  # subscribed, but its thread/resume answer has not gone out
    call = _Call(subscribers)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call.run)
            await anyio.wait_all_tasks_blocked()
            assert resuming.asked == [] and call.ids == []  # nobody was sent it yet: no id to resolve either
            subscribers.replay(resuming)
            await resuming.asked_event.wait()
            assert resuming.asked == [("item/tool/call", call.ids[0])] and resuming.resent == []
            resuming.answer(msgspec.Raw(b"{}"))
    assert call.out == [msgspec.Raw(b"{}")]
