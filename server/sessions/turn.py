"""``ActiveTurn``: one running turn — its identity, its controls, what it has not persisted yet — and the
frame every turn runs in.

Contract: ``run_turn`` always ends with exactly one ``turn/completed`` (completed | interrupted | failed),
whatever the body does: an interrupt cancels the turn's scope, an upstream failure raises ``TurnFailed``,
and a bug becomes ``failed`` with a generic error. Once the body has stopped the turn takes no more input (a
``turn/start`` from then on starts the next turn). The ending runs shielded: every tool call gets an output so
the history stays valid for the API, unfinished client-visible items are closed, input the turn accepted but
never sent becomes its user messages (kept in the history for the next turn, never dropped),
everything is persisted in one batch, pending interrupt requests are answered, then
``thread/status/changed {idle}`` and ``turn/completed`` go out, in that order.

A turn announces itself (``turn/started``) only once its ``turn/start`` answer and the ``turn/completed`` of the
turn it started behind are out; those waits run in the turn's scope, so an interrupt ends them too: the turn
ends at once (its input kept), and its ending announces the start, then its items, before its last words.

While the turn runs, every item is durable before its ``item/completed`` goes out (``item_completed``), in
one write with the history it brought (a user message and its input, a tool call and its output), so every
read of the running turn — they all read the store — shows exactly the items announced so far, in order, and
none still in progress, as Codex's do; a SIGKILL leaves the turn as an interrupt at that moment would.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
import msgspec

from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.types import (
    AgentMessageThreadItem,
    DynamicToolCallThreadItem,
    ErrorNotification,
    FunctionCallOutputThreadItem,
    InputTextDynamicToolCallOutputContentItem,
    ItemCompletedNotification,
    ItemStartedNotification,
    LocalImageUserInput,
    ReasoningThreadItem,
    ThreadItem,
    Turn,
    TurnCompletedNotification,
    TurnError,
    TurnStartedNotification,
    TurnStatus,
    TurnToolOutput,
    UserInput,
    UserMessageThreadItem,
)

from ..compaction.pairs import aborted_outputs
from ..ids import now_ms, now_s, uuid7
from ..store import WriteBatch
from . import git_info
from .convert import input_message, preview_of
from .meta import encode_meta
from .peer import Undelivered
from .reply import Reply
from .startup_lane import NO_PASS, LanePass
from .views import ACTIVE, IDLE, SYSTEM_ERROR, encode_turn_data

if TYPE_CHECKING:
    from .actor import ThreadSession

__all__ = ["ActiveTurn", "Shown", "TurnFailed", "run_turn"]

logger = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()


class TurnFailed(Exception):
    """Ends a turn as ``failed`` with this wire error (already announced or not).

    ``kept``: output items of the failed response that stay in the model's history — the messages it completed
    before it ended for good (``response.incomplete``, a ``response.failed`` that is not retried), which the
    user has seen. Empty for every other failure."""

    def __init__(self, error: TurnError, *, kept: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(error.message)
        self.error = error
        self.kept = list(kept)


def turn_error(message: str, info: Any = None, details: str | None = None) -> TurnError:
    return TurnError(message=message, codex_error_info=info, additional_details=details, misalignment=None)


@dataclass
class Shown:
    """The visible content streamed so far for one client item (message text, reasoning summary parts)."""

    text: list[str] = field(default_factory=list)
    summary: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingInput:
    """Input steered or joined into a running turn, waiting for its next request."""

    inputs: list[UserInput]
    client_id: str | None = None
    tool_output: TurnToolOutput | None = None


@dataclass
class ActiveTurn:
    session: ThreadSession
    turn_id: str
    kind: Literal["regular", "compact"] = "regular"
    output_schema: Any = None
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    response_sent: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    announced: anyio.Event = field(default_factory=anyio.Event)  # turn/completed has gone out
    pending_inputs: list[PendingInput] = field(default_factory=list)
    interrupt_waiters: list[tuple[Reply[None], anyio.Event]] = field(default_factory=list)
    started_at: int | None = None
    started_ms: int = 0
    failure: TurnError | None = None
    open_items: dict[str, tuple[ThreadItem, int]] = field(default_factory=dict)
    unsaved_items: list[tuple[ThreadItem, int, int]] = field(default_factory=list)
    unsaved_history: list[dict[str, Any]] = field(default_factory=list)
    turn_start_index: int = 0
    compactions: int = 0
    accepting_input: bool = True
    streamed: dict[str, Shown] = field(default_factory=dict)
    """What each open item has shown so far, so an item cut short completes with exactly what was seen."""
    service_tier: str | None = None
    """``serviceTierForTurn``: this turn only, over the thread's sticky tier."""
    finish_scope: anyio.CancelScope | None = None
    """The shielded ending, once it runs: shutdown cancels it when its grace is over (a client that stopped
    reading would otherwise hold the ending, and the process, forever)."""
    held: list[tuple[str, Any]] | None = None
    """Item notifications waiting for the ending's write (None: they go out at once)."""
    cut: list[Undelivered] = field(default_factory=list)
    """Item notifications an interrupt cut short on their way to a client that was not keeping up (and any item
    notification after them): the ending sends them the rest of their way before its own, so each reaches every
    subscriber once, in order. An interrupt is never held by a client that stopped reading."""
    sampling: anyio.CancelScope | None = None
    """The sampling request in flight: input steered in meanwhile cuts it short (``preempt``), as Codex does."""
    waiting_upstream: bool = False
    """Whether the turn is waiting on upstream right now (connecting, headers, the next event, a retry's pause):
    the only moments a steer cancels; between events it is seen at the next one's end."""
    lane: LanePass = NO_PASS
    """The turn's place in the start-up lane, held until its first request is built (or it ends)."""
    follows: ActiveTurn | None = None
    """The turn this one started behind, if that one was still ending: this one announces itself only once that
    one's ``turn/completed`` is out, so a client never sees a turn start while the thread still ends another."""
    start_announced: bool = False
    """Whether ``turn/started`` has gone out (or begun to: ``cut`` keeps the rest). A turn that ends before it
    announced itself has its ending announce the start, once what the start follows is out."""
    outcome: TurnStatus | None = None
    """How the turn ends, decided once its body has stopped (None while it runs): an interrupt that comes later
    cannot change it, so it is refused rather than answered before a ``completed`` or ``failed`` ending."""
    last_message: AgentMessageThreadItem | None = None
    """The last response's completed agent message (never one an ending closed as shown): the outputSchema judges
    it, and a completed turn's ``turn/completed`` carries it, as Codex's does."""

    @property
    def thread_id(self) -> str:
        return self.session.thread_id

    def turn_struct(self, status: TurnStatus, error: TurnError | None = None, completed: int | None = None) -> Turn:
        duration = None if completed is None else max(0, now_ms() - self.started_ms)
        return Turn(id=self.turn_id, items=[], items_view="notLoaded", status=status, error=error,
                    started_at=self.started_at, completed_at=completed, duration_ms=duration,
                    root_turn_id=self.turn_id)

    # -- control -------------------------------------------------------------------------------------------

    @property
    def interruptible(self) -> bool:
        """Running, or being interrupted already: not ended, nor on its way to end otherwise (an interrupt that
        comes after its body completed or failed is refused, as Codex refuses it)."""
        return not self.done.is_set() and self.outcome in (None, "interrupted")

    def interrupt(self, answered: anyio.Event | None = None) -> Reply[None]:
        """Cancel the turn; it takes no more input (a ``turn/start`` behind it starts a turn of its own). With
        ``answered`` (set once the interrupt's own answer is out), its ending waits for that before its last
        words and sets the reply returned once it is written."""
        self.accepting_input = False
        self.scope.cancel()
        reply: Reply[None] = Reply()
        if answered is not None:
            self.interrupt_waiters.append((reply, answered))
        return reply

    async def abort_and_wait(self, reason: str | None) -> None:
        """Stop the turn (as failed with ``reason``, or interrupted when None) and wait until it has ended."""
        if reason is not None and self.failure is None:
            self.failure = turn_error(reason, "internalServerError")
        self.interrupt()
        await self.done.wait()

    async def wait_announced(self) -> None:
        """Until this turn's ``turn/completed`` has gone out, for what must follow it; bounded, as a client that
        stopped reading holds an ending (a shutdown cuts it)."""
        with anyio.move_on_after(_FOLLOW_SECONDS):
            await self.announced.wait()

    def preempt(self) -> None:
        """New input is waiting (already in ``pending_inputs``): stop the response in flight, so the next request
        carries the input. Handling an event is never cut into; waiting on upstream is."""
        if self.sampling is not None and self.waiting_upstream:
            self.sampling.cancel()

    # -- items and history ---------------------------------------------------------------------------------

    async def _emit_item(self, method: str, params: Any) -> None:
        if self.held is not None:
            self.held.append((method, params))
        elif self.cut:  # behind one cut short (only a shielded step gets here): in order, from the ending
            self.cut.append(self.session.subscribers.undelivered(method, params))
        else:
            await self.session.emit(method, params, cut=self.cut.append)

    async def item_started(self, item: ThreadItem) -> None:
        await self._emit_item(N.ITEM_STARTED, self._open(item))

    async def item_completed(self, item: ThreadItem) -> None:
        """Complete ``item``: written (with the history appended before it), then announced.

        Written first, so a read that follows the ``item/completed`` — a client reconnecting mid-turn — finds
        the item, and no read finds an item before it has completed. The write runs shielded: an interrupt
        lands before the item completes or after it is announced, never in between (the writer would commit
        the queued write anyway, and the announcement would be lost). An interrupt that lands in the announcement
        itself (a client not keeping up) leaves the rest of it to the ending (``cut``). The ending writes its
        items in its own batch (``held``)."""
        note = self.complete_item(item)
        if self.held is None:
            try:
                with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                    await self.flush()
            finally:
                # A failed write still announces the item (the ending writes it, or nothing stored will show
                # it): the client saw it start, and it completes exactly once.
                await self._emit_item(N.ITEM_COMPLETED, note)
        else:
            await self._emit_item(N.ITEM_COMPLETED, note)

    def complete_item(self, item: ThreadItem) -> ItemCompletedNotification:
        """The bookkeeping of a completion without its write and announcement (for a caller that writes the item
        in a batch of its own, then announces it with ``announce``)."""
        _, started = self.open_items.pop(item.id, (item, now_ms()))
        self.streamed.pop(item.id, None)
        completed = now_ms()
        self.unsaved_items.append((item, started, completed))
        return ItemCompletedNotification(thread_id=self.thread_id, turn_id=self.turn_id, item=item,
                                         completed_at_ms=completed)

    async def announce(self, note: ItemCompletedNotification) -> None:
        await self._emit_item(N.ITEM_COMPLETED, note)

    def forget_open(self, item_id: str) -> None:
        """Drop a started item that will never complete (a broken attempt's partial output)."""
        self.open_items.pop(item_id, None)
        self.streamed.pop(item_id, None)

    def closing_version(self, item: ThreadItem) -> ThreadItem | None:
        """What an item left open at the end of the turn completes as; None when nothing of it is worth keeping."""
        shown = self.streamed.get(item.id, Shown())
        if isinstance(item, AgentMessageThreadItem):
            # It ended early: what it showed is kept, marked as a partial answer so no client takes it as final.
            text = "".join(shown.text)
            return msgspec.structs.replace(item, text=text, phase="partial_answer") if text else None
        if isinstance(item, DynamicToolCallThreadItem):
            note = InputTextDynamicToolCallOutputContentItem(text="interrupted before the client answered")
            return msgspec.structs.replace(item, status="failed", success=False, content_items=[note])
        if isinstance(item, ReasoningThreadItem):  # announced, so it completes, with what its summary showed
            return msgspec.structs.replace(item, summary=["".join(part) for _, part in sorted(shown.summary.items())])
        return item

    async def take_pending_inputs(self, limit: int | None = None) -> None:
        """Add what was steered or joined since the last call (the first ``limit`` inputs, with one given): a
        tool output, then the message (none for a bare tool output), as items of this turn and history.

        One at a time, and each leaves ``pending_inputs`` in the step that records it — its history, its item
        opened — with no await in between: an interrupt anywhere finds every input either recorded (the ending
        completes its item) or still pending (the ending records it), never lost, never twice. A stored user
        message is one the model is sent: the item's write carries its history."""
        taken = 0
        while self.pending_inputs and (limit is None or taken < limit):
            given = self.pending_inputs[0]
            if given.tool_output is not None:
                item, started = self._record_tool_output(given.tool_output)
                rest = PendingInput(given.inputs, given.client_id) if given.inputs else None
            else:
                message = await _input_message(given.inputs)
                item, started = self._record_user_input(given.inputs, given.client_id, message)
                rest = None
            assert self.pending_inputs[0] is given  # only appended to meanwhile
            if rest is None:
                del self.pending_inputs[0]
                taken += 1
            else:
                self.pending_inputs[0] = rest  # its message is still to come
            await self._emit_item(N.ITEM_STARTED, started)
            await self.item_completed(item)  # written with the history recorded above

    def _open(self, item: ThreadItem) -> ItemStartedNotification:
        started = now_ms()
        self.open_items[item.id] = (item, started)
        return ItemStartedNotification(thread_id=self.thread_id, turn_id=self.turn_id, item=item,
                                       started_at_ms=started)

    def _record_user_input(self, inputs: list[UserInput], client_id: str | None,
                           message: dict[str, Any]) -> tuple[ThreadItem, ItemStartedNotification]:
        """The user's input as a ``userMessage`` item of this turn and a message in the history (no await)."""
        session = self.session
        item = UserMessageThreadItem(id=uuid7(), content=list(inputs), client_id=client_id)
        self.append_history([message])
        if not session.record.preview:
            session.record = msgspec.structs.replace(session.record, preview=preview_of(inputs))
        return item, self._open(item)

    def _record_tool_output(self, tool_output: TurnToolOutput) -> tuple[ThreadItem, ItemStartedNotification]:
        """``turn/start.toolOutput``: external content delivered to the model as the output of a tool call (no
        await)."""
        call_id = f"call_{uuid7().replace('-', '')}"
        name = f"{tool_output.namespace}__{tool_output.name}" if tool_output.namespace else tool_output.name
        output = tool_output.output if isinstance(tool_output.output, str) else msgspec.to_builtins(tool_output.output)
        item = FunctionCallOutputThreadItem(id=call_id, name=tool_output.name, namespace=tool_output.namespace or None,
                                            output=tool_output.output)
        self.append_history([{"type": "function_call", "call_id": call_id, "name": name, "arguments": "{}"},
                             {"type": "function_call_output", "call_id": call_id, "output": output}])
        return item, self._open(item)

    def append_history(self, entries: list[dict[str, Any]]) -> None:
        """Add model-visible entries to the thread's history and to what the turn writes next.

        A history not loaded yet (a turn ended before its body loaded it, with input to keep) is only written, not
        read for it: history is append-only, so the entries land in the store where a loaded history would have
        put them, and the next load reads them back with the rest. The ending does no read that a slow or failing
        store could hold or break. An ephemeral thread's history lives only in memory: none yet is empty."""
        session = self.session
        if session.history is None and session.ephemeral:
            session.history = []
        if session.history is not None:
            session.history.extend(entries)
        self.unsaved_history.extend(entries)

    def batch(self, status: TurnStatus, turn: Turn) -> WriteBatch:
        session = self.session
        batch = WriteBatch(self.thread_id).put_turn(self.turn_id, status, encode_turn_data(turn))
        for item, started, completed in self.unsaved_items:
            batch.put_item(self.turn_id, item.id, _encoder.encode(item), started_at_ms=started,
                           completed_at_ms=completed)
        batch.append_history(self.turn_id, [_encoder.encode(entry) for entry in self.unsaved_history])
        batch.update_thread(updated_at=self.touch(), preview=session.record.preview, data=encode_meta(session.meta))
        return batch

    def touch(self) -> int:
        """The thread's new ``updatedAt``, set on the session's record as well as written: a loaded thread is shown
        (thread/read, thread/list) from its record, so the two must move together, as Codex moves it with every
        turn."""
        now = now_s()
        self.session.record = msgspec.structs.replace(self.session.record, updated_at=now)
        return now

    async def flush(self) -> None:
        """Persist what this turn has produced so far (a consistent step: completed items and history)."""
        batch = self.batch("inProgress", self.turn_struct("inProgress"))
        items, history = self.unsaved_items, self.unsaved_history
        # The write is queued before the first await, and the writer commits a queued write even when we are
        # cancelled waiting for it (an interrupt): from here on it is not unsaved, or the final write would
        # append the same history again. Only a write that failed, and was rolled back, hands it back.
        self.unsaved_items, self.unsaved_history = [], []
        try:
            await self.session.persist(batch)
        except Exception:
            self.unsaved_items[:0], self.unsaved_history[:0] = items, history
            raise


async def _input_message(inputs: list[UserInput]) -> dict[str, Any]:
    if any(isinstance(part, LocalImageUserInput) for part in inputs):
        # A file of up to 20 MB read and base64-encoded: not on the loop every running stream shares. The wait
        # is not abandoned on cancel, so an interrupt meanwhile still finds the input recorded.
        return await anyio.to_thread.run_sync(input_message, inputs)
    return input_message(inputs)


TurnBody = Callable[[ActiveTurn], Awaitable[None]]

_FOLLOW_SECONDS = 10.0


async def run_turn(turn: ActiveTurn, body: TurnBody) -> None:
    """The frame of every turn (regular or compaction): announce, run ``body``, end exactly once."""
    session = turn.session
    status: TurnStatus = "interrupted"  # stays so when a shutdown cancels the turn from outside
    error: TurnError | None = None
    try:
        with turn.scope:  # an interrupt ends the start-up waits too: the ending announces the start instead
            await _announce_start(turn)
            if session.record.git_info is None and not session.ephemeral:
                await _look_up_git_info(session)
            await turn.flush()
            await body(turn)
        status = "interrupted" if turn.scope.cancelled_caught else "completed"
    except TurnFailed as failed:
        status, error = "failed", failed.error
    except Exception:
        logger.exception("thread %s turn %s: unexpected error", turn.thread_id, turn.turn_id)
        status, error = "failed", turn_error("internal error while running the turn", "internalServerError")
    finally:
        turn.lane.release()
        turn.accepting_input = False  # no await since the body stopped: a turn/start from now on waits for us
        if turn.failure is not None and status != "completed":
            status, error = "failed", turn.failure
        turn.outcome = status
        turn.finish_scope = anyio.CancelScope(shield=True)
        if session.endings_cut:
            turn.finish_scope.cancel()  # shutdown is past its grace: the batch is still queued, what blocks is cut
        with turn.finish_scope:
            await _finish(turn, status, error)


async def _announce_start(turn: ActiveTurn) -> None:
    """``thread/status/changed {active}`` and ``turn/started``, once what they follow is out: the ``turn/start``
    answer, and the ``turn/completed`` of the turn this one started behind (each wait bounded: a client that
    stopped reading holds them)."""
    session = turn.session
    with anyio.move_on_after(5):
        await turn.response_sent.wait()
    if turn.follows is not None:
        await turn.follows.wait_announced()
        if turn.follows.announced.is_set():
            turn.follows = None  # no chain of every turn kept alive; one still ending stays, for a shutdown to cut
    if turn.started_at is None:
        turn.started_at, turn.started_ms = now_s(), now_ms()
    await session.set_status(ACTIVE)
    turn.start_announced = True  # from here on an interrupt leaves what it cuts of turn/started to the ending
    await session.emit(N.TURN_STARTED, TurnStartedNotification(thread_id=turn.thread_id,
                                                               turn=turn.turn_struct("inProgress")),
                       cut=turn.cut.append)


async def _send_held(turn: ActiveTurn) -> None:
    """The item notifications the turn still owes: those an interrupt cut short (sent before the ending began),
    then the ending's own."""
    held, turn.held = turn.held or [], None
    cut, turn.cut = turn.cut, []
    for owed in cut:
        await turn.session.subscribers.deliver(owed)
    for method, params in held:
        await turn.session.emit(method, params)


async def _look_up_git_info(session: ThreadSession) -> None:
    """The thread's first turn records its cwd's Git state, as Codex does when it first writes a thread. A write
    of its own: the turn's batches never carry it, so they cannot undo a ``thread/metadata/update``."""
    try:
        found = git_info.encode(await git_info.first_lookup(session.deps.git, session.meta.settings.cwd,
                                                            session.record.turn_count))
    except Exception:
        # Git state is an annotation: a lookup that breaks must not cost the user their turn. Stored as nothing
        # found, as outside a repository, so it is not tried at every turn.
        logger.exception("thread %s: looking up the Git state of %r failed; none is recorded",
                         session.thread_id, session.meta.settings.cwd)
        found = git_info.encode(git_info.NOTHING_FOUND)
    if session.record.git_info is not None:
        return  # a thread/metadata/update came first while git answered: what it stored stands
    session.record = msgspec.structs.replace(session.record, git_info=found)
    await session.persist(WriteBatch(session.thread_id).update_thread(git_info=found))


async def _finish(turn: ActiveTurn, status: TurnStatus, error: TurnError | None) -> None:
    session = turn.session
    final: Turn | None = None
    # What the ending shows is written first and shown after: a client that has stopped reading must not keep
    # the turn's last items (the text it already streamed) out of the store.
    turn.held = []
    try:
        if session.history is not None and (aborted := aborted_outputs(session.history)):
            # A call the turn never answered (interrupt, failure) gets its "aborted" output, appended: the API
            # refuses unpaired calls, and history that only grows keeps one order in memory and in the store.
            turn.append_history(aborted)
        for item, _ in list(turn.open_items.values()):
            closed = turn.closing_version(item)  # what an interrupt or a failure left half-shown
            if closed is None:
                turn.forget_open(item.id)
            else:
                await turn.item_completed(closed)
        # Accepted, never sent (an interrupt, a failure): kept, not dropped. After the items the turn opened, so
        # they complete, and are stored, in the order they started.
        await turn.take_pending_inputs()
        if turn.started_at is None:  # it ended before it announced itself: it starts as it ends
            turn.started_at, turn.started_ms = now_s(), now_ms()
        final = turn.turn_struct(status, error, completed=now_s())  # what is stored is what turn/completed says
        try:
            with anyio.move_on_after(10):
                await session.persist(turn.batch(status, final))
        except Exception:
            logger.exception("thread %s turn %s: final write failed", turn.thread_id, turn.turn_id)
    finally:
        try:
            # Shown before the turn counts as ended; for a turn not announced yet, after its start, in its last
            # words: its end (and the interrupt's answer) never waits for what the start must follow.
            if turn.start_announced:
                await _send_held(turn)
        finally:
            session.active = None  # before any await that a shutdown may cut short
            session.ending = turn  # until the ending's last notification: the thread is not idle yet
            turn.done.set()
            for reply, _ in turn.interrupt_waiters:
                reply.set(None)
        try:
            await _announce_end(turn, status, error, final)
        finally:
            if session.ending is turn:  # else a later turn is ending by now (this one was held past its follower)
                session.ending = None
            turn.announced.set()
        session.maybe_schedule_unload()


async def _announce_end(turn: ActiveTurn, status: TurnStatus, error: TurnError | None, final: Turn | None) -> None:
    """The ending's last words: interrupt answers first, then the thread's status, then ``turn/completed``; for a
    turn that ended before it announced itself, its start and its items come first."""
    session = turn.session
    if not turn.start_announced:
        await _announce_start(turn)
        await _send_held(turn)
    for _, answered in turn.interrupt_waiters:
        with anyio.move_on_after(2):
            await answered.wait()  # the turn/interrupt response goes out before turn/completed
    if status == "failed" and error is not None:
        # As Codex: the thread shows systemError, the fatal error is announced, then the turn ends.
        await session.set_status(SYSTEM_ERROR)
        await session.emit(N.ERROR, ErrorNotification(thread_id=turn.thread_id, turn_id=turn.turn_id,
                                                       error=error, will_retry=False))
    else:
        await session.set_status(IDLE)
    shown = final or turn.turn_struct(status, error, completed=now_s())
    if status == "completed" and turn.last_message is not None:  # as Codex: the answer, in the summary view
        shown = msgspec.structs.replace(shown, items=[turn.last_message], items_view="summary")
    await session.emit(N.TURN_COMPLETED, TurnCompletedNotification(thread_id=turn.thread_id, turn=shown))
