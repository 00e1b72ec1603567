"""One-shot replies from an actor to the handler waiting on it.

The actor never blocks on a reply (``set``/``fail`` are synchronous and idempotent: the first outcome
wins); the waiter bounds its wait.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import anyio

__all__ = ["Reply"]

T = TypeVar("T")


class Reply(Generic[T]):
    __slots__ = ("_done", "_error", "_value")

    def __init__(self) -> None:
        self._done = anyio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def set(self, value: T) -> None:
        if not self._done.is_set():
            self._value = value
            self._done.set()

    def fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self._error = error
            self._done.set()

    async def wait(self, timeout: float | None = 60) -> T:
        with anyio.fail_after(timeout):
            await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
