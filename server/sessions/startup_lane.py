"""``StartupLane``: how many turns may be starting at once, daemon-wide.

A turn's start-up — loading its history, writing the user's input, building the first request — is a burst of
work on the one event loop. Fifty turns started at once ran all fifty start-ups side by side, so every stream
already flowing waited behind them: its deltas came late by tens of milliseconds (measured: 50 streams at 5,000
deltas/s had a p99 four to five times one stream's). Letting one start at a time finishes each start-up sooner
and keeps the others' streams steady; the work is the same.

Contract: ``enter`` gives a ``LanePass`` once a place is free, or after ``max_wait`` seconds in any case. A pass
covers local work only, so nothing a turn waits on upstream holds the others back: it is released exactly once,
at the first of its first request being built (before it goes out), a compaction starting, or the turn ending.
Waiting is cancellable (an interrupt), and a cancelled wait holds nothing.
"""

from __future__ import annotations

import anyio

__all__ = ["LanePass", "StartupLane"]

CAPACITY = 1
"""Turns starting at once. Measured on 50 streams at 5,000 deltas/s (p99 vs one stream, 2-CPU machine): one
place 1.46–1.87× over four runs, two places 2.1–2.2× over two, no lane 3.8–5.0×."""

MAX_WAIT = 1.0
"""Seconds a turn waits for a place at most: a safety net, as a place is held only for local work (a whole short
turn, start-up and all, costs the daemon 2 ms of CPU when 50 start at once), so a turn stuck in its start-up
delays the others by this much at worst."""


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
        self.max_wait = MAX_WAIT if max_wait is None else max_wait
        self._slots = anyio.Semaphore(CAPACITY if capacity is None else capacity)

    async def enter(self) -> LanePass:
        with anyio.move_on_after(self.max_wait):
            await self._slots.acquire()
            return LanePass(self._slots)
        return LanePass(None)  # waited long enough: start anyway, holding no place
