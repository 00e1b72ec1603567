"""Thread leases: at most one process writes a thread at a time, across every daemon sharing a home.

Two IDE windows each spawn a daemon on the same ``$THREADLINE_HOME``. If both loaded one thread, each would keep
its own history in memory and send the model only its own turns, and the store would interleave them. A lease
makes the second one hear "already has an active writer" instead.

Contract: ``ThreadLeases.take(thread_id)`` returns False when another process holds the thread, else takes it
(taking it again in the same process is fine); ``give_back`` releases it. A lease is a POSIX byte-range lock on
one byte of ``$THREADLINE_HOME/threads.lock``, at an offset derived from the thread id, so a process that dies,
even by SIGKILL, holds nothing: the kernel releases its locks. The file stays open for the process's life (closing
any descriptor of it would drop every lock). Where ``fcntl`` does not exist (Windows) leases always succeed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["ThreadLeases"]

logger = logging.getLogger(__name__)


def _offset(thread_id: str) -> int:
    # 56 bits: well inside a signed 64-bit off_t, and collisions between thread ids are negligible.
    return int.from_bytes(hashlib.blake2b(thread_id.encode(), digest_size=7).digest(), "big")


class ThreadLeases:
    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def open(cls, home: Path) -> ThreadLeases:
        if fcntl is None:
            return cls(None)
        fd = os.open(home / "threads.lock", os.O_RDWR | os.O_CREAT, 0o600)
        return cls(fd)

    def take(self, thread_id: str) -> bool:
        if self._fd is None:
            return True
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _offset(thread_id))
        except (BlockingIOError, PermissionError):  # EAGAIN or EACCES, depending on the platform
            return False
        return True

    def give_back(self, thread_id: str) -> None:
        if self._fd is None:
            return
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, _offset(thread_id))
        except OSError:  # nothing to undo: the lease is gone with the file at worst
            logger.debug("releasing the lease of thread %s failed", thread_id, exc_info=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
