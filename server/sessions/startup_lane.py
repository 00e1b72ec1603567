"""``StartupLane``: how many turns may be starting at once, daemon-wide.

A turn's start-up — loading its history, its first write, building and encoding the request, opening the
connection, reading the response headers — is a burst of work on the one event loop. Fifty turns started at
once ran all fifty start-ups side by side, so every stream already flowing waited behind them: its deltas came
late by tens of milliseconds (measured: 50 streams at 5,000 deltas/s had a p99 two to five times one stream's).
Letting a few start at a time finishes each start-up sooner and keeps the others' streams steady; the work is
the same.

Contract: ``enter`` gives a ``LanePass`` once a place is free, or after ``max_wait`` seconds in any case — so an
upstream slow to answer (the pass is held until its headers) never delays other turns more than that. A pass
is released exactly once, whichever comes first: the first response stream opening, a retry's pause starting,
a compaction starting, or the turn ending.
Waiting is cancellable (an interrupt), and a cancelled wait holds nothing.
"""

from __future__ import annotations

import anyio

__all__ = ["LanePass", "StartupLane"]

CAPACITY = 2
"""Turns starting at once. Measured on 50 streams at 5,000 deltas/s (p99 vs one stream): 1 place 1.4–1.6×,
2 places 2.2×, no lane 3.8–5.0× (with a 1 s wait, so the wait never ran out)."""

MAX_WAIT = 0.1
"""Seconds a turn waits for a place at most. Kept short because a place is held until the response headers, so
a real upstream's first-byte latency would otherwise queue a burst of turns behind it; against the local
simulator 50 turns outlast it (p99 2.6× at 5,000 deltas/s against 2.2× with 1 s)."""


class LanePass:
    """One turn's place in the lane (or none, when its wait ran out): ``release`` is idempotent."""

    __slots__ = ("_slots",)

    def __init__(self, slots: anyio.Semaphore | None) -> None:
        self._slots = slots

    @property
    def held(self) -> bool:
        return self._slots is not None

    def release(self) -> None:
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.release()


NO_PASS = LanePass(None)
"""What a turn holds before it enters the lane, and after: releasing it does nothing."""


class StartupLane:
    """The daemon's lane (one per ``TurnServices``); capacity and wait default to the module's constants."""

    def __init__(self, capacity: int | None = None, max_wait: float | None = None) -> None:
        self.capacity = CAPACITY if capacity is None else capacity
        self.max_wait = MAX_WAIT if max_wait is None else max_wait
        self._slots = anyio.Semaphore(self.capacity)

    async def enter(self) -> LanePass:
        with anyio.move_on_after(self.max_wait):
            await self._slots.acquire()
            return LanePass(self._slots)
        return LanePass(None)  # waited long enough: start anyway, holding no place
