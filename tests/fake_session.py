"""A ``ThreadSession`` on a fake store and fake clients, for driving a turn's frame (``run_turn``) directly.

For what the in-memory harness cannot arrange on purpose: a client that is slow to read (``Peer(slow=True)``
passes through the event loop at every frame, as ``Outbox.send`` does once the client's buffer is full), a client
that stopped reading at a given notification (``Peer(stalls_at=...)``), a write that is in flight at a given
moment (``FakeStore.gate``).
"""

from __future__ import annotations

from typing import Any

import anyio
import msgspec

from server.sessions import git_info
from server.sessions.actor import SessionDeps, ThreadSession
from server.sessions.meta import ThreadMeta, ThreadSettings, encode_meta
from server.store import ThreadRecord

__all__ = ["THREAD", "FakeStore", "Peer", "make_session", "sent"]

THREAD = "0198c6a0-0000-7000-8000-0000000000aa"


class FakeStore:
    """Keeps every batch written. With ``gate`` set, the next write waits for it, already committed (a real writer
    commits a queued write even when its caller is cancelled meanwhile)."""

    path = None

    def __init__(self) -> None:
        self.writes: list[Any] = []
        self.gate: anyio.Event | None = None
        self.writing = anyio.Event()

    async def write(self, batch: Any) -> None:
        self.writes.append(batch)
        gate, self.gate = self.gate, None
        if gate is not None:
            self.writing.set()
            await gate.wait()
        else:
            await anyio.lowlevel.checkpoint()  # as the writer thread's answer does


class Peer:
    """A subscribed client that keeps what it is sent, as ``(method, params)`` (decoded). With ``stalls_at``, it
    stops reading when that notification comes (``stalled`` is set), until ``reads_again`` is."""

    closed = False

    def __init__(self, *, slow: bool = False, stalls_at: str | None = None) -> None:
        self.slow = slow
        self.stalls_at = stalls_at
        self.stalled, self.reads_again = anyio.Event(), anyio.Event()
        self.seen: list[tuple[str, Any]] = []

    async def notify(self, method: str, params: Any) -> None:
        await self.send_notification(method, msgspec.json.encode({"method": method, "params": params}))

    async def send_notification(self, method: str, frame: bytes) -> None:
        if method == self.stalls_at and not self.reads_again.is_set():
            self.stalled.set()
            await self.reads_again.wait()  # the client stopped reading: its buffer is full
        if self.slow:
            await anyio.sleep(0)  # the client is not keeping up: a send passes through the event loop
        self.seen.append((method, msgspec.json.decode(frame)["params"]))

    async def request(self, method: str, params: Any, *, request_id: int | None = None) -> Any:
        await anyio.sleep_forever()

    async def resend(self, request_id: int, method: str, params: Any) -> None:
        return None


def sent(peer: Peer, method: str) -> list[Any]:
    """The params of every ``method`` notification ``peer`` was sent, in order."""
    return [params for seen, params in peer.seen if seen == method]


def make_session(store: FakeStore, peer: Peer | None = None, *, loaded: bool = True,
                 ephemeral: bool = False) -> ThreadSession:
    """A session whose history is loaded and empty (not loaded yet, without ``loaded``); ``session.broadcasts``
    keeps what went to every connection."""
    meta = ThreadMeta(session_id="s", cli_version="t", settings=ThreadSettings(model="m", model_provider="p", cwd="/"))
    record = ThreadRecord(id=THREAD, created_at=0, updated_at=0, cwd="/", model_provider="p", source_kind="vscode",
                          data=encode_meta(meta), git_info=git_info.encode(git_info.NOTHING_FOUND))
    broadcasts: list[tuple[str, Any]] = []

    async def broadcast(method: str, params: Any) -> None:
        broadcasts.append((method, params))

    session = ThreadSession(record, SessionDeps(store=store, broadcast=broadcast),  # type: ignore[arg-type]
                            meta=meta, ephemeral=ephemeral)
    session.broadcasts = broadcasts  # type: ignore[attr-defined]
    session.history = [] if loaded else None
    if peer is not None:
        session.subscribe(peer)
    return session
