"""How sessions reach clients without importing the rpc layer.

A :class:`ClientPeer` is anything that can send a notification and make a server→client request (the rpc
``Connection`` is one). :class:`Subscribers` is a thread's set of subscribed peers: notifications fan out to
all of them in order; a request goes to the first one still subscribed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from ..errors import ConnectionClosed

__all__ = ["ClientPeer", "Subscribers"]


class ClientPeer(Protocol):
    closed: bool

    async def notify(self, method: str, params: Any) -> None: ...

    async def request(self, method: str, params: Any, *, on_id: Callable[[Any], None] | None = None) -> msgspec.Raw: ...


class Subscribers:
    def __init__(self) -> None:
        self._peers: list[ClientPeer] = []

    def add(self, peer: ClientPeer) -> bool:
        """Subscribe ``peer``; False when it already was."""
        if any(p is peer for p in self._peers):
            return False
        self._peers.append(peer)
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
        for peer in list(self._peers):
            if not peer.closed:
                await peer.notify(method, params)

    async def request(self, method: str, params: Any, *, on_id: Callable[[Any], None] | None = None) -> msgspec.Raw:
        for peer in list(self._peers):
            if not peer.closed:
                try:
                    return await peer.request(method, params, on_id=on_id)
                except ConnectionClosed:
                    continue  # that client can no longer answer; ask the next one
        raise ConnectionClosed("no subscribed client can answer")
