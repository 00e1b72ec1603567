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
- at exit (``logging.shutdown``) fd 1 is pointed at ``/dev/null`` and the stray pipes closed, so their last bytes
  are queued, then the writer gets what is left of ``EXIT_FLUSH_SECONDS`` to write what is queued; a writer stuck
  on a pipe nobody reads is left behind (it is a daemon thread) and the process exits anyway;
- records logged after that (finalizers, asyncio's "Task was destroyed") are written by their caller as far as
  stderr takes them without waiting: a stderr that is read still gets them, one that is full costs them, counted
  as dropped while exiting (not as "not being read", which is another count).
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
from collections.abc import Callable, Mapping
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

    The queue is bounded by ``capacity`` bytes: an offer that does not fit is dropped and counted, and so is a
    record a write error kept from stderr; after the next write that succeeds, one line per cause made by
    ``formatter`` reports the counts.

    :meth:`close` ends the stray descriptors first (their last bytes are queued), then lets the thread write what
    is queued, bounded. Once the thread has ended, an offer is written by its caller, but only as far as the
    descriptor takes it without waiting (``poll``); the rest is dropped and counted as dropped while exiting.
    """

    def __init__(self, fd: int = 2, *, formatter: logging.Formatter, capacity: int = STDERR_BUFFER) -> None:
        self.fd = fd
        self._formatter = formatter
        self._capacity = capacity
        self._items: deque[bytes] = deque()
        self._size = 0
        self._dropped = 0  # records that did not fit the queue
        self._failed = 0  # records a write error kept from stderr (a part written, if any, is torn)
        self._error = ""  # the last such error, for the notice
        self._exit_dropped = 0  # records offered after close that stderr did not take at once
        self._closing = False  # close has begun: the thread ends once the queue is empty
        self._abandoned = False  # close gave up waiting: the thread stops at its next wait
        self._finished = False  # the thread has ended: offers are written by their caller, never waiting
        self._wake: tuple[int, int] | None = None  # a pipe that interrupts the wait for room on a non-blocking fd
        self._strays: list[tuple[int, threading.Thread]] = []
        self._ready = threading.Condition(threading.Lock())
        self._thread = threading.Thread(target=self._run, name="threadline-stderr", daemon=True)
        self._thread.start()

    def offer(self, data: bytes) -> bool:
        """Queue ``data`` for stderr, at once; False (and counted) when the queue is full, or after close when
        stderr does not take it at once."""
        with self._ready:
            if self._closing and (self._finished or self._abandoned):
                return self._write_after_close(data)
            if self._size + len(data) > self._capacity:
                self._dropped += 1
                return False
            self._items.append(data)
            self._size += len(data)
            self._ready.notify()
        return True

    def stray_fd(self) -> int:
        """A descriptor to put under fd 1 while serving. What is written to it (a stray ``os.write(1, …)``, a
        child's output) is read by a daemon thread and offered here, so such a write waits at most for that
        thread, never for our stderr, on which a plain ``dup2(2, 1)`` would block it. The descriptor is the
        writer's: :meth:`close` closes it, pointing fd 1 at ``/dev/null`` first if fd 1 is it."""
        read_fd, write_fd = os.pipe()
        thread = threading.Thread(target=self._drain, args=(read_fd,), name="threadline-stray-output", daemon=True)
        with self._ready:
            self._strays.append((write_fd, thread))
        thread.start()
        return write_fd

    def close(self, timeout: float = EXIT_FLUSH_SECONDS) -> None:
        """Within ``timeout`` seconds: end the stray descriptors and move their last bytes into the queue, then
        let the thread write what is queued. A thread still waiting for room then is given up: it ends at once if
        it waits for a non-blocking descriptor, or after its blocked write returns. Closing twice is harmless."""
        deadline = time.monotonic() + timeout
        self._end_strays(deadline)
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._ready:
            if not self._finished:
                self._abandoned = True
                if self._wake is not None:
                    os.write(self._wake[1], b"\0")

    def _end_strays(self, deadline: float) -> None:
        """Point fd 1 away from our stray pipes (at ``/dev/null``: later stray writes neither block nor fail),
        close their write ends, and wait, bounded, for their threads to move what is left and see EOF. A child
        still holding a write end keeps its thread going past the bound; what it writes later goes the late
        way (see :meth:`offer`)."""
        with self._ready:
            strays, self._strays = self._strays, []
        for write_fd, _ in strays:
            try:
                if os.path.samestat(os.fstat(1), os.fstat(write_fd)):
                    null = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(null, 1)
                    os.close(null)
            except OSError:
                pass  # fd 1 is closed, or /dev/null missing: nothing of ours to point away from
            os.close(write_fd)
        for _, thread in strays:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _drain(self, fd: int) -> None:
        try:
            while chunk := os.read(fd, _BATCH):
                self.offer(chunk)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _run(self) -> None:
        try:
            self._write_queued()
        finally:
            with self._ready:
                self._finished = True
                self._exit_dropped += len(self._items)  # left when close gave up
                self._items.clear()
                self._size = 0
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
                    # Closing, and everything queued is written (or close gave up on it): from here on, offers
                    # are written by their callers; deciding it under this lock hold means none is queued unseen.
                    self._finished = True
                    return
                batch: list[bytes] = []
                size = 0
                while self._items and size < _BATCH:
                    item = self._items.popleft()
                    batch.append(item)
                    size += len(item)
                self._size -= size
            data = b"".join(batch)
            written = self._write(data)
            if written < len(data):
                with self._ready:
                    if self._abandoned:
                        self._exit_dropped += _unfinished(batch, written)
                    else:
                        self._failed += _unfinished(batch, written)
                continue  # stderr failed (closed by the client?): keep taking offers so callers never notice
            with self._ready:
                owed = self._take_owed()
            if any(owed) and not self._report(owed, self._write):
                with self._ready:
                    self._restore(owed)

    def _write_after_close(self, data: bytes) -> bool:
        """An offer once the thread has ended (``_ready`` held: offers from several threads do not interleave).

        Records logged after ``logging.shutdown`` (a finalizer, asyncio's "Task was destroyed") still reach a
        stderr that is being read; one that is full, or a thread given up while still blocked in a write (writing
        beside it would tear its line), makes them drops, counted as such and reported should a write succeed."""
        if not self._finished or self._write_now(data) < len(data):
            self._exit_dropped += 1
            return False
        owed = self._take_owed()
        if any(owed) and not self._report(owed, self._write_now):
            self._restore(owed)
        return True

    def _take_owed(self) -> tuple[int, int, int]:
        """The drop counts not reported yet (``_ready`` held), reset; :meth:`_restore` puts them back."""
        owed = (self._dropped, self._failed, self._exit_dropped)
        self._dropped = self._failed = self._exit_dropped = 0
        return owed

    def _restore(self, owed: tuple[int, int, int]) -> None:
        """The notice did not get out (``_ready`` held): the next write that does reports the counts."""
        self._dropped += owed[0]
        self._failed += owed[1]
        self._exit_dropped += owed[2]

    def _report(self, owed: tuple[int, int, int], write: Callable[[bytes], int]) -> bool:
        """Write one notice line per cause of the ``owed`` drops; False when it did not get out whole."""
        dropped, failed, exit_dropped = owed
        notices: list[tuple[int, str, tuple[object, ...]]] = [
            (dropped, "%d log records dropped: stderr was not being read and its buffer was full", ()),
            (failed, "%d log records lost: writing stderr failed (%s)", (self._error,)),
            (exit_dropped, "%d log records dropped while exiting: stderr was not taking writes", ()),
        ]
        data = b"".join(
            (self._formatter.format(
                logging.LogRecord(__name__, logging.WARNING, __file__, 0, text, (count, *args), None)
            ) + "\n").encode("utf-8", "backslashreplace")
            for count, text, args in notices if count
        )
        return write(data) == len(data)

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
            except OSError as exc:
                self._error = str(exc)
                break
        return done

    def _write_now(self, data: bytes) -> int:
        """Write what the descriptor takes without waiting; the number of bytes written. Pieces of ``PIPE_BUF``
        bytes, each after ``poll`` says there is room: a pipe with room takes such a piece whole, even when the
        descriptor is blocking."""
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        view = memoryview(data)
        done = 0
        while done < len(view) and any(mask & select.POLLOUT for _, mask in poller.poll(0)):
            try:
                done += os.write(self.fd, view[done:done + select.PIPE_BUF])
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


def _unfinished(batch: list[bytes], written: int) -> int:
    """How many records of ``batch`` did not get out whole when ``written`` bytes of it did."""
    lost, end = 0, 0
    for item in batch:
        end += len(item)
        lost += end > written
    return lost


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
    """Route logging, ``sys.stderr`` and (through ``stray_fd``) fd 1 to one non-blocking stderr writer.

    Configuring again closes the writer set up before (what it holds is written first, its stray descriptors are
    closed), so one writer thread remains."""
    level_name = env.get("THREADLINE_LOG", "warning").upper()
    level = logging.getLevelNamesMapping().get(level_name, logging.WARNING)
    formatter = formatter_for(env)
    root = logging.getLogger()
    for previous in root.handlers:
        if isinstance(previous, _WriterHandler):
            previous.close()
    if sys.stderr is not None:
        sys.stderr.flush()
        fd = sys.stderr.fileno()
    else:  # started with fd 2 closed: whatever opens next may get 2 (the store!), so never write it blindly
        fd = os.open(os.devnull, os.O_WRONLY)
    writer = StderrWriter(fd, formatter=formatter)
    handler = _WriterHandler(writer)
    handler.setFormatter(formatter)
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The text layer of sys.stderr writes fd 2 directly: it would block exactly where the handler does not.
    sys.stderr = cast(TextIO, _WriterStream(writer, writer.fd))
    # httpx logs full URLs at INFO; keep it quiet unless asked for debug.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpcore").setLevel(max(level, logging.WARNING))
    return writer
