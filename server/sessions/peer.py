"""How sessions reach clients without importing the rpc layer.

A :class:`ClientPeer` is anything that can send a notification and make a server→client request (the rpc
``Connection`` is one). :class:`Subscribers` is a thread's set of subscribed peers: notifications fan out to
all of them in order; a request goes to the first one still subscribed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from protocol.codec import encode_line
from protocol.jsonrpc import Notification

from ..errors import ConnectionClosed

__all__ = ["ClientPeer", "Subscribers"]


class ClientPeer(Protocol):
    closed: bool

    async def notify(self, method: str, params: Any) -> None: ...

    async def send_notification(self, method: str, frame: bytes) -> None: ...

    async def request(self, method: str, params: Any, *, on_id: Callable[[Any], None] | None = None) -> msgspec.Raw: ...


class Subscribers:
    """A thread's subscribed peers. The list is copied on write, so a fan-out in progress is never disturbed."""

    def __init__(self) -> None:
        self._peers: list[ClientPeer] = []

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

    async def request(self, method: str, params: Any, *, on_id: Callable[[Any], None] | None = None) -> msgspec.Raw:
        for peer in list(self._peers):
            if not peer.closed:
                try:
                    return await peer.request(method, params, on_id=on_id)
                except ConnectionClosed:
                    continue  # that client can no longer answer; ask the next one
        raise ConnectionClosed("no subscribed client can answer")
