"""How sessions reach clients without importing the rpc layer.

A :class:`ClientPeer` is anything that can send a notification and make a server→client request (the rpc
``Connection`` is one). :class:`Subscribers` is a thread's set of subscribed peers: notifications fan out to
all of them in order. A request goes, under one id, to every open subscriber and the first reply wins (an
error reply too); later replies find nothing waiting and are dropped. While it waits, :meth:`Subscribers.replay`
sends it again, same id, to a peer that resumes the thread — as Codex does — so a client that lost its state,
or one that subscribes only now, can still answer. A request nobody can answer (the client is gone) waits
until someone does or the turn is interrupted (a shutdown interrupts it); it never turns into a tool error
the model would act on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import anyio
import msgspec
from anyio.abc import TaskGroup

from protocol.codec import encode_line
from protocol.jsonrpc import Notification

from ..errors import ConnectionClosed, RemoteError
from ..ids import next_request_id

__all__ = ["ClientPeer", "Subscribers"]


class ClientPeer(Protocol):
    closed: bool

    async def notify(self, method: str, params: Any) -> None: ...

    async def send_notification(self, method: str, frame: bytes) -> None: ...

    async def request(self, method: str, params: Any, *, request_id: int | None = None) -> msgspec.Raw: ...

    async def resend(self, request_id: int, method: str, params: Any) -> None: ...


class _Asking:
    """One server→client request in flight: whom it was sent to, and how to send it to one more peer."""

    def __init__(self, method: str, params: Any, request_id: int, tg: TaskGroup) -> None:
        self.method, self.params, self.request_id = method, params, request_id
        self.replies: list[msgspec.Raw | RemoteError] = []
        self._asked: list[ClientPeer] = []
        self._tg = tg

    def offer(self, peer: ClientPeer) -> None:
        """Ask ``peer`` (again, under the same id, if it was asked before: it may have lost the request)."""
        if any(p is peer for p in self._asked):
            self._tg.start_soon(peer.resend, self.request_id, self.method, self.params)
        elif not peer.closed:
            self._asked.append(peer)
            self._tg.start_soon(self._ask, peer)

    async def _ask(self, peer: ClientPeer) -> None:
        try:
            self.replies.append(await peer.request(self.method, self.params, request_id=self.request_id))
        except RemoteError as exc:
            self.replies.append(exc)
        except ConnectionClosed:
            return  # that client can no longer answer; the others (or a later one) still can
        self._tg.cancel_scope.cancel()  # the first reply wins


class Subscribers:
    """A thread's subscribed peers. The list is copied on write, so a fan-out in progress is never disturbed."""

    def __init__(self) -> None:
        self._peers: list[ClientPeer] = []
        self._asking: dict[int, _Asking] = {}

    def add(self, peer: ClientPeer) -> bool:
        """Subscribe ``peer``; False when it already was."""
        if any(p is peer for p in self._peers):
            return False
        self._peers = [*self._peers, peer]
        return True

    def remove(self, peer: ClientPeer) -> bool:
        before = len(self._peers)
        self._peers = [p for p in self._peers if p is not peer]
        return len(self._peers) != before

    def __contains__(self, peer: object) -> bool:
        return any(p is peer for p in self._peers)

    def __len__(self) -> int:
        return sum(1 for p in self._peers if not p.closed)

    async def notify(self, method: str, params: Any) -> None:
        """Encode once, send to every open peer that accepts ``method``."""
        if self._peers:
            await self.send(method, encode_line(Notification(method, params)))

    async def send(self, method: str, frame: bytes) -> None:
        """Send an encoded ``method`` notification (see ``protocol.codec.FrameTemplate``) to every open peer."""
        for peer in self._peers:
            if not peer.closed:
                await peer.send_notification(method, frame)

    async def request(self, method: str, params: Any, *, on_id: Callable[[int], None] | None = None) -> msgspec.Raw:
        """Ask every open subscriber under one id and return the first reply; wait for one while nobody can.

        Raises:
            RemoteError: the first reply was an error.
        """
        request_id = next_request_id()
        if on_id is not None:
            on_id(request_id)
        async with anyio.create_task_group() as tg:
            asking = self._asking[request_id] = _Asking(method, params, request_id, tg)
            try:
                for peer in self._peers:
                    asking.offer(peer)
                await anyio.sleep_forever()  # until a reply cancels the group, or the caller is cancelled
            finally:
                del self._asking[request_id]
        reply = asking.replies[0]
        if isinstance(reply, RemoteError):
            raise reply
        return reply

    def replay(self, peer: ClientPeer) -> None:
        """Send every request still waiting for a reply to ``peer`` (after its ``thread/resume`` answer)."""
        for asking in sorted(self._asking.values(), key=lambda a: a.request_id):
            asking.offer(peer)
