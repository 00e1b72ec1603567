"""Newline framing: bytes chunks in, frames out (pure, no I/O).

A frame is one line without its terminator; LF and CRLF both end a line, blank lines are skipped. A line
longer than ``max_frame`` is never buffered: its bytes are dropped up to the next newline and one
:class:`FrameTooLarge` marker takes its place, so memory stays bounded whatever the peer sends. The marker keeps
the line's first ``HEAD_BYTES`` (the request's id usually sits there, before a large ``params``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_FRAME", "HEAD_BYTES", "FrameTooLarge", "LineSplitter"]

DEFAULT_MAX_FRAME = 64 * 1024 * 1024
"""The longest line read or written (terminator excluded); `server.rpc.connection` enforces it on answers."""

HEAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class FrameTooLarge:
    """Stands in for a dropped oversized line: the limit it broke and the line's first ``HEAD_BYTES``."""

    limit: int
    head: bytes = b""


class LineSplitter:
    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._max = max_frame
        self._parts: list[bytes] = []
        self._size = 0
        self._discarding = False

    def feed(self, chunk: bytes) -> list[bytes | FrameTooLarge]:
        """Consume one chunk and return the frames it completed, in order."""
        out: list[bytes | FrameTooLarge] = []
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                self._hold(chunk[start:], out)
                return out
            piece = chunk[start:nl]
            start = nl + 1
            if self._discarding:
                self._discarding = False
                continue
            if self._size + len(piece) > self._max:
                head = self._head(piece)
                self._reset()
                out.append(FrameTooLarge(self._max, head))
                continue
            if self._parts:
                self._parts.append(piece)
                piece = b"".join(self._parts)
                self._reset()
            self._emit(piece, out)

    def finish(self) -> list[bytes | FrameTooLarge]:
        """End of input: an unterminated last line still counts as a frame."""
        out: list[bytes | FrameTooLarge] = []
        if self._parts and not self._discarding:
            self._emit(b"".join(self._parts), out)
        self._reset()
        self._discarding = False
        return out

    def _hold(self, rest: bytes, out: list[bytes | FrameTooLarge]) -> None:
        if not rest or self._discarding:
            return
        if self._size + len(rest) > self._max:
            # Drop what we hold and everything up to the next newline.
            head = self._head(rest)
            self._reset()
            self._discarding = True
            out.append(FrameTooLarge(self._max, head))
            return
        self._parts.append(rest)
        self._size += len(rest)

    def _head(self, more: bytes) -> bytes:
        """The first ``HEAD_BYTES`` of what is held followed by ``more``."""
        head = b""
        for part in (*self._parts, more):
            head += part[:HEAD_BYTES - len(head)]
            if len(head) >= HEAD_BYTES:
                break
        return head

    def _reset(self) -> None:
        self._parts = []
        self._size = 0

    @staticmethod
    def _emit(piece: bytes, out: list[bytes | FrameTooLarge]) -> None:
        if piece.endswith(b"\r"):
            piece = piece[:-1]
        if piece.strip():
            out.append(piece)
