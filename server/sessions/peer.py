"""How sessions reach clients without importing the rpc layer.

A :class:`ClientPeer` is anything that can send a notification and make a server→client request (the rpc
``Connection`` is one). :class:`Subscribers` is a thread's set of subscribed peers: notifications fan out to
all of them in order. A request goes, under one id, to every open subscriber and the first reply wins (an
error reply too); later replies find nothing waiting and are dropped. While it waits, :meth:`Subscribers.replay`
sends it again, same id, to a peer that resumes the thread — as Codex does — so a client that lost its state,
or one that subscribes only now, can still answer: a request sent to a client that is gone waits until someone
answers or the turn is interrupted (a shutdown interrupts it). A request made while no client is subscribed at
all (nor resuming) raises :class:`NoSubscriber` at once, before it has an id: nobody could end the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import msgspec
from anyio.abc import TaskGroup

from protocol.codec import encode_notification

from ..errors import ConnectionClosed
from ..ids import next_request_id

__all__ = ["ClientPeer", "NoSubscriber", "Subscribers", "Undelivered"]


class NoSubscriber(Exception):
    """A server→client request was made while no client was subscribed to the thread (or resuming it)."""


class ClientPeer(Protocol):
    closed: bool

    async def notify(self, method: str, params: Any) -> None: ...

    async def send_notification(self, method: str, frame: bytes) -> None: ...

    async def request(self, method: str, params: Any, *, request_id: int | None = None) -> msgspec.Raw: ...

    async def resend(self, request_id: int, method: str, params: Any) -> None: ...


@dataclass
class Undelivered:
    """A notification cut short on its way to a thread's subscribers (its sender was cancelled while a client was
    not keeping up): ``peers`` are the ones it has not reached, in order, starting with the one it was cut at."""

    method: str
    frame: bytes
    peers: list[ClientPeer]


class _Asking:
    """One server→client request in flight: whom it was sent to, and how to send it to one more peer."""

    def __init__(self, method: str, params: Any, request_id: int, tg: TaskGroup,
                 on_sent: Callable[[int], None] | None) -> None:
        self.method, self.params, self.request_id = method, params, request_id
        self.replies: list[msgspec.Raw | Exception] = []
        self._asked: list[ClientPeer] = []
        self._tg = tg
        self._on_sent = on_sent  # told the id once, when the request first goes out

    def offer(self, peer: ClientPeer) -> None:
        """Ask ``peer`` (again, under the same id, if it was asked before: it may have lost the request)."""
        if self.replies or peer.closed:
            return  # answered already (its group is being cancelled), or nobody there to ask
        if any(p is peer for p in self._asked):
            self._tg.start_soon(peer.resend, self.request_id, self.method, self.params)
            return
        self._asked.append(peer)
        if self._on_sent is not None:
            self._on_sent(self.request_id)
            self._on_sent = None
        self._tg.start_soon(self._ask, peer)

    async def _ask(self, peer: ClientPeer) -> None:
        try:
            reply: msgspec.Raw | Exception = await peer.request(self.method, self.params, request_id=self.request_id)
        except ConnectionClosed:
            return  # that client can no longer answer; the others (or a later one) still can
        except Exception as exc:  # an error reply (RemoteError) is an answer; anything else, request() raises as is
            reply = exc
        self.replies.append(reply)
        self._tg.cancel_scope.cancel()  # the first reply wins


class Subscribers:
    """A thread's subscribed peers. The list is copied on write, so a fan-out in progress is never disturbed."""

    def __init__(self) -> None:
        self._peers: list[ClientPeer] = []
        self._asking: dict[int, _Asking] = {}
        self._held: list[ClientPeer] = []  # resuming: no request reaches them before their resume answer

    def add(self, peer: ClientPeer, *, hold_requests: bool = False) -> bool:
        """Subscribe ``peer``; False when it already was. With ``hold_requests``, requests wait for ``replay``."""
        if hold_requests and not any(p is peer for p in self._held):
            self._held.append(peer)
        if any(p is peer for p in self._peers):
            return False
        self._peers = [*self._peers, peer]
        return True

    def remove(self, peer: ClientPeer) -> bool:
        before = len(self._peers)
        self._peers = [p for p in self._peers if p is not peer]
        self._held = [p for p in self._held if p is not peer]
        return len(self._peers) != before

    def __contains__(self, peer: object) -> bool:
        return any(p is peer for p in self._peers)

    def __len__(self) -> int:
        return sum(1 for p in self._peers if not p.closed)

    async def notify(self, method: str, params: Any, *, cut: Callable[[Undelivered], None] | None = None) -> None:
        """Encode once, send to every open peer that accepts ``method``."""
        if self._peers:
            await self.send(method, encode_notification(method, params), cut=cut)

    async def send(self, method: str, frame: bytes, *, cut: Callable[[Undelivered], None] | None = None) -> None:
        """Send an encoded ``method`` notification (see ``protocol.codec.FrameTemplate``) to every open peer.

        A send waits only while a client is not keeping up, and a cancellation landing there leaves the frame
        unsent to that peer and those after it: ``cut`` is told which, so the caller can send it the rest of its
        way (``deliver``) and every peer gets it exactly once."""
        peers = self._peers  # copied on write: the list as it is now
        for index, peer in enumerate(peers):
            if not peer.closed:
                try:
                    await peer.send_notification(method, frame)
                except anyio.get_cancelled_exc_class():
                    if cut is not None:
                        cut(Undelivered(method, frame, peers[index:]))
                    raise

    def undelivered(self, method: str, params: Any) -> Undelivered:
        """A notification not sent yet, owed to every peer subscribed now (for ``deliver`` later)."""
        return Undelivered(method, encode_notification(method, params), list(self._peers))

    async def deliver(self, owed: Undelivered) -> None:
        """Send ``owed`` to the peers it has not reached that are still subscribed and open."""
        for peer in owed.peers:
            if peer in self and not peer.closed:
                await peer.send_notification(owed.method, owed.frame)

    async def request(self, method: str, params: Any, *, on_id: Callable[[int], None] | None = None) -> msgspec.Raw:
        """Ask every open subscriber under one id and return the first reply; wait for one while nobody can.

        ``on_id`` learns the id once the request goes out to a peer (never, if nobody was ever asked).

        Raises:
            NoSubscriber: no open peer is subscribed, nor resuming; nothing was sent.
            RemoteError: the first reply was an error.
        """
        if not len(self):
            raise NoSubscriber(method)
        request_id = next_request_id()
        async with anyio.create_task_group() as tg:
            asking = self._asking[request_id] = _Asking(method, params, request_id, tg, on_id)
            try:
                for peer in self._peers:
                    if not any(p is peer for p in self._held):
                        asking.offer(peer)
                await anyio.sleep_forever()  # until a reply cancels the group, or the caller is cancelled
            finally:
                del self._asking[request_id]
        reply = asking.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    def replay(self, peer: ClientPeer) -> None:
        """Send ``peer`` every request still waiting for a reply, and from now on every new one (its
        ``thread/resume`` answer has gone out)."""
        self._held = [p for p in self._held if p is not peer]
        for asking in sorted(self._asking.values(), key=lambda a: a.request_id):
            asking.offer(peer)
