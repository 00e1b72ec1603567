"""Builds the event sequence of one streamed response, shaped like the real Responses API.

Contract: `ResponseStream(...).events()` yields event dicts lazily, each with `type` and an increasing
`sequence_number`: `response.created`, `response.in_progress`, then per output item `output_item.added`,
its content events (content parts + text deltas; reasoning summary parts + deltas; function-call argument
deltas; `response.compaction.compacting`), `output_item.done` with the complete item, and finally the
terminal event chosen by the reply (`response.completed` with usage and the full `output`, `.failed`,
`.incomplete`, an `error` event, or none). As the real API ends a message cut by `max_output_tokens`, a reply
ending `incomplete` whose last item is a message gives that message `status: "incomplete"`. Shapes are checked
against the `openai` package's types in tests.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from typing import Any

from server.simulator.script import FunctionCall, Reasoning, Reply, Text, Usage, split_text

__all__ = ["ResponseStream"]

_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_sim_{next(_ids):06d}"


class ResponseStream:
    """One response: its id, the planned output (`Text`/`Reasoning`/`FunctionCall` or ready compaction dicts)."""

    def __init__(self, reply: Reply, plan: Sequence[Any], *, model: str, input_tokens: int) -> None:
        self.reply = reply
        self.plan = list(plan)
        self.model = model
        self.input_tokens = input_tokens
        self.id = _new_id("resp")
        self.created_at = int(time.time())
        self.output: list[dict[str, Any]] = []
        self._seq = itertools.count()
        self._output_chars = 0
        self._reasoning_chars = 0

    def _event(self, type_: str, **fields: Any) -> dict[str, Any]:
        return {"type": type_, "sequence_number": next(self._seq), **fields}

    def _response(self, status: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.model,
            "output": list(self.output) if status != "in_progress" and self.reply.completed_output else [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "error": None,
            "incomplete_details": None,
            "usage": None,
            **fields,
        }

    def events(self) -> Iterator[dict[str, Any]]:
        yield self._event("response.created", response=self._response("in_progress"))
        yield self._event("response.in_progress", response=self._response("in_progress"))
        for index, part in enumerate(self.plan):
            if isinstance(part, Text):
                yield from self._message(index, part)
            elif isinstance(part, Reasoning):
                yield from self._reasoning(index, part)
            elif isinstance(part, FunctionCall):
                yield from self._function_call(index, part)
            else:
                yield from self._compaction(index, part)
        yield from self._ending()

    def _added(self, index: int, item: dict[str, Any]) -> dict[str, Any]:
        return self._event("response.output_item.added", output_index=index, item=item)

    def _done(self, index: int, item: dict[str, Any]) -> dict[str, Any]:
        self.output.append(item)
        return self._event("response.output_item.done", output_index=index, item=item)

    def _message(self, index: int, text: Text) -> Iterator[dict[str, Any]]:
        item_id = _new_id("msg")
        base = {"id": item_id, "type": "message", "role": "assistant"}
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        yield self._added(index, {**base, "status": "in_progress", "content": []})
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        yield self._event("response.content_part.added", **where, part=empty)
        for piece in text.pieces():
            yield self._event("response.output_text.delta", **where, delta=piece, logprobs=[])
        self._output_chars += len(text.text)
        yield self._event("response.output_text.done", **where, text=text.text, logprobs=[])
        part = {"type": "output_text", "text": text.text, "annotations": [], "logprobs": []}
        yield self._event("response.content_part.done", **where, part=part)
        cut = self.reply.end == "incomplete" and index == len(self.plan) - 1  # the limit stopped this one
        yield self._done(index, {**base, "status": "incomplete" if cut else "completed", "content": [part]})

    def _reasoning(self, index: int, reasoning: Reasoning) -> Iterator[dict[str, Any]]:
        item_id = _new_id("rs")
        base: dict[str, Any] = {"id": item_id, "type": "reasoning"}
        if reasoning.encrypted_content is not None:
            base["encrypted_content"] = reasoning.encrypted_content
        where = {"item_id": item_id, "output_index": index}
        yield self._added(index, {**base, "summary": [], "status": "in_progress"})
        for s_index, summary in enumerate(reasoning.summary):
            at = {**where, "summary_index": s_index}
            yield self._event("response.reasoning_summary_part.added", **at, part={"type": "summary_text", "text": ""})
            for piece in split_text(summary, reasoning.deltas):
                yield self._event("response.reasoning_summary_text.delta", **at, delta=piece)
            yield self._event("response.reasoning_summary_text.done", **at, text=summary)
            yield self._event(
                "response.reasoning_summary_part.done", **at, part={"type": "summary_text", "text": summary}
            )
            self._reasoning_chars += len(summary)
        for c_index, content in enumerate(reasoning.content):
            at = {**where, "content_index": c_index}
            for piece in split_text(content, reasoning.deltas):
                yield self._event("response.reasoning_text.delta", **at, delta=piece)
            yield self._event("response.reasoning_text.done", **at, text=content)
            self._reasoning_chars += len(content)
        item = {**base, "summary": [{"type": "summary_text", "text": s} for s in reasoning.summary]}
        if reasoning.content:
            item["content"] = [{"type": "reasoning_text", "text": c} for c in reasoning.content]
        yield self._done(index, {**item, "status": "completed"})

    def _function_call(self, index: int, call: FunctionCall) -> Iterator[dict[str, Any]]:
        item_id = _new_id("fc")
        base = {"id": item_id, "type": "function_call", "call_id": call.call_id or _new_id("call"), "name": call.name}
        where = {"item_id": item_id, "output_index": index}
        yield self._added(index, {**base, "arguments": "", "status": "in_progress"})
        for piece in split_text(call.arguments, call.deltas):
            yield self._event("response.function_call_arguments.delta", **where, delta=piece)
        yield self._event("response.function_call_arguments.done", **where, arguments=call.arguments)
        self._output_chars += len(call.arguments)
        yield self._done(index, {**base, "arguments": call.arguments, "status": "completed"})

    def _compaction(self, index: int, item: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield self._added(index, {"type": "compaction", "id": item["id"], "encrypted_content": ""})
        yield self._event("response.compaction.compacting", item_id=item["id"], output_index=index)
        yield self._done(index, item)

    def usage(self) -> Usage:
        if self.reply.usage is not None:
            return self.reply.usage
        reasoning = -(-self._reasoning_chars // 4)
        output = -(-self._output_chars // 4) + reasoning
        return Usage(input_tokens=self.input_tokens, output_tokens=output, reasoning_tokens=reasoning)

    def _ending(self) -> Iterator[dict[str, Any]]:
        reply = self.reply
        if reply.end == "completed":
            response = self._response("completed", usage=self.usage().to_wire())
            yield self._event("response.completed", response=response)
        elif reply.end == "failed":
            error = {"code": reply.error_code, "message": reply.error_message}
            yield self._event("response.failed", response=self._response("failed", error=error))
        elif reply.end == "incomplete":
            details = {"reason": reply.incomplete_reason}
            yield self._event("response.incomplete", response=self._response("incomplete", incomplete_details=details))
        elif reply.end == "error":
            yield self._event("error", code=reply.error_code, message=reply.error_message, param=None)
