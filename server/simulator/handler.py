"""One HTTP connection of the simulator: decode the request, record it, answer from the script.

Contract, per `POST {prefix}/responses` and `POST {prefix}/responses/compact`, in this order:
1. the body is read (Content-Length), zstd-decoded when `Content-Encoding: zstd` (or refused with 400
   `invalid_json` when the simulator's `refuse_zstd` switch is on), JSON-decoded, and recorded;
2. a scripted `HttpError` at the head of that endpoint's queue is answered as is;
3. the switches reject what they are set to reject (`context_management`, `compaction_trigger`, a missing
   compact endpoint, a context window exceeded) — without consuming a scripted reply;
4. the next scripted `Reply` (or the default reply) is streamed, or the compaction answer is sent.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import msgspec
import zstandard

from server.simulator import compaction as c
from server.simulator.script import HttpError, Reply, Text
from server.simulator.stream import ResponseStream

if TYPE_CHECKING:
    from server.simulator.server import RecordedRequest, Simulator

__all__ = ["SimulatorHandler"]

logger = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_FLUSH_BYTES = 16 * 1024  # batch small events into fewer syscalls unless the reply asks for pacing
_INVALID_JSON = HttpError.api_error(400, "Request body must be valid JSON.", code="invalid_json")
_UNKNOWN_CM = HttpError.api_error(
    400, "Unknown parameter: 'context_management'.", code="unknown_parameter", param="context_management"
)
_BAD_TRIGGER = HttpError.api_error(
    400,
    "Invalid value: 'compaction_trigger'. Supported values are: 'message', ...",
    code="invalid_value",
    param="input",
)


def _too_long(tokens: int, window: int) -> HttpError:
    message = (
        f"Your input exceeds the context window of this model ({tokens} > {window} tokens). "
        "Please adjust your input and try again."
    )
    return HttpError.api_error(400, message, code="context_length_exceeded", param="input")


class SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, like the real API
    server_version = "threadline-simulator"
    timeout = 60  # an idle keep-alive connection is dropped eventually; stop() closes them at once anyway

    @property
    def sim(self) -> Simulator:
        return self.server.simulator  # type: ignore[attr-defined]  # set by the simulator's server class

    def setup(self) -> None:
        super().setup()
        # As real API servers do: without it, Nagle holds a reply's small writes back until the client's delayed
        # ACK (~40 ms), which would dwarf everything a benchmark measures.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sim._track(self.connection, True)
        self.connection_number = self.sim._next_connection()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.sim._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's parameter name
        logger.debug("simulator: " + format, *args)

    def do_GET(self) -> None:
        self._send(HttpError.api_error(404, f"Invalid URL (GET {self.path})"))

    def do_POST(self) -> None:
        path, _, query = self.path.partition("?")
        length = self.headers.get("Content-Length")
        if length is None:
            self._send(HttpError.api_error(411, "Content-Length required."))
            return
        raw = self.rfile.read(int(length))
        compressed = self.headers.get("Content-Encoding", "").strip().lower() == "zstd"
        record = self.sim._record(self.command, path, query, dict(self.headers.items()), raw, compressed,
                                  self.connection_number)
        data = raw
        if compressed:
            if self.sim.refuse_zstd:
                self._send(_INVALID_JSON, record)
                return
            try:
                data = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
            except zstandard.ZstdError:
                self._send(_INVALID_JSON, record)
                return
        try:
            body = msgspec.json.decode(data)
        except msgspec.DecodeError:
            self._send(_INVALID_JSON, record)
            return
        record.body, record.size = body, len(data)
        if path == self.sim.prefix + "/responses":
            self._responses(body if isinstance(body, dict) else {}, record)
        elif path == self.sim.prefix + "/responses/compact":
            self._compact(body if isinstance(body, dict) else {}, record)
        else:
            self._send(HttpError.api_error(404, f"Invalid URL (POST {path})"), record)

    def _responses(self, body: dict[str, Any], record: RecordedRequest) -> None:
        scripted = self.sim._take_error("responses")
        if scripted is not None:
            self._send(scripted, record)
            return
        items = c.input_items(body)
        trigger = c.is_compaction_trigger(items)
        if self.sim.reject_context_management and "context_management" in body:
            self._send(_UNKNOWN_CM, record)
            return
        if trigger and self.sim.reject_compaction_trigger:
            self._send(_BAD_TRIGGER, record)
            return
        tokens = c.estimate_tokens(items[:-1] if trigger else items)
        window = self.sim.context_window
        if window is not None and tokens > window:
            self._send(_too_long(tokens, window), record)
            return
        reply = self.sim._take_reply("responses") or Reply()
        plan: list[Any] = list(reply.output) or [Text(self.sim.default_text(items), deltas=8)]
        threshold = c.inline_threshold(body)
        if trigger:
            # The real server answers a trigger with exactly one compaction item, whatever else was scripted.
            plan = [c.compaction_item(summarized=len(items) - 1)]
            tokens = c.estimate_tokens([plan[0]])
        elif threshold is not None and tokens > threshold:
            item = c.compaction_item(summarized=len(c.effective_input(items)))
            plan.insert(min(reply.compaction_at, len(plan)), item)
            tokens = c.estimate_tokens([item])
        stream = ResponseStream(reply, plan, model=str(body.get("model") or self.sim.model), input_tokens=tokens)
        record.status = 200
        self._stream(reply, stream)

    def _compact(self, body: dict[str, Any], record: RecordedRequest) -> None:
        scripted = self.sim._take_error("compact")
        if scripted is not None:
            self._send(scripted, record)
            return
        if not self.sim.compact_endpoint:
            self._send(HttpError.api_error(404, f"Invalid URL (POST {self.sim.prefix}/responses/compact)"), record)
            return
        items = c.input_items(body)
        tokens = c.estimate_tokens(items)
        window = self.sim.context_window
        if window is not None and tokens > window:
            self._send(_too_long(tokens, window), record)
            return
        output = [*c.user_messages(items), c.compaction_item(summarized=len(c.effective_input(items)))]
        after = c.estimate_tokens(output)
        usage = {
            "input_tokens": tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": after,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": tokens + after,
        }
        answer = {
            "id": f"resp_cmp_{record.index:06d}",
            "object": "response.compaction",
            "created_at": int(time.time()),
            "output": output,
            "usage": usage,
        }
        self._send_json(200, _encoder.encode(answer), {}, record)

    def _send(self, entry: HttpError, record: RecordedRequest | None = None) -> None:
        body = entry.body if isinstance(entry.body, bytes) else _encoder.encode(entry.body or {})
        self._send_json(entry.status, body, entry.headers, record)

    def _send_json(self, status: int, body: bytes, headers: Mapping[str, str], record: RecordedRequest | None) -> None:
        if record is not None:
            record.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", f"req_sim_{record.index if record else 0:06d}")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, reply: Reply, stream: ResponseStream) -> None:
        if reply.stall_headers:
            self.sim._stall(reply.gate, reply.stall_seconds)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_{stream.id}")
        self.send_header("openai-model", stream.model)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        buffer = bytearray()
        sent = 0
        try:
            for event in stream.events():
                if self._fault(reply, sent, buffer):
                    return
                data = _encode_ascii(event) if reply.ascii_only else _encoder.encode(event)
                for garble in reply.garble:
                    data = garble.apply(event, data)
                _chunk(buffer, b"event: " + event["type"].encode() + b"\ndata: " + data + b"\n\n")
                sent += 1
                if reply.event_delay:
                    self._flush(buffer)
                    time.sleep(reply.event_delay)  # pacing the stream is the simulator's job, not a test wait
                elif len(buffer) >= _FLUSH_BYTES:
                    self._flush(buffer)
            if self._fault(reply, sent, buffer):  # a fault placed after the last event: before the body's end
                return
            buffer += b"0\r\n\r\n"
            self._flush(buffer)
        except OSError:
            # The client went away (interrupt, idle timeout): nothing to answer, just drop the connection.
            self.close_connection = True

    def _fault(self, reply: Reply, sent: int, buffer: bytearray) -> bool:
        """Play the reply's fault due after `sent` events; True when the stream was cut (nothing more to send)."""
        if reply.cut_after is not None and sent >= reply.cut_after:
            self._flush(buffer)
            self._cut()
            return True
        if reply.stall_after is not None and sent == reply.stall_after:
            self._flush(buffer)
            self.sim._stall(reply.gate, reply.stall_seconds)
        if reply.malformed_after is not None and sent == reply.malformed_after:
            _chunk(buffer, b'data: {"type": "response.output_text.delta", "delta": \n\n')
        return False

    def _flush(self, buffer: bytearray) -> None:
        if buffer:
            self.wfile.write(bytes(buffer))
            buffer.clear()

    def _cut(self) -> None:
        # Close mid-body with no terminating chunk: the client sees an incomplete chunked read.
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _ascii_string(text: str) -> str:
    # UTF-16 code units, as JSON's \u escapes count them: a lone surrogate (half of a pair a delta cut off) is
    # escaped on its own, which UTF-8 itself (and so msgspec) could not carry.
    units = text.encode("utf-16-le", "surrogatepass")
    out = ['"']
    for index in range(0, len(units), 2):
        code = units[index] | units[index + 1] << 8
        char = chr(code)
        out.append(char if 0x20 <= code < 0x7F and char not in '"\\' else f"\\u{code:04x}")
    out.append('"')
    return "".join(out)


def _encode_ascii(value: Any) -> bytes:
    """`value` as JSON with only ASCII in it, every other character escaped (Python's `json.dumps` default)."""
    return _ascii_json(value).encode()


def _ascii_json(value: Any) -> str:
    if isinstance(value, str):
        return _ascii_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(_ascii_string(str(k)) + ":" + _ascii_json(v) for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_ascii_json(v) for v in value) + "]"
    return _encoder.encode(value).decode()  # numbers, booleans, null


def _chunk(buffer: bytearray, data: bytes) -> None:
    buffer += b"%x\r\n" % len(data)
    buffer += data
    buffer += b"\r\n"
