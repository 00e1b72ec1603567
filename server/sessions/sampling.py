"""One sampling request: stream a ``/responses`` call and turn its events into items and notifications.

Contract:
- Each output item is announced as it streams (``item/started`` → deltas → ``item/completed``); the
  concatenated ``item/agentMessage/delta`` text equals the completed item's text byte for byte (a gap the
  stream skipped is sent as a final delta before the item completes).
- An attempt is atomic for the model-visible history: its output items are returned only once
  ``response.completed`` arrived. A stream that breaks is retried (``error {willRetry: true}``, up to the
  provider's ``stream_max_retries``) with the same request, so a partial attempt — in particular one that
  streamed a compaction item — commits nothing.
- The one exception is a steer (``ActiveTurn.preempt``), as Codex does it: input waiting cuts the attempt
  short between two events (never inside one, so no item is left half-shown), and only its completed messages
  are kept (``kept_when_cut_short``). The next request carries the input at once.
- Request-level retries (the client's, before a stream opens) are silent as Codex's are, except a wait the
  server asked for (``Retry-After``, "try again in"), which is announced like a stream retry.
- Any other upstream failure raises ``TurnFailed`` with the error mapped to ``codexErrorInfo``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec

from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.types import (
    AgentMessageDeltaNotification,
    AgentMessageThreadItem,
    CodexErrorInfo,
    ErrorNotification,
    ReasoningSummaryPartAddedNotification,
    ReasoningSummaryTextDeltaNotification,
    ReasoningTextDeltaNotification,
    ReasoningThreadItem,
    TurnError,
)
from protocol.codec import FrameTemplate

from ..compaction.items import is_compaction
from ..ids import uuid7
from ..upstream.client import ResponsesClient
from ..upstream.errors import HttpStatusError, ResponseFailed, StreamError, UpstreamError
from ..upstream.events import (
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ReasoningSummaryPartAdded,
    ReasoningSummaryTextDelta,
    ReasoningTextDelta,
    ResponseCompleted,
    Usage,
)
from ..upstream.retry import MAX_SERVER_DELAY, RetryNotice, backoff_delay
from ..upstream.stream import EventStream
from .convert import output_to_thread_item
from .turn import ActiveTurn, Shown, TurnFailed, turn_error

__all__ = ["Sampled", "sample", "upstream_turn_error"]

logger = logging.getLogger(__name__)


@dataclass
class Sampled:
    outputs: list[dict[str, Any]]
    usage: Usage | None
    model: str | None = None
    preempted: bool = False
    """Cut short by steered input: ``outputs`` is what the model may keep of it (``kept_when_cut_short``)."""


def _wire_info(info: Any) -> CodexErrorInfo | None:
    try:
        return msgspec.convert(info, type=CodexErrorInfo)  # type: ignore[arg-type]
    except msgspec.ValidationError:
        return "other"


def upstream_turn_error(exc: UpstreamError) -> TurnError:
    return turn_error(exc.message, _wire_info(exc.codex_error_info()))


def kept_when_cut_short(outputs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a response cut short by a steer leaves the model: its completed messages, each with the reasoning
    right before it, up to any checkpoint (one applies only at response.completed). No call (it was never shown
    or run), and no reasoning that led to anything else (the API refuses reasoning without its next item)."""
    kept: list[dict[str, Any]] = []
    for index, item in enumerate(outputs):
        if is_compaction(item):
            break
        kind = item.get("type")
        following = outputs[index + 1].get("type") if index + 1 < len(outputs) else None
        if kind == "message" or (kind == "reasoning" and following == "message"):
            kept.append(item)
    return kept


@dataclass
class _Open:
    """One upstream output item of this attempt and the client item standing for it."""

    item_id: str
    kind: str
    shown: Shown = field(default_factory=Shown)
    announced: bool = False
    deltas: FrameTemplate | None = None  # the item's `item/agentMessage/delta` frames, once it is announced


class _Attempt:
    """The per-attempt mapping from upstream item ids to client items.

    A client item is announced (``item/started``) with its first visible content, not when the upstream item
    is added, so an attempt that breaks before showing anything leaves nothing behind.
    """

    def __init__(self, turn: ActiveTurn) -> None:
        self.turn = turn
        self.open: dict[str, _Open] = {}
        self.outputs: list[dict[str, Any]] = []

    @staticmethod
    def key(item_id: str | None, index: int) -> str:
        return item_id or f"#{index}"

    def added(self, event: OutputItemAdded) -> None:
        kind = event.item.get("type")
        key = self.key(event.item.get("id"), event.output_index)
        if kind == "message" and event.item.get("role", "assistant") == "assistant":
            self.open[key] = _Open(uuid7(), "message")
        elif kind == "reasoning":
            self.open[key] = _Open(uuid7(), "reasoning")

    async def _announce(self, state: _Open) -> None:
        if state.announced:
            return
        state.announced = True
        self.turn.streamed[state.item_id] = state.shown  # shared: the turn's ending sees what was shown
        if state.kind == "message":
            item: Any = AgentMessageThreadItem(id=state.item_id, text="", phase=None, delivery=None,
                                               memory_citation=None, questions=None)
            state.deltas = FrameTemplate(N.ITEM_AGENT_MESSAGE_DELTA, AgentMessageDeltaNotification(
                thread_id=self.turn.thread_id, turn_id=self.turn.turn_id, item_id=state.item_id, delta=""), "delta")
        else:
            item = ReasoningThreadItem(id=state.item_id, summary=[], content=[])
        await self.turn.item_started(item)

    def _state(self, item_id: str, index: int) -> _Open | None:
        return self.open.get(self.key(item_id, index))

    async def text_delta(self, event: OutputTextDelta) -> None:
        state = self._state(event.item_id, event.output_index)
        if state is not None and event.delta:
            await self._delta(state, event.delta)

    async def _delta(self, state: _Open, delta: str) -> None:
        if not state.announced:
            await self._announce(state)
        state.shown.text.append(delta)
        assert state.deltas is not None  # made when the message was announced
        await self.turn.session.emit_frame(state.deltas, delta)

    async def reasoning(self, event: ReasoningSummaryPartAdded | ReasoningSummaryTextDelta | ReasoningTextDelta) -> None:
        state = self._state(event.item_id, event.output_index)
        if state is None:
            return
        await self._announce(state)
        ids = {"thread_id": self.turn.thread_id, "turn_id": self.turn.turn_id, "item_id": state.item_id}
        if isinstance(event, ReasoningSummaryPartAdded):
            state.shown.summary.setdefault(event.summary_index, [])
            note: Any = ReasoningSummaryPartAddedNotification(summary_index=event.summary_index, **ids)
            method = N.ITEM_REASONING_SUMMARY_PART_ADDED
        elif isinstance(event, ReasoningSummaryTextDelta):
            state.shown.summary.setdefault(event.summary_index, []).append(event.delta)
            note = ReasoningSummaryTextDeltaNotification(delta=event.delta, summary_index=event.summary_index, **ids)
            method = N.ITEM_REASONING_SUMMARY_TEXT_DELTA
        else:
            note = ReasoningTextDeltaNotification(delta=event.delta, content_index=event.content_index, **ids)
            method = N.ITEM_REASONING_TEXT_DELTA
        await self.turn.session.emit(method, note)

    async def done(self, event: OutputItemDone) -> None:
        item = event.item
        self.outputs.append(item)
        shown = output_to_thread_item(item)
        if shown is None:
            return
        key = self.key(item.get("id"), event.output_index)
        state = self.open.pop(key, None) or _Open(uuid7(), "message" if item.get("type") == "message" else "reasoning")
        await self._announce(state)
        shown = msgspec.structs.replace(shown, id=state.item_id)
        if isinstance(shown, AgentMessageThreadItem):
            streamed = "".join(state.shown.text)
            if shown.text != streamed:
                if shown.text.startswith(streamed):
                    await self._delta(state, shown.text[len(streamed):])
                else:
                    logger.warning("turn %s: streamed text differs from the final message", self.turn.turn_id)
            self.turn.last_message = shown
        await self.turn.item_completed(shown)

    async def abandon(self) -> None:
        """The attempt broke: what it showed completes as shown (a partial answer); nothing unseen remains."""
        for state in self.open.values():
            entry = self.turn.open_items.get(state.item_id)
            closed = self.turn.closing_version(entry[0]) if entry is not None else None
            if closed is None:
                self.turn.forget_open(state.item_id)
            else:
                await self.turn.item_completed(closed)
        self.open.clear()


async def _consume(attempt: _Attempt, events: EventStream) -> Sampled | None:
    """The attempt's events until ``response.completed``; None when steered input cut it short."""
    turn = attempt.turn
    async for event in events:
        turn.waiting_upstream = False  # handling an event is never cut into: a steer waits for its end
        if turn.sampling is not None and turn.sampling.cancel_called:
            return None  # a steer cancelled the wait just as this event arrived: drop it, or the pending
            # cancel would land inside its handling (an item half-shown, a frame lost)
        if isinstance(event, OutputTextDelta):
            await attempt.text_delta(event)
        elif isinstance(event, OutputItemAdded):
            attempt.added(event)
        elif isinstance(event, OutputItemDone):
            await attempt.done(event)
        elif isinstance(event, ReasoningSummaryPartAdded | ReasoningSummaryTextDelta | ReasoningTextDelta):
            await attempt.reasoning(event)
        elif isinstance(event, ResponseCompleted):
            return Sampled(attempt.outputs, event.response.usage, event.response.model)
        if turn.pending_inputs:
            return None
        turn.waiting_upstream = True
    raise StreamError("stream ended without response.completed")


async def _announce_retry(turn: ActiveTurn, error: UpstreamError, attempt: int, limit: int) -> None:
    # As Codex: every retry notice says "reconnecting", with the HTTP status when there was one; the cause
    # itself goes in additionalDetails, and its own codexErrorInfo only on the final failure.
    status = error.status if isinstance(error, HttpStatusError) else None
    info = _wire_info({"responseStreamDisconnected": {"httpStatusCode": status}})
    await turn.session.emit(N.ERROR, ErrorNotification(
        thread_id=turn.thread_id, turn_id=turn.turn_id, will_retry=True,
        error=turn_error(f"Reconnecting... {attempt}/{limit}", info, error.message)))


async def sample(turn: ActiveTurn, client: ResponsesClient, body: dict[str, Any]) -> Sampled:
    """Run one sampling request to completion, retrying broken streams; raises ``TurnFailed``.

    Input steered in while it streams cuts it short (``ActiveTurn.preempt``), as Codex does: the loop's next
    request carries the input at once instead of after the whole response."""
    limit = client.provider.stream_max_retries

    async def on_retry(notice: RetryNotice) -> None:
        # Codex retries a transport error or a 5xx before the stream opens without a word; so do we. A wait
        # the server asked for (Retry-After, "try again in") can run to MAX_SERVER_DELAY, so it is announced:
        # a client should know why the turn went quiet.
        if notice.error.retry_after is None:
            return
        with anyio.CancelScope(shield=True):  # a steer cuts the retry's pause, never its notice
            await _announce_retry(turn, notice.error, notice.attempt, notice.max_attempts)

    failures = 0
    while True:
        if turn.pending_inputs:  # steered in while the last attempt failed: the next request carries it
            return Sampled([], None, preempted=True)
        attempt = _Attempt(turn)
        try:
            with _preemptible(turn):
                async with client.stream(body, on_retry=on_retry) as events:
                    sampled = await _consume(attempt, events)
                if sampled is not None:
                    return sampled
            # Steered (between two events, or while waiting on upstream): what was shown ends as shown.
            await attempt.abandon()
            return Sampled(kept_when_cut_short(attempt.outputs), None, preempted=True)
        except (StreamError, ResponseFailed) as exc:
            # A broken stream, or a response.failed the server marks as worth retrying (server_error, overload,
            # "try again in"): none of the attempt's output reaches the model's history, the same request goes again.
            await attempt.abandon()
            delay = exc.retry_after if exc.retry_after is not None else backoff_delay(failures + 1, random.random)
            if not exc.retryable or failures >= limit or delay > MAX_SERVER_DELAY:
                raise TurnFailed(upstream_turn_error(exc)) from exc
            failures += 1
            await _announce_retry(turn, exc, failures, limit)
            with _preemptible(turn):
                await anyio.sleep(delay)  # a steer ends the pause: the next request carries it
        except UpstreamError as exc:
            raise TurnFailed(upstream_turn_error(exc)) from exc


@contextmanager
def _preemptible(turn: ActiveTurn) -> Iterator[None]:
    """A stretch of waiting on upstream that a steer may cancel (``ActiveTurn.preempt``)."""
    with anyio.CancelScope() as scope:
        turn.sampling, turn.waiting_upstream = scope, True
        if turn.pending_inputs:
            scope.cancel()  # steered while nothing could be cut (an error being handled): stop at the first wait
        try:
            yield
        finally:
            turn.sampling, turn.waiting_upstream = None, False
