"""``thread/start``, ``thread/resume`` and ``thread/fork``: making threads and loading them.

Start persists the thread at once (so ``thread/resume`` always works) unless it is ephemeral; the response
comes first, then ``thread/started``. Resuming a thread that was not loaded announces
``thread/status/changed {idle}`` before the response. Forks copy history in the store without touching the
source; a source turn still running is snapshotted as interrupted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from msgspec import UNSET

from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.types import (
    DynamicToolSpec,
    FunctionDynamicToolSpec,
    ThreadForkParams,
    ThreadForkResponse,
    ThreadResumeParams,
    ThreadResumeResponse,
    ThreadStartedNotification,
    ThreadStartParams,
    ThreadStartResponse,
    ThreadStatusChangedNotification,
    ThreadTokenUsageUpdatedNotification,
    ThreadTurnsListParams,
    Turn,
    TurnsPage,
)

from ..config import Settings
from ..errors import InvalidParams, InvalidRequest
from ..ids import now_s, uuid7
from ..store import History, ThreadRecord, TurnNotFound, WriteBatch
from . import git_info
from .actor import ThreadSession
from .browse import all_turns, hydration_notice, list_turns
from .loop import model_history, with_history_anchor
from .meta import ThreadMeta, ThreadSettings, encode_meta, sandbox_policy_for
from .params import opt
from .peer import ClientPeer
from .schemas import schema_problem
from .service import Sessions
from .thread_config import checked, merged_config, settings_changes
from .views import IDLE, collaboration_mode, encode_turn_data, thread_view, turn_view

__all__ = ["fork_thread", "resume_thread", "start_thread"]

After = Callable[[], Awaitable[None]]


def _check_dynamic_tools(tools: list[DynamicToolSpec]) -> None:
    """Every tool's ``inputSchema`` must itself be a valid JSON Schema; the error names the tool."""
    for tool in tools:
        functions = [tool] if isinstance(tool, FunctionDynamicToolSpec) else list(tool.tools)
        for fn in functions:
            problem = schema_problem(fn.input_schema)
            if problem is not None:
                raise InvalidParams(f"dynamic tool `{fn.name}` has an invalid inputSchema: {problem}")


def _override_changes(params: Any, daemon: Settings) -> dict[str, Any]:
    """The ``ThreadSettings`` fields the overrides shared by start, resume and fork set, every value checked:
    the ``config`` map first, then the explicit fields over it (a field left out or null sets nothing). The map
    itself is kept under ``config``, merged into the thread's by ``_with``."""
    changes: dict[str, Any] = {}
    if (config := opt(getattr(params, "config", UNSET))) is not None:
        changes.update(settings_changes(merged_config({}, config), daemon))
        changes["config"] = config
    explicit: dict[str, Any] = {}
    for name in ("model", "model_provider", "service_tier", "approval_policy", "approvals_reviewer",
                 "base_instructions", "developer_instructions", "personality", "cwd"):
        value = opt(getattr(params, name, UNSET))
        if value is not None:
            explicit[name] = value
    if (sandbox := opt(getattr(params, "sandbox", UNSET))) is not None:
        explicit["sandbox"] = sandbox_policy_for(sandbox)
    changes.update(checked(explicit, daemon))
    return changes


def _with(settings: ThreadSettings, changes: dict[str, Any]) -> ThreadSettings:
    """``settings`` with ``changes`` (from ``_override_changes``) made; the same object when there are none."""
    if not changes:
        return settings
    if "config" in changes:
        changes = {**changes, "config": merged_config(settings.config, changes["config"])}
    return msgspec.structs.replace(settings, **changes)


def _response_fields(session: ThreadSession) -> dict[str, Any]:
    s = session.meta.settings
    return {"model": s.model, "model_provider": s.model_provider, "service_tier": s.service_tier, "cwd": s.cwd,
            "approval_policy": s.approval_policy, "approvals_reviewer": s.approvals_reviewer, "sandbox": s.sandbox,
            "reasoning_effort": s.reasoning_effort, "instruction_sources": [], "disabled_plugin_ids": []}


def _new_record(thread_id: str, meta: ThreadMeta, *, forked_from: str | None = None) -> ThreadRecord:
    now = now_s()
    return ThreadRecord(id=thread_id, created_at=now, updated_at=now, cwd=meta.settings.cwd,
                        model_provider=meta.settings.model_provider, source_kind="vscode", preview="",
                        forked_from_id=forked_from, data=encode_meta(meta))


def _started(session: ThreadSession, *, name: str | None = None) -> After:
    """``thread/started`` for the session; ``name`` stands in for a name the thread is shown with but does not keep
    (an ephemeral fork's)."""
    async def announce() -> None:
        thread = thread_view(session.record, status=session.status, meta=session.meta, ephemeral=session.ephemeral,
                             store_path=session.deps.store.path)
        if name is not None:
            thread = msgspec.structs.replace(thread, name=name)
        await session.emit(N.THREAD_STARTED, ThreadStartedNotification(thread=thread))

    return announce


async def start_thread(sessions: Sessions, params: ThreadStartParams, peer: ClientPeer,
                       originator: str | None) -> tuple[ThreadStartResponse, After]:
    settings = _with(sessions.default_settings(), _override_changes(params, sessions.settings))
    if (tools := opt(params.dynamic_tools)) is not None:
        _check_dynamic_tools(tools)
        settings = msgspec.structs.replace(settings, dynamic_tools=list(tools))
    if params.experimental_raw_events is True:
        settings = msgspec.structs.replace(settings, experimental_raw_events=True)
    thread_id = uuid7()
    meta = ThreadMeta(session_id=thread_id, cli_version=sessions.version, originator=originator,
                      thread_source=opt(params.thread_source), settings=settings)
    record = _new_record(thread_id, meta)
    ephemeral = params.ephemeral is True
    if not ephemeral:
        await sessions.store.write(WriteBatch(thread_id).create_thread(record))
    session = ThreadSession(record, sessions.deps, meta=meta, ephemeral=ephemeral)
    await sessions.registry.start(session)
    session.subscribe(peer)
    thread = thread_view(record, status=session.status, meta=meta, ephemeral=ephemeral, store_path=sessions.store.path)
    return ThreadStartResponse(thread=thread, **_response_fields(session)), _started(session)


def refuse_archived(record: ThreadRecord) -> None:
    if record.archived:
        raise InvalidRequest(f"thread {record.id} is archived; unarchive it first (thread/unarchive)")


async def resume_thread(sessions: Sessions, params: ThreadResumeParams,
                        peer: ClientPeer) -> tuple[ThreadResumeResponse, After]:
    """``thread/resume``; once it is answered, the client is sent every request of the thread still waiting for
    a reply (a tool call of the running turn), as Codex replays them."""
    missing = "no rollout found for thread id {id}"
    # As Codex: an ephemeral thread has nothing stored to resume from, and an archived one is unarchived first.
    record = await sessions.record(params.thread_id, missing=missing)
    loaded = sessions.loaded(record.id)
    if loaded is not None and loaded.ephemeral:
        raise InvalidRequest(missing.format(id=record.id))
    refuse_archived(record)
    # Overrides that cannot be used are refused before the thread loads: a refused resume leaves nothing loaded.
    changes = _override_changes(params, sessions.settings)
    session, newly_loaded = await sessions.load(record.id, missing=missing)
    if params.exclude_turns is not True and not session.ephemeral:
        await _warn_full_history(session.meta, peer)  # as Codex: before the thread's status, if that is news
    if newly_loaded:
        await peer.notify(N.THREAD_STATUS_CHANGED,
                          ThreadStatusChangedNotification(thread_id=session.thread_id, status=IDLE))

    async def apply() -> None:
        updated = _with(session.meta.settings, changes)
        if updated is not session.meta.settings:
            before = session.meta.settings, session.record
            # Memory first: a turn's batch written meanwhile carries the thread's metadata, the new one.
            session.meta = msgspec.structs.replace(session.meta, settings=updated)
            session.record = msgspec.structs.replace(session.record, cwd=updated.cwd,
                                                     model_provider=updated.model_provider,
                                                     data=encode_meta(session.meta))
            try:
                await session.persist(WriteBatch(session.thread_id).update_thread(
                    cwd=updated.cwd, model_provider=updated.model_provider, data=session.record.data))
            except Exception:  # not written: the thread runs on what the store holds (a turn's changes stay)
                session.meta = msgspec.structs.replace(session.meta, settings=before[0])
                session.record = msgspec.structs.replace(session.record, cwd=before[1].cwd,
                                                         model_provider=before[1].model_provider,
                                                         data=encode_meta(session.meta))
                raise
        session.subscribe(peer, hold_requests=True)  # a tool call waits for the answer, then is replayed

    try:
        await session.call(apply)
    except InvalidRequest:
        if session.unloaded:  # deleted or archived since it was loaded: ask again, and be told which
            return await resume_thread(sessions, params, peer)
        raise
    try:
        with sessions.errors(missing):  # a delete that came in after our job removes what we read
            response = await _resume_response(sessions, session, params, missing, peer)
    except BaseException:
        session.subscribers.replay(peer)  # no answer will go out: nothing may stay held back for it
        raise

    async def replay() -> None:
        try:
            await _announce_usage(sessions, session, peer)
        finally:
            session.subscribers.replay(peer)  # whatever the store said: nothing may stay held back

    return response, replay


async def _announce_usage(sessions: Sessions, session: ThreadSession, peer: ClientPeer) -> None:
    """As Codex after a resume answer: the thread's token usage so far, under its last turn."""
    usage = session.meta.token_usage
    if usage is None or session.ephemeral:
        return
    turn_id = await _last_turn_id(sessions, session.thread_id)
    if turn_id is not None:
        await peer.notify(N.THREAD_TOKEN_USAGE_UPDATED, ThreadTokenUsageUpdatedNotification(
            thread_id=session.thread_id, turn_id=turn_id, token_usage=usage))


async def _last_turn_id(sessions: Sessions, thread_id: str) -> str | None:
    last = await sessions.store.list_turns(thread_id, limit=1, direction="desc")
    return last.items[0].turn_id if last.items else None


async def _resume_response(sessions: Sessions, session: ThreadSession, params: ThreadResumeParams,
                           missing: str, peer: ClientPeer) -> ThreadResumeResponse:
    turns: list[Turn] = []
    if params.exclude_turns is not True and not session.ephemeral:
        with sessions.errors(missing):
            turns = await all_turns(sessions, session.thread_id)
    thread = thread_view(session.record, status=session.status, meta=session.meta, turns=turns,
                         ephemeral=session.ephemeral, store_path=sessions.store.path)
    first_page = None
    page_params = opt(params.initial_turns_page)
    if page_params is not None and not session.ephemeral:
        listed = await list_turns(sessions, ThreadTurnsListParams(
            thread_id=session.thread_id, limit=page_params.limit, sort_direction=page_params.sort_direction,
            items_view=page_params.items_view))
        first_page = TurnsPage(data=listed.data, next_cursor=listed.next_cursor,
                               backwards_cursor=listed.backwards_cursor)
    # Where thread/turns/list and thread/items/list (sortDirection desc) start to page back from the newest.
    turns_back = items_back = None
    if not session.ephemeral:
        turns_back = await sessions.store.newest_turns_cursor(session.thread_id)
        items_back = await sessions.store.newest_items_cursor(session.thread_id)
    return ThreadResumeResponse(thread=thread, collaboration_mode=collaboration_mode(session.meta.settings),
                                turns_backwards_cursor=turns_back, items_backwards_cursor=items_back,
                                initial_turns_page=first_page, **_response_fields(session))


async def fork_thread(sessions: Sessions, params: ThreadForkParams, peer: ClientPeer,
                      originator: str | None) -> tuple[ThreadForkResponse, After]:
    source_id = sessions.check_id(params.thread_id)
    source = sessions.loaded(source_id)
    source_record = await sessions.record(source_id, missing="no rollout found for thread id {id}")
    if source is not None and source.ephemeral:
        raise InvalidRequest(f"thread/fork of ephemeral thread {source_id} is not supported")
    refuse_archived(source_record)
    active_turn = source.active.turn_id if source is not None and source.active is not None else None
    last_turn, before_turn = opt(params.last_turn_id), opt(params.before_turn_id)
    ephemeral = params.ephemeral is True
    # Refusals in Codex's order (these two in its words): the cut, then an ephemeral fork that would carry every
    # turn (an ephemeral thread keeps no turns to page through later); then the notice for an answer with every
    # turn, also before a refusal of the turn named or of an override.
    if last_turn is not None and before_turn is not None:
        raise InvalidRequest("`beforeTurnId` cannot be combined with `lastTurnId`")
    base = source.meta if source is not None else sessions.meta_of(source_record)
    if ephemeral and params.exclude_turns is not True and base.history_mode == "paginated":
        raise InvalidRequest("ephemeral paginated thread/fork requires `excludeTurns: true`")
    if params.exclude_turns is not True and not ephemeral:
        await _warn_full_history(base, peer)
    if last_turn is not None and last_turn == active_turn:
        raise InvalidRequest(f"cannot fork at turn {last_turn}: it is still in progress")
    thread_id = uuid7()
    settings = _with(base.settings, _override_changes(params, sessions.settings))
    # A fork of the whole thread carries its usage so far, as Codex's does; one cut at an earlier turn starts
    # without (the usage at that turn is not kept) and estimates its whole history. A cut before a turn always
    # leaves that turn out, so it is never the whole thread.
    whole = before_turn is None and (last_turn is None or last_turn == await _last_turn_id(sessions, source_id))
    meta = msgspec.structs.replace(base, session_id=thread_id, originator=originator or base.originator,
                                   settings=settings, token_usage=base.token_usage if whole else None,
                                   last_response_tokens=base.last_response_tokens if whole else 0)
    # As Codex: a fork's preview is its own first user message, not its source's, so it is listed
    # (thread/list) once it has had a turn of its own.
    record = _new_record(thread_id, meta, forked_from=source_id)
    if not ephemeral:  # as Codex: a fork is a thread written with history, so it looks its cwd's Git state up
        record = msgspec.structs.replace(record, name=source_record.name,  # as Codex, cut or not
                                         git_info=git_info.encode(await sessions.deps.git.get(settings.cwd)))
    through, nothing = last_turn, False
    if before_turn is not None and before_turn == active_turn:
        # The running turn may not be stored yet, but every turn before it is, and stays so while it runs: cut
        # after the newest of those, which holds however the race with the turn's first write goes.
        through, before_turn = await _newest_turn_but(sessions, source_id, active_turn), None
        nothing = through is None
    history: list[dict[str, Any]] | None = None
    with sessions.errors("no rollout found for thread id {id}"):
        if ephemeral:
            # The history as it stood at the cut, as a stored fork there holds it.
            stored = History(entries=[]) if nothing else await sessions.store.load_history(
                source_id, last_turn_id=through, before_turn_id=before_turn)
            history = model_history(source_id, stored)  # as a load does
            meta = with_history_anchor(meta, stored)
        elif nothing:
            await sessions.store.write(WriteBatch(thread_id).create_thread(record))
        else:
            record = await sessions.store.fork(source_id, record, through, before_turn_id=before_turn)
            if active_turn is not None and through is None and before_turn is None:
                await _mark_interrupted(sessions, thread_id, active_turn)
    session = ThreadSession(record, sessions.deps, meta=meta, ephemeral=ephemeral)
    session.history = history
    await sessions.registry.start(session)
    session.subscribe(peer)
    turns: list[Turn] = []
    if params.exclude_turns is not True and not ephemeral:
        turns = await all_turns(sessions, thread_id)
    thread = thread_view(record, status=session.status, meta=meta, turns=turns, ephemeral=ephemeral,
                         store_path=sessions.store.path)
    shown_name = None
    if ephemeral:
        # As Codex: an ephemeral fork is answered and announced with its source's name, yet keeps none (it cannot
        # be renamed, and thread/read shows it nameless, as it shows every ephemeral thread).
        shown_name = source_record.name
        thread = msgspec.structs.replace(thread, name=shown_name)
    started = _started(session, name=shown_name)

    async def announce() -> None:  # as Codex: the usage it carries (unless answered without turns), then started
        try:
            if params.exclude_turns is not True:
                await _announce_usage(sessions, session, peer)
        finally:
            await started()

    return ThreadForkResponse(thread=thread, **_response_fields(session)), announce


async def _newest_turn_but(sessions: Sessions, thread_id: str, turn_id: str) -> str | None:
    """The newest stored turn of the thread other than ``turn_id`` (the running turn, which is the newest if
    stored at all)."""
    newest = await sessions.store.list_turns(thread_id, limit=2, direction="desc")
    return next((turn.turn_id for turn in newest.items if turn.turn_id != turn_id), None)


async def _warn_full_history(meta: ThreadMeta, peer: ClientPeer) -> None:
    """As Codex: an answer carrying a paginated thread's every turn is preceded by a deprecationNotice."""
    if meta.history_mode == "paginated":
        await peer.notify(N.DEPRECATION_NOTICE, hydration_notice("pass excludeTurns: true"))


async def _mark_interrupted(sessions: Sessions, thread_id: str, turn_id: str) -> None:
    """A fork taken mid-turn sees that turn as interrupted, as if it had been stopped at the fork."""
    try:
        record = await sessions.store.get_turn(thread_id, turn_id)
    except TurnNotFound:
        return  # the running turn had not been persisted yet: nothing to snapshot
    if record.status != "inProgress":
        return  # it ended before the copy was taken: the fork holds it as it ended, with all its items
    turn = turn_view(record, None, "notLoaded")
    turn = msgspec.structs.replace(turn, status="interrupted", completed_at=now_s())
    await sessions.store.write(WriteBatch(thread_id).put_turn(turn_id, "interrupted", encode_turn_data(turn)))
