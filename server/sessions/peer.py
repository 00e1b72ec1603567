"""How sessions reach clients without importing the rpc layer.

A :class:`ClientPeer` is anything that can send a notification and make a server→client request (the rpc
``Connection`` is one). :class:`Subscribers` is a thread's set of subscribed peers: notifications fan out to
all of them in order. A request goes, under one id, to every open subscriber and the first reply wins (an
error reply too); later replies find nothing waiting and are dropped. While no subscriber can answer, the
request waits, and a peer that subscribes meanwhile is sent it — as Codex replays a pending request to a
client that resumes the thread. So a client gone mid-call never turns into a tool error the model acts on:
the request waits until someone answers or the turn is interrupted (a shutdown interrupts it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import anyio
import msgspec

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


class Subscribers:
    """A thread's subscribed peers. The list is copied on write, so a fan-out in progress is never disturbed."""

    def __init__(self) -> None:
        self._peers: list[ClientPeer] = []
        self._joined = anyio.Event()  # set (and replaced) whenever a peer subscribes

    def add(self, peer: ClientPeer) -> bool:
        """Subscribe ``peer``; False when it already was."""
        if any(p is peer for p in self._peers):
            return False
        self._peers = [*self._peers, peer]
        self._joined.set()
        self._joined = anyio.Event()
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
        """Ask every open subscriber (and any that subscribes before a reply) under one id; return the first reply.

        Raises:
            RemoteError: the first reply was an error.
        """
        request_id = next_request_id()
        if on_id is not None:
            on_id(request_id)
        asked: list[ClientPeer] = []
        replies: list[msgspec.Raw | RemoteError] = []

        async def ask(peer: ClientPeer, scope: anyio.CancelScope) -> None:
            try:
                replies.append(await peer.request(method, params, request_id=request_id))
            except RemoteError as exc:
                replies.append(exc)
            except ConnectionClosed:
                return  # that client can no longer answer; the others (or a later one) still can
            scope.cancel()

        async with anyio.create_task_group() as tg:
            while True:
                joined = self._joined
                for peer in self._peers:
                    if not peer.closed and not any(p is peer for p in asked):
                        asked.append(peer)
                        tg.start_soon(ask, peer, tg.cancel_scope)
                await joined.wait()
        reply = replies[0]
        if isinstance(reply, RemoteError):
            raise reply
        return reply
