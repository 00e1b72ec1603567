"""The simulator's script: what each request gets, queued first-in first-out per endpoint.

Contract: an entry is either a streamed `Reply` (output items plus fault knobs) or an `HttpError` (status,
JSON body, headers). Faults count *events* (SSE messages) from the start of the stream: `cut_after=N` sends
N events then closes the socket mid-body; `stall_after=N` sends N events then waits on `gate` until the test
calls `gate.release()` (or `stall_seconds` pass), and `stall_headers=True` waits on it before the response
headers (an upstream slow to answer at all); `malformed_after=N` inserts one unparsable `data:` message
after N events (it carries no sequence number). `end` picks the terminal event: completed, failed,
incomplete, an `error` event, or `"eof"` (a clean close with no terminal event at all).

Faults in the bytes of events that are otherwise sent as usual: `garble` damages the `data` of the events it
matches (`Garble`: an invalid UTF-8 byte, or a payload cut in half); `completed_output=False` leaves
`response.completed`'s output list empty, as some OpenAI-compatible servers do; `ascii_only` escapes every non-ASCII
character as `\\uXXXX` UTF-16 code units, as Python's `json.dumps` does, so a `Text` whose deltas cut a
surrogate pair in two sends each half as a lone surrogate escape (`Text.from_deltas(["\\ud83d", "\\ude00"])`).
Without these knobs every event has the real API's shape.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio.to_thread

__all__ = ["Entry", "FunctionCall", "Gate", "Garble", "HttpError", "Reasoning", "Reply", "Text", "Usage"]


@dataclass(frozen=True)
class Text:
    """An assistant message streamed as `deltas` roughly equal `output_text.delta` events."""

    text: str
    deltas: int = 1
    chunks: tuple[str, ...] | None = None

    @classmethod
    def from_deltas(cls, deltas: Sequence[str]) -> Text:
        """A message streamed as exactly these deltas."""
        return cls("".join(deltas), len(deltas), tuple(deltas))

    @classmethod
    def words(cls, count: int) -> Text:
        """A message of `count` words, one delta per word (benchmarks: `Text.words(5000)`)."""
        return cls.from_deltas([f"word{i} " for i in range(count)])

    def pieces(self) -> list[str]:
        return list(self.chunks) if self.chunks is not None else split_text(self.text, self.deltas)


@dataclass(frozen=True)
class Reasoning:
    """A reasoning item: summary parts (streamed as summary deltas), optional raw text, encrypted content."""

    summary: Sequence[str] = ("Considering the request.",)
    content: Sequence[str] = ()
    encrypted_content: str | None = "gAAAAB-simulated-reasoning"
    deltas: int = 1


@dataclass(frozen=True)
class FunctionCall:
    """A `function_call` item; `call_id` is generated when None. Arguments stream as `deltas` pieces."""

    name: str
    arguments: str = "{}"
    call_id: str | None = None
    deltas: int = 1


@dataclass(frozen=True)
class Usage:
    """Figures for `response.completed`; `total_tokens` is input + output."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + self.output_tokens,
        }


class Gate:
    """A pause point shared by a test and a simulator thread: `reached` once the stream stalls, `release()`."""

    def __init__(self) -> None:
        self._reached = threading.Event()
        self._released = threading.Event()

    @property
    def reached(self) -> bool:
        return self._reached.is_set()

    def release(self) -> None:
        self._released.set()

    def wait_reached(self, timeout: float) -> bool:
        """Block until the stall point is reached (True) or `timeout` seconds pass (False)."""
        return self._reached.wait(timeout)

    async def wait_reached_async(self, timeout: float) -> bool:
        """`wait_reached` without blocking the event loop."""
        return await anyio.to_thread.run_sync(self._reached.wait, timeout)

    def pause(self, max_seconds: float) -> None:
        """Called by the simulator: mark the stall point reached and wait for release (bounded)."""
        self._reached.set()
        self._released.wait(max_seconds)


@dataclass(frozen=True)
class Garble:
    """Damage to the encoded `data` of the events it matches: of type `event` (any type when None), whose output
    item is of type `item` (when set), whose payload contains `containing` (when set). `replace` swaps bytes in
    the payload — `(b"@@", b"\\xff")` puts an invalid UTF-8 byte wherever the text says `@@`, and
    `(b'"status":"completed"', b'"status":"completed\\xff"')` damages an item's enum — and `truncate` cuts the
    payload in half, so it is no JSON at all. A damaged event keeps its place and sequence number."""

    event: str | None = None
    item: str | None = None
    containing: bytes | None = None
    replace: tuple[bytes, bytes] | None = None
    truncate: bool = False

    def apply(self, event: Mapping[str, Any], data: bytes) -> bytes:
        if self.event is not None and event.get("type") != self.event:
            return data
        if self.item is not None and (event.get("item") or {}).get("type") != self.item:
            return data
        if self.containing is not None and self.containing not in data:
            return data
        if self.replace is not None:
            data = data.replace(*self.replace)
        return data[: len(data) // 2] if self.truncate else data


Output = Text | Reasoning | FunctionCall
Ending = Literal["completed", "failed", "incomplete", "error", "eof"]


@dataclass
class Reply:
    """A streamed answer. Empty `output` means the default reply (a short text echoing the user)."""

    output: Sequence[Output] = ()
    usage: Usage | None = None
    end: Ending = "completed"
    error_code: str = "server_error"
    error_message: str = "The server had an error while processing your request. Sorry about that!"
    incomplete_reason: str = "max_output_tokens"
    cut_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 30.0
    stall_headers: bool = False
    gate: Gate = field(default_factory=Gate)
    malformed_after: int | None = None
    garble: Sequence[Garble] = ()
    ascii_only: bool = False
    completed_output: bool = True
    """False: `response.completed` lists no output (`"output": []`), as some OpenAI-compatible servers send it."""
    event_delay: float = 0.0
    compaction_at: int = 0
    """Where an inline compaction item goes among the output items (0: before the first one)."""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, text: str, *, deltas: int = 1, **options: Any) -> Reply:
        return cls(output=[Text(text, deltas)], **options)

    @classmethod
    def tool_call(cls, name: str, arguments: str = "{}", *, call_id: str | None = None, **options: Any) -> Reply:
        return cls(output=[FunctionCall(name, arguments, call_id)], **options)


@dataclass(frozen=True)
class HttpError:
    """A non-streamed error answer. `body` is JSON-encoded unless it is bytes (sent as is)."""

    status: int
    body: Mapping[str, Any] | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def api_error(
        cls,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> HttpError:
        body = {"error": {"message": message, "type": type, "param": param, "code": code}}
        return cls(status, body, dict(headers or {}))

    @classmethod
    def rate_limited(cls, *, retry_after: str | None = "0", message: str | None = None) -> HttpError:
        text = message or "Rate limit reached for requests. Please try again in 20ms."
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return cls.api_error(429, text, code="rate_limit_exceeded", type="requests", headers=headers)

    @classmethod
    def server_error(cls, status: int = 500) -> HttpError:
        return cls.api_error(status, "The server had an error while processing your request.", type="server_error")

    @classmethod
    def bad_request(cls, message: str, *, code: str | None = None, param: str | None = None) -> HttpError:
        return cls.api_error(400, message, code=code, param=param)

    @classmethod
    def unauthorized(cls, message: str = "Incorrect API key provided.") -> HttpError:
        return cls.api_error(401, message, code="invalid_api_key")

    @classmethod
    def usage_limit(cls) -> HttpError:
        return cls(
            429,
            {
                "error": {
                    "type": "usage_limit_reached",
                    "message": "You've hit your usage limit.",
                    "plan_type": "plus",
                    "resets_in_seconds": 3600,
                }
            },
        )


Entry = Reply | HttpError


def split_text(text: str, parts: int) -> list[str]:
    """`text` in `parts` contiguous, non-empty pieces (fewer when the text is shorter than `parts`)."""
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces
