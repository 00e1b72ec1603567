"""A pure Server-Sent Events parser: lines in, messages out, no I/O.

Contract (the WHATWG event-stream rules the Responses API relies on): a line is one field
(`name: value`, a single space after the colon is dropped; a line without a colon is a field with an empty
value); lines starting with `:` are comments; `data` lines accumulate, joined by `\\n`; a blank line
dispatches the accumulated message, or nothing if no `data` was seen. A trailing `\\r` or `\\n` on a line is
ignored, so CRLF streams parse the same as LF ones. A message cut off by end of stream (no blank line yet)
is never dispatched — `pending` tells the caller one was lost. `data: [DONE]` dispatches a message whose
`done` is true (OpenAI-compatible servers end streams with it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["DONE", "SseMessage", "SseParser", "parse_lines", "split_lines"]

DONE = "[DONE]"


@dataclass(frozen=True, slots=True)
class SseMessage:
    """One dispatched event. `event` is the `event:` field, or "message" when none was given."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    @property
    def done(self) -> bool:
        return self.data == DONE


class SseParser:
    """Incremental parser. Feed it lines (with or without their terminator); it returns a message on dispatch."""

    __slots__ = ("_data", "_event", "_id", "_retry", "_seen_field")

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._seen_field = False

    @property
    def pending(self) -> bool:
        """Whether fields were read since the last dispatch (a message would be lost if the stream ended now)."""
        return self._seen_field

    def feed(self, line: str) -> SseMessage | None:
        """Consume one line; return the message it completes, if any."""
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._seen_field = True
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            # The spec ignores ids containing NUL: they could not be echoed back in Last-Event-ID.
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        # Any other field name is ignored, as the spec requires.
        return None

    def _dispatch(self) -> SseMessage | None:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry, self._seen_field = [], None, None, False
        if not data:
            # `id` persists across messages (it is the stream's last-event id); event/retry do not.
            return None
        return SseMessage(data="\n".join(data), event=event or "message", id=self._id, retry=retry)


def parse_lines(lines: Iterable[str]) -> Iterator[SseMessage]:
    """Every message completed by `lines`, in order (an unterminated last message is dropped)."""
    parser = SseParser()
    for line in lines:
        message = parser.feed(line)
        if message is not None:
            yield message


def split_lines(text: str) -> list[str]:
    """Split raw stream text on CRLF, LF or CR (the three terminators SSE allows), for tests and tools."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
