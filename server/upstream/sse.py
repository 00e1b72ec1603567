"""A pure Server-Sent Events decoder: raw body bytes in, messages out, no I/O.

Contract (the WHATWG event-stream rules the Responses API relies on): lines end in LF, CRLF or a lone CR —
wherever the chunk boundaries fall, even between the CR and the LF of one CRLF. A line is one field
(`name: value`, a single space after the colon is dropped; a line without a colon is a field with an empty
value); lines starting with `:` are comments; `data` lines accumulate, joined by LF; a blank line dispatches
the accumulated message, or nothing if no `data` was seen. A message cut off by the end of the stream (no
blank line yet) is never dispatched — `pending` tells the caller one was lost. `data: [DONE]` dispatches a
message whose `done` is true (OpenAI-compatible servers end streams with it).

The decoder works on bytes and hands `data` on as bytes: msgspec decodes JSON straight from them, so no text
decoding or per-line iterator sits on the streaming hot path (see `scripts/bench_turns.py`). Its work is linear
in the bytes fed however the body is cut: a line tens of MiB long (`response.completed` carries the whole answer)
arriving in small chunks is copied once, when it ends (see `scripts/bench_sse.py`).
"""

from __future__ import annotations

import re

import msgspec

__all__ = ["DONE", "SseDecoder", "SseMessage", "parse_stream"]

DONE = b"[DONE]"
_COLON = 0x3A
_CR = 0x0D
# One whole message of the usual shape: an optional `event` line, one `data` line, the blank line. Matching it
# gives exactly what the line-by-line rules would (lines end in LF here: CRs were normalised before). The
# possessive quantifiers matter: a message still cut off at the chunk's end then fails in one pass, where a
# backtracking `*` took milliseconds on a 40 KB `output_item.done` arriving in pieces.
_PLAIN_MESSAGE = re.compile(rb"(?:event: ?([^\n]*+)\n)?data: ?([^\n]*+)\n\n")


class SseMessage(msgspec.Struct, frozen=True):
    """One dispatched event. `event` is the `event:` field, or "message" when none was given."""

    data: bytes
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    @property
    def done(self) -> bool:
        return self.data == DONE


class SseDecoder:
    """Incremental decoder. Feed it body chunks as they arrive; each call returns the messages they complete."""

    __slots__ = ("_data", "_event", "_id", "_retry", "_seen_field", "_tail")

    def __init__(self) -> None:
        # The unfinished line, as the pieces it arrived in (the last may end in the CR of a CRLF whose LF is
        # still to come). Pieces are joined once, when the line ends: joining on every chunk copied the whole
        # line again each time, quadratic in its size — and `response.completed` carries the whole answer.
        self._tail: list[bytes] = []
        self._data: list[bytes] = []
        self._event: bytes | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._seen_field = False

    @property
    def pending(self) -> bool:
        """Whether anything arrived since the last dispatch (a message would be lost if the stream ended now)."""
        return self._seen_field or bool(self._tail)

    def feed(self, chunk: bytes) -> list[SseMessage]:
        """Consume one chunk of the body; return the messages it completes, in order.

        Linear in the bytes fed, however a long line is cut: a chunk that does not end the unfinished line is
        only searched for a line end and kept; the line is joined once, by the chunk that ends it."""
        if self._tail:
            tail = self._tail
            if not tail[-1].endswith(b"\r") and b"\n" not in chunk and b"\r" not in chunk:
                tail.append(chunk)  # still inside the line: nothing to split, nothing to copy
                return []
            tail.append(chunk)
            chunk = b"".join(tail)
            tail.clear()  # cleared in place: a new list per chunk would cost the hot path an allocation
        if _CR in chunk:
            held = b"\r" if chunk.endswith(b"\r") else b""  # a CR at the very end may be half of a CRLF
            chunk = chunk[: len(chunk) - len(held)].replace(b"\r\n", b"\n").replace(b"\r", b"\n") + held
        messages: list[SseMessage] = []
        start = 0
        if not self._seen_field:  # between messages: take the plain `event:`/`data:` ones in one C-level match each
            while (match := _PLAIN_MESSAGE.match(chunk, start)) is not None:
                event, data = match.groups()
                messages.append(SseMessage(data, "message" if event is None else event.decode("utf-8", "replace"),
                                           self._id))
                start = match.end()
            if start == len(chunk):
                return messages
            if start:
                chunk = chunk[start:]
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if rest:
            self._tail.append(rest)  # empty here: the line it held was joined into this chunk
        if lines:
            messages += self._lines(lines)
        return messages

    def finish(self) -> list[SseMessage]:
        """The body ended: a held CR still terminates its line (a message it leaves unfinished stays pending)."""
        tail, self._tail = b"".join(self._tail), []
        if tail.endswith(b"\r"):
            return self._lines([tail[:-1]])
        self._seen_field = self._seen_field or bool(tail)  # a line cut off mid-way is lost with its message
        return []

    def _lines(self, lines: list[bytes]) -> list[SseMessage]:
        messages: list[SseMessage] = []
        for line in lines:
            if not line:
                message = self._dispatch()
                if message is not None:
                    messages.append(message)
                continue
            if line.startswith(b"data:"):  # most lines: checked first
                self._seen_field = True
                self._data.append(line[6:] if line[5:6] == b" " else line[5:])
                continue
            if line[0] == _COLON:
                continue  # a comment (keep-alives)
            name, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            self._seen_field = True
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value
            elif name == b"id":
                # The spec ignores ids containing NUL: they could not be echoed back in Last-Event-ID.
                if b"\0" not in value:
                    self._id = value.decode("utf-8", "replace")
            elif name == b"retry":
                if value.isdigit():
                    self._retry = int(value)
            # Any other field name is ignored, as the spec requires.
        return messages

    def _dispatch(self) -> SseMessage | None:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry, self._seen_field = [], None, None, False
        if not data:
            # `id` persists across messages (it is the stream's last-event id); event/retry do not.
            return None
        return SseMessage(
            data=data[0] if len(data) == 1 else b"\n".join(data),
            event="message" if event is None else event.decode("utf-8", "replace"),
            id=self._id,
            retry=retry,
        )


def parse_stream(body: bytes) -> list[SseMessage]:
    """Every message in a complete body, in order (an unterminated last message is dropped)."""
    decoder = SseDecoder()
    return decoder.feed(body) + decoder.finish()
