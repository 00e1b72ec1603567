"""One sampling request: stream a ``/responses`` call and turn its events into items and notifications.

Contract:
- Each output item is announced as it streams (``item/started`` → deltas → ``item/completed``); the
  concatenated ``item/agentMessage/delta`` text equals the completed item's text byte for byte (a gap the
  stream skipped is sent as a final delta before the item completes), and that text is what is stored and what
  the model is sent back. When the deltas shown are not the start of the final text (a delta was lost), they
  complete as a ``partial_answer`` item (never sent to the model) and the message follows whole as its own item.
- ``response.completed`` settles the response's items: an output item whose ``output_item.done`` was lost, or
  arrived with repaired text, completes from the response's ``output`` list (``server.upstream.outputs``), so a
  message still reaches the history and a tool call still runs; a message shown but given by neither completes
  as shown. Half of a surrogate pair split between two deltas is held back until its other half comes.
- An attempt is atomic for the model-visible history: its output items are returned only once
  ``response.completed`` arrived. A stream that breaks is retried (``error {willRetry: true}``, up to the
  provider's ``stream_max_retries``) with the same request, so a partial attempt — in particular one that
  streamed a compaction item — commits nothing.
- The one exception is a steer (``ActiveTurn.preempt``), as Codex does it: input waiting cuts the attempt
  short between two events (never inside one, so no item is left half-shown), and only its completed messages
  are kept (``kept_when_cut_short``). The next request carries the input at once.
- Request-level retries (the client's, before a stream opens) are silent as Codex's are, except a wait the
  server asked for (``Retry-After``, "try again in"), which is announced like a stream retry.
- Any other upstream failure raises ``TurnFailed`` with the error mapped to ``codexErrorInfo``. A response that
  ended for good (``response.incomplete``, a ``response.failed`` that is not retried) hands the messages it
  completed over with it (``TurnFailed.kept``): the user saw them, so the model's history keeps them.
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
    join_split_pairs,
)
from ..upstream.outputs import reconcile
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
    index: int = 0  # the upstream item's output_index
    shown: Shown = field(default_factory=Shown)
    announced: bool = False
    deltas: FrameTemplate | None = None  # the item's `item/agentMessage/delta` frames, once it is announced
    held: dict[tuple[str, int], str] = field(default_factory=dict)
    """Per stream of deltas (text, a summary part, reasoning content): a high surrogate that ended a repaired
    delta, not shown until the next delta brings its other half (``join_split_pairs``)."""


class _Attempt:
    """The per-attempt mapping from upstream item ids to client items.

    A client item is announced (``item/started``) with its first visible content, not when the upstream item
    is added, so an attempt that breaks before showing anything leaves nothing behind. ``response.completed``
    settles the attempt's items (``completed``): a lost or repaired ``output_item.done`` is made good from its list,
    and the outputs are returned in the response's order.
    """

    def __init__(self, turn: ActiveTurn) -> None:
        self.turn = turn
        self.open: dict[str, _Open] = {}
        self.outputs: list[dict[str, Any]] = []
        self._indexes: list[int] = []  # each output's output_index
        self._repaired: list[tuple[int, dict[str, Any]]] = []
        self._messages: list[tuple[int, AgentMessageThreadItem]] = []  # completed messages, by output_index

    @staticmethod
    def key(item_id: str | None, index: int) -> str:
        return item_id or f"#{index}"

    def added(self, event: OutputItemAdded) -> None:
        kind = event.item.get("type")
        key = self.key(event.item.get("id"), event.output_index)
        if kind == "message" and event.item.get("role", "assistant") == "assistant":
            self.open[key] = _Open(uuid7(), "message", event.output_index)
        elif kind == "reasoning":
            self.open[key] = _Open(uuid7(), "reasoning", event.output_index)

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
        state = self.open.get(self.key(item_id, index))
        if state is None and (key := self._key_at(index)) is not None:  # only when the id is not one we know
            state = self.open[key]
        return state

    def _key_at(self, index: int, kind: str | None = None) -> str | None:
        """The key of the open item at ``index`` (of ``kind``): some compatible servers (mistral.rs) name an item
        differently from one event to the next, but it keeps its place in the response."""
        return next((key for key, state in self.open.items()
                     if state.index == index and (kind is None or state.kind == kind)), None)

    @staticmethod
    def _showable(state: _Open, stream: tuple[str, int], delta: str, repaired: bool) -> str:
        """The part of a delta fit to show: a repaired one may hold half of a surrogate pair (see ``_Open.held``)."""
        if not repaired and not state.held:
            return delta  # a delta that decoded as it came holds no surrogate
        text, held = join_split_pairs(state.held.get(stream, ""), delta)
        if held:
            state.held[stream] = held
        else:  # nothing waits: the item's next deltas take the fast path again
            state.held.pop(stream, None)
        return text

    async def text_delta(self, event: OutputTextDelta) -> None:
        state = self._state(event.item_id, event.output_index)
        if state is None or not event.delta:
            return
        delta = event.delta
        if event.repaired or state.held:  # checked inline: this is the hot path, one call per delta
            delta = self._showable(state, ("text", 0), delta, True)
            if not delta:
                return
        await self._delta(state, delta)

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
        ids = {"thread_id": self.turn.thread_id, "turn_id": self.turn.turn_id, "item_id": state.item_id}
        if isinstance(event, ReasoningSummaryPartAdded):
            await self._announce(state)
            state.shown.summary.setdefault(event.summary_index, [])
            note: Any = ReasoningSummaryPartAddedNotification(summary_index=event.summary_index, **ids)
            method = N.ITEM_REASONING_SUMMARY_PART_ADDED
        elif isinstance(event, ReasoningSummaryTextDelta):
            delta = self._showable(state, ("summary", event.summary_index), event.delta, event.repaired)
            if not delta:
                return
            await self._announce(state)
            state.shown.summary.setdefault(event.summary_index, []).append(delta)
            note = ReasoningSummaryTextDeltaNotification(delta=delta, summary_index=event.summary_index, **ids)
            method = N.ITEM_REASONING_SUMMARY_TEXT_DELTA
        else:
            delta = self._showable(state, ("content", event.content_index), event.delta, event.repaired)
            if not delta:
                return
            await self._announce(state)
            note = ReasoningTextDeltaNotification(delta=delta, content_index=event.content_index, **ids)
            method = N.ITEM_REASONING_TEXT_DELTA
        await self.turn.session.emit(method, note)

    async def done(self, event: OutputItemDone) -> None:
        if event.repaired:
            # Its text was repaired, which may have damaged more than text (an enum, an id): it waits for
            # response.completed, whose copy of it is preferred when that arrived intact.
            self._repaired.append((event.output_index, event.item))
            return
        await self._complete(event.item, event.output_index)

    async def completed(self, event: ResponseCompleted) -> None:
        """Settle the attempt at ``response.completed``: items it lost or had repaired complete from the response's
        list, a message shown but never completed completes as shown, and the outputs take the response's order."""
        taken = list(zip(self._indexes, self.outputs, strict=True))
        for index, item in reconcile(taken, self._repaired, event.response.output, listed_intact=not event.repaired):
            logger.warning("turn %s: output item %d (%s) settled at response.completed: its output_item.done was "
                           "lost or repaired", self.turn.turn_id, index, item.get("type"))
            await self._complete(item, index)
        self._repaired = []
        for key, state in list(self.open.items()):
            text = "".join(state.shown.text)
            if state.kind == "message" and text:
                # Nothing completed it (no output_item.done, no copy in the list): what the client was shown is
                # all there is of it, and the model is sent the same, so the next turn does not lose it.
                logger.warning("turn %s: a message completed as shown, the response never gave it whole",
                               self.turn.turn_id)
                message = {"type": "message", "role": "assistant", "status": "completed",
                           "content": [{"type": "output_text", "text": text, "annotations": []}]}
                await self._complete(message, state.index, key)
        order = sorted(range(len(self.outputs)), key=self._indexes.__getitem__)
        self.outputs = [self.outputs[i] for i in order]
        self._indexes = [self._indexes[i] for i in order]
        if self._messages:  # the response's last message, though one settled late completed after it
            self.turn.last_message = sorted(self._messages, key=lambda pair: pair[0])[-1][1]

    async def _complete(self, item: dict[str, Any], index: int, key: str | None = None) -> None:
        """One authoritative output item: kept for the model, and its client item completed."""
        self.outputs.append(item)
        self._indexes.append(index)
        shown = output_to_thread_item(item)
        if shown is None:
            return
        kind = "message" if item.get("type") == "message" else "reasoning"
        key = key or self.key(item.get("id"), index)
        if key not in self.open:
            key = self._key_at(index, kind) or key
        state = self.open.pop(key, None) or _Open(uuid7(), kind, index)
        await self._announce(state)
        if isinstance(shown, AgentMessageThreadItem):
            streamed = "".join(state.shown.text)
            if not shown.text.startswith(streamed):
                state = await self._shown_apart(state, streamed)
                streamed = ""
            shown = msgspec.structs.replace(shown, id=state.item_id)
            if len(shown.text) > len(streamed):  # a gap the stream skipped (or the whole text): a final delta
                await self._delta(state, shown.text[len(streamed):])
            self.turn.last_message = shown
            self._messages.append((index, shown))
        else:
            shown = msgspec.structs.replace(shown, id=state.item_id)
        await self.turn.item_completed(shown)

    async def _shown_apart(self, state: _Open, streamed: str) -> _Open:
        """The deltas shown are not the start of the message's final text (one was lost on the way), and shown
        deltas cannot be taken back. What was shown completes as a partial answer, exactly as seen and never sent
        to the model (like an interrupted message); the message itself follows as an item of its own, so each
        item's deltas spell its text and the client ends up holding the authoritative one."""
        logger.warning("turn %s: streamed text differs from the final message; it is sent again whole",
                       self.turn.turn_id)
        entry = self.turn.open_items.get(state.item_id)
        if entry is not None and isinstance(entry[0], AgentMessageThreadItem):
            await self.turn.item_completed(msgspec.structs.replace(entry[0], text=streamed, phase="partial_answer"))
        fresh = _Open(uuid7(), "message", state.index)
        await self._announce(fresh)
        return fresh

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
            await attempt.completed(event)
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
            # "try again in"): none of the attempt's output reaches the model's history, the same request goes
            # again. Nor once retries are used up: the server broke that response, and what each broken attempt
            # completed is not the model's answer (Codex keeps it, so a retried answer reaches the model twice).
            await attempt.abandon()
            if not exc.retryable:
                raise _ended_for_good(exc, attempt) from exc
            delay = exc.retry_after if exc.retry_after is not None else backoff_delay(failures + 1, random.random)
            if failures >= limit or delay > MAX_SERVER_DELAY:
                raise TurnFailed(upstream_turn_error(exc)) from exc
            failures += 1
            await _announce_retry(turn, exc, failures, limit)
            with _preemptible(turn):
                await anyio.sleep(delay)  # a steer ends the pause: the next request carries it
        except UpstreamError as exc:
            # response.incomplete, a context_length_exceeded, or an HTTP error before any event (nothing to keep).
            raise _ended_for_good(exc, attempt) from exc


def _ended_for_good(exc: UpstreamError, attempt: _Attempt) -> TurnFailed:
    """The failure of a response that ended and will not be sent again (``response.incomplete``, a
    ``response.failed`` no retry can fix). The messages it completed were shown to the user as they are, so
    they stay in the model's history, as Codex keeps them: the next turn's request carries the answer the user
    is replying to. Only what the API accepts back goes (``kept_when_cut_short``): messages, each with the
    reasoning that led to it, never a call that will not run; an item's ``status`` stays as the server gave
    it (``incomplete`` for a message cut by ``max_output_tokens``), which the API accepts in input."""
    return TurnFailed(upstream_turn_error(exc), kept=kept_when_cut_short(attempt.outputs))


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
