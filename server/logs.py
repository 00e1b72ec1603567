"""Logging to stderr only (stdout is the wire), without ever making the caller wait for stderr.

``THREADLINE_LOG`` sets the level (``debug``, ``info``, ``warning`` — the default — or ``error``);
``LOG_FORMAT=json`` writes one JSON object per line for log collectors.

Contract: nothing the daemon writes to stderr can stall it. A client that spawns us with stderr on a pipe and
never reads it fills that pipe (64 KiB on Linux); a plain blocking write would then park the event loop for
good — every request, stdin EOF and SIGTERM with it. So :func:`configure_logging` makes one daemon thread,
:class:`StderrWriter`, the only writer of fd 2:

- a log record is formatted by the caller (as ``StreamHandler`` did) and queued for that thread; the queue holds
  at most ``STDERR_BUFFER`` bytes, and what does not fit is dropped and counted. Once stderr takes a write again,
  one warning says how many records were dropped;
- ``sys.stderr`` and ``sys.stdout`` (``print``, ``warnings``, tracebacks) write into the same queue, and
  :meth:`StderrWriter.stray_fd` gives a descriptor for fd 1 whose bytes a second daemon thread moves into it, so
  a stray ``os.write(1, …)`` or a child's output cannot block either;
- a stderr left non-blocking by the parent (Node/libuv does that to the shared description) is waited for with
  ``poll`` when full, and the write goes on from the byte it reached: what was accepted is not lost or torn;
- at exit (``logging.shutdown``) the writer gets ``EXIT_FLUSH_SECONDS`` to write what is queued; a writer stuck on
  a pipe nobody reads is left behind (it is a daemon thread) and the process exits anyway.
"""

from __future__ import annotations

import io
import logging
import os
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import TextIO, cast

import msgspec

__all__ = ["EXIT_FLUSH_SECONDS", "STDERR_BUFFER", "StderrWriter", "configure_logging", "formatter_for"]

STDERR_BUFFER = 1024 * 1024
"""Bytes of log output held while stderr is not taking writes; beyond that, records are dropped and counted."""

EXIT_FLUSH_SECONDS = 1.0
"""How long exit waits for queued log output to reach stderr."""

_BATCH = 64 * 1024  # one write call carries up to this much: a burst of records costs a few syscalls, not one each

_encoder = msgspec.json.Encoder()


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode()


class StderrWriter:
    """The only writer of a descriptor (stderr): ``offer`` queues bytes and never waits; a daemon thread writes.

    The queue is bounded by ``capacity`` bytes: an offer that does not fit is dropped and counted, and after the
    next write that succeeds, one line made by ``formatter`` reports the count.
    """

    def __init__(self, fd: int = 2, *, formatter: logging.Formatter, capacity: int = STDERR_BUFFER) -> None:
        self.fd = fd
        self._formatter = formatter
        self._capacity = capacity
        self._items: deque[bytes] = deque()
        self._size = 0
        self._dropped = 0
        self._closing = False
        self._abandoned = False  # close gave up waiting: the thread stops at its next wait
        self._wake: tuple[int, int] | None = None  # a pipe that interrupts the wait for room on a non-blocking fd
        self._ready = threading.Condition(threading.Lock())
        self._thread = threading.Thread(target=self._run, name="threadline-stderr", daemon=True)
        self._thread.start()

    def offer(self, data: bytes) -> bool:
        """Queue ``data`` for stderr, at once; False (and counted) when the queue is full or the writer closed."""
        with self._ready:
            if self._closing or self._size + len(data) > self._capacity:
                self._dropped += 1
                return False
            self._items.append(data)
            self._size += len(data)
            self._ready.notify()
        return True

    def stray_fd(self) -> int:
        """A descriptor to put under fd 1 while serving. What is written to it (a stray ``os.write(1, …)``, a
        child's output) is read by a daemon thread and offered here, so such a write waits at most for that
        thread, never for our stderr, on which a plain ``dup2(2, 1)`` would block it. The descriptor stays open
        for the life of the process (fd 1 does too)."""
        read_fd, write_fd = os.pipe()
        threading.Thread(target=self._drain, args=(read_fd,), name="threadline-stray-output", daemon=True).start()
        return write_fd

    def close(self, timeout: float = EXIT_FLUSH_SECONDS) -> None:
        """Stop taking offers and give the thread ``timeout`` seconds to write what is queued. A thread still
        waiting for room then is given up: it ends at once if it waits for a non-blocking descriptor, or after
        its blocked write returns."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)
        with self._ready:
            if self._thread.is_alive():
                self._abandoned = True
                if self._wake is not None:
                    os.write(self._wake[1], b"\0")

    def _drain(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, _BATCH)
            except OSError:
                return
            if not chunk:
                return
            self.offer(chunk)

    def _run(self) -> None:
        try:
            self._write_queued()
        finally:
            with self._ready:
                if self._wake is not None:
                    os.close(self._wake[0])
                    os.close(self._wake[1])
                    self._wake = None

    def _write_queued(self) -> None:
        while True:
            with self._ready:
                while not self._items and not self._closing:
                    self._ready.wait()
                if not self._items or self._abandoned:
                    return  # closing, and everything queued is written (or close gave up on it)
                batch: list[bytes] = []
                size = 0
                while self._items and size < _BATCH:
                    item = self._items.popleft()
                    batch.append(item)
                    size += len(item)
                self._size -= size
            data = b"".join(batch)
            if self._write(data) < len(data):
                continue  # stderr is gone (closed by the client): keep taking offers so callers never notice
            with self._ready:
                dropped, self._dropped = self._dropped, 0
            if dropped:
                self._write(self._drop_notice(dropped))

    def _drop_notice(self, dropped: int) -> bytes:
        record = logging.LogRecord(
            __name__, logging.WARNING, __file__, 0,
            "%d log records dropped: stderr was not being read and its buffer was full", (dropped,), None,
        )
        return (self._formatter.format(record) + "\n").encode("utf-8", "backslashreplace")

    def _write(self, data: bytes) -> int:
        """Write ``data``; the number of bytes written, short only when the descriptor failed or close gave up.

        A non-blocking stderr (a parent such as Node leaves the shared description ``O_NONBLOCK``) raises
        ``BlockingIOError`` once full: wait for room and go on from the byte reached, as a blocking write would."""
        view = memoryview(data)
        done = 0
        while done < len(view):
            try:
                done += os.write(self.fd, view[done:])
            except BlockingIOError:
                if not self._wait_writable():
                    break
            except OSError:
                break
        return done

    def _wait_writable(self) -> bool:
        """Wait until the descriptor takes a write, or fails (the write then says how); False if close gave up."""
        with self._ready:
            if self._abandoned:
                return False
            if self._wake is None:
                self._wake = os.pipe()
            wake = self._wake[0]
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        poller.register(wake, select.POLLIN)
        return all(fd != wake for fd, _ in poller.poll())


class _WriterHandler(logging.Handler):
    """Formats in the caller, as ``StreamHandler`` did, and hands the line to the writer thread."""

    def __init__(self, writer: StderrWriter) -> None:
        super().__init__()
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._writer.offer((self.format(record) + "\n").encode("utf-8", "backslashreplace"))
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        # logging.shutdown (at exit) closes handlers: the last chance to flush, bounded.
        self._writer.close()
        super().close()


class _WriterStream(io.TextIOBase):
    """``sys.stderr`` (and ``sys.stdout`` while serving): text written here is queued for the writer thread."""

    def __init__(self, writer: StderrWriter, fd: int) -> None:
        super().__init__()
        self._writer = writer
        self._fd = fd

    encoding = "utf-8"  # what write() encodes with, for code that asks
    errors = "backslashreplace"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self._writer.offer(text.encode("utf-8", "backslashreplace"))
        return len(text)

    def fileno(self) -> int:
        return self._fd  # the real stderr, for code that writes the descriptor itself (faulthandler)

    def isatty(self) -> bool:
        return os.isatty(self._fd)


def formatter_for(env: Mapping[str, str]) -> logging.Formatter:
    """The line format ``LOG_FORMAT`` asks for: ``json``, or plain text."""
    if env.get("LOG_FORMAT", "").lower() == "json":
        return _JsonFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_logging(env: Mapping[str, str]) -> StderrWriter:
    """Route logging, ``sys.stderr`` and (through ``stray_fd``) fd 1 to one non-blocking stderr writer."""
    level_name = env.get("THREADLINE_LOG", "warning").upper()
    level = logging.getLevelNamesMapping().get(level_name, logging.WARNING)
    formatter = formatter_for(env)
    if sys.stderr is not None:
        sys.stderr.flush()
        fd = sys.stderr.fileno()
    else:  # started with fd 2 closed: whatever opens next may get 2 (the store!), so never write it blindly
        fd = os.open(os.devnull, os.O_WRONLY)
    writer = StderrWriter(fd, formatter=formatter)
    handler = _WriterHandler(writer)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The text layer of sys.stderr writes fd 2 directly: it would block exactly where the handler does not.
    sys.stderr = cast(TextIO, _WriterStream(writer, writer.fd))
    # httpx logs full URLs at INFO; keep it quiet unless asked for debug.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpcore").setLevel(max(level, logging.WARNING))
    return writer
