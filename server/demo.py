"""`threadline demo`: a short conversation through a real `threadline app-server` subprocess, shown live.

Offline (the default) it starts the upstream simulator, scripts its replies (`server.demo_script`), and spawns
`python -m server app-server --listen stdio://` with the simulator as the active provider through `-c`
overrides and a dummy key in the child's environment. `--live` instead uses the built-in `openai` provider and
needs `OPENAI_API_KEY` (a clear message and exit status 2 without it). Either way the demo is an ordinary
client: it initializes with `experimentalApi`, registers a `dynamicTools` tool at `thread/start` and answers
its `item/tool/call` requests itself, streams each turn's deltas to the terminal, and ends with a summary.

Contract: exit status 0 when every turn completed, 1 when a turn failed (the conversation stops there, since
the rest builds on it) or the daemon misbehaved (a timeout, an error reply, a closed connection), 2 for bad
usage. Every wait is bounded; the subprocess and the
simulator are always shut down, even on Ctrl-C. `THREADLINE_HOME` is a temporary directory, removed at the
end, unless the user set one. The user's own `-c`/`--enable`/`--disable` flags are passed on to the daemon.
The last scene is compaction (`_compaction_scene`): run only after every turn completed, and when the daemon
implements `thread/compact/start` (skipped with a note when it answers -32601).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

import anyio
import msgspec

from protocol._generated.methods import ClientMethod as M
from protocol._generated.methods import ServerNotificationMethod as N
from protocol._generated.methods import ServerRequestMethod as R
from protocol.client import AppServerClient, Message, RpcFailure

from .config import Settings
from .demo_script import DEVELOPER_INSTRUCTIONS, SCRIPT, TOOL_SPEC, answer_tool_call, compaction_summary, enqueue_script
from .demo_view import View
from .simulator import Simulator

__all__ = ["run_demo"]

SIM_KEY_ENV = "THREADLINE_DEMO_SIM_KEY"
_BUDGET_S = {False: 120.0, True: 900.0}  # the whole demo, offline / live
_EVENT_GAP_S = {False: 30.0, True: 180.0}  # longest silence tolerated inside one turn
_METHOD_NOT_FOUND = -32601
_COMPACTION_WAIT_S = 30.0


def run_demo(settings: Settings, *, live: bool = False, turns: int | None = None, out: Any = None) -> int:
    """Run the demo; returns the process exit status."""
    view = View(out or sys.stdout)
    count = len(SCRIPT) if turns is None else turns
    if not 1 <= count <= len(SCRIPT):
        sys.stderr.write(f"threadline demo: --turns must be between 1 and {len(SCRIPT)}, got {count}\n")
        return 2
    if live and not settings.env.get("OPENAI_API_KEY", "").strip():
        sys.stderr.write("threadline demo --live: OPENAI_API_KEY is not set. Export your OpenAI API key "
                         "(export OPENAI_API_KEY=sk-...) or run `threadline demo` without --live to use the "
                         "built-in offline simulator.\n")
        return 2
    try:
        return anyio.run(_demo, settings, live, count, view)
    except KeyboardInterrupt:
        view.line("interrupted; the daemon and the simulator were shut down.")
        return 130


async def _demo(settings: Settings, live: bool, turns: int, view: View) -> int:
    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        home, home_note = _home(settings, stack)
        env = {**settings.env, "THREADLINE_HOME": home}
        flags = _forwarded_flags(settings.session_flags)
        sim: Simulator | None = None
        if live:
            flags.append('model_provider="openai"')
        else:
            sim = await stack.enter_async_context(Simulator())
            enqueue_script(sim, turns)
            sim.enqueue(compaction_summary())  # used only if compaction asks the model for a summary
            env[SIM_KEY_ENV] = "sk-threadline-demo-offline"
            flags += _simulator_flags(sim.base_url)
        command = [sys.executable, "-m", "server", "app-server", "--listen", "stdio://"]
        for flag in flags:
            command += ["-c", flag]
        where = "OpenAI (live)" if live else f"the upstream simulator at {sim.base_url if sim else ''}"
        view.heading(f"Threadline demo: {turns} turn(s) against {where}")
        try:
            with anyio.fail_after(_BUDGET_S[live]):
                async with AppServerClient.spawn(command, env=env) as client:
                    startup_ms, thread_id = await _conversation(client, view, live, turns)
                    conversation_requests = len(sim.requests_to("responses")) if sim else 0
                    if view.stats.failed_turns == 0:
                        await _compaction_scene(client, view, thread_id)
        except Exception as exc:  # the client's task group wraps what the conversation raised
            problem = _expected_failure(exc)
            if problem is None:
                raise
            view.line(f"✗ {problem}; the daemon was stopped.", style="31")
            return 1
        if sim is not None:
            upstream = f"{conversation_requests} to /responses for the conversation"
            extra = len(sim.requests_to("responses")) - conversation_requests
            compact = len(sim.requests_to("compact"))
            parts = [f"{n} to {path}" for n, path in ((extra, "/responses"), (compact, "/responses/compact")) if n]
            if parts:
                upstream += f", then {' and '.join(parts)} for compaction"
            upstream += " (simulator log)"
        else:
            upstream = f"{view.stats.usage_updates} model responses (one token-usage update each)"
        view.summary(wall_s=time.perf_counter() - started, startup_ms=startup_ms, upstream=upstream, home=home_note)
    return 0 if view.stats.failed_turns == 0 and view.stats.turns == turns else 1


async def _conversation(client: AppServerClient, view: View, live: bool, turns: int) -> tuple[float, str]:
    """Initialize, start the thread, run the turns; returns (spawn → initialize ms, thread id)."""
    t0 = time.perf_counter()
    await client.initialize(name="threadline_demo", experimental=True)
    startup_ms = (time.perf_counter() - t0) * 1000

    async def tool_call(message: Message) -> Any:
        return answer_tool_call(message.get("params") or {})

    client.handlers[R.ITEM_TOOL_CALL] = tool_call
    started = await client.request(M.THREAD_START, {"dynamicTools": [TOOL_SPEC],
                                                    "developerInstructions": DEVELOPER_INSTRUCTIONS})
    thread_id = started["thread"]["id"]
    view.note(f"thread {thread_id} · model {started.get('model')} via provider {started.get('modelProvider')}")
    view.note(f"client tool registered: {TOOL_SPEC['name']} (dynamicTools, experimentalApi)")
    for exchange in SCRIPT[:turns]:
        view.user(exchange.prompt)
        result = await client.request(M.TURN_START, {"threadId": thread_id,
                                                     "input": [{"type": "text", "text": exchange.prompt}]})
        failed_before = view.stats.failed_turns
        async for message in client.turn_events(result["turn"]["id"], timeout=_EVENT_GAP_S[live]):
            view.show(message)
        if view.stats.failed_turns > failed_before:
            view.note("stopping here: the rest of the conversation builds on this turn")
            break
    return startup_ms, thread_id


async def _compaction_scene(client: AppServerClient, view: View, thread_id: str) -> None:
    """Compact the thread and print the checkpoint's figures; a note instead when the daemon can't yet."""
    view.heading("Compaction")
    watch = _CompactionWatch(thread_id)
    previous = client.on_message
    client.on_message = watch.see
    try:
        try:
            await client.request(M.THREAD_COMPACT_START, {"threadId": thread_id}, timeout=30)
        except RpcFailure as exc:
            if exc.code != _METHOD_NOT_FOUND:
                raise
            view.note(f"skipped: this daemon does not implement {M.THREAD_COMPACT_START} yet ({exc.code})")
            return
        with anyio.move_on_after(_COMPACTION_WAIT_S):
            await watch.done.wait()
        applied, turn = watch.applied, watch.turn
        if turn:
            error = (turn.get("error") or {}).get("message")
            view.note(f"compaction turn {turn.get('status')} in {turn.get('durationMs')} ms"
                      + (f": {error}" if error else ""))
        if applied is None:
            state = "its turn ended" if watch.done.is_set() else f"nothing arrived within {_COMPACTION_WAIT_S:.0f} s"
            view.note(f"{M.THREAD_COMPACT_START} accepted, but no {N.THREAD_COMPACTION_APPLIED} ({state})")
            return
        view.note(f"checkpoint applied: mode {applied.get('mode')}, trigger {applied.get('trigger')}")
        view.note(f"context tokens {applied.get('tokensBefore')} → {applied.get('tokensAfter')}; "
                  f"items replaced {applied.get('itemsReplaced')}, kept {applied.get('itemsKept')}")
    finally:
        client.on_message = previous


class _CompactionWatch:
    """Sees every message while the compaction scene runs (its turn id is not known in advance)."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        self.applied: Message | None = None
        self.turn: Message = {}
        self.done = anyio.Event()

    def see(self, message: Message) -> None:
        params = message.get("params")
        if "id" in message or not isinstance(params, dict) or params.get("threadId") != self.thread_id:
            return
        if message.get("method") == N.THREAD_COMPACTION_APPLIED:
            self.applied = params
        elif message.get("method") == N.TURN_COMPLETED:
            self.turn = params.get("turn") or {}
            self.done.set()


def _expected_failure(exc: BaseException) -> str | None:
    """A one-line account of a timeout or an error reply, looking inside exception groups; None otherwise."""
    if isinstance(exc, BaseExceptionGroup):
        found = [_expected_failure(inner) for inner in exc.exceptions]
        return next((text for text in found if text), None)
    if isinstance(exc, TimeoutError):
        return "timed out waiting for the daemon"
    if isinstance(exc, RpcFailure):
        return f"the daemon answered an error: {exc}"
    return None


def _home(settings: Settings, stack: AsyncExitStack) -> tuple[str, str]:
    if settings.env.get("THREADLINE_HOME"):
        return str(settings.home), f"{settings.home} (kept)"
    path = stack.enter_context(tempfile.TemporaryDirectory(prefix="threadline-demo-"))
    return path, f"{path} (temporary, removed on exit)"


def _simulator_flags(base_url: str) -> list[str]:
    table = (f'name = "Threadline simulator", base_url = "{base_url}", env_key = "{SIM_KEY_ENV}", '
             "request_max_retries = 2, stream_max_retries = 2, stream_idle_timeout_ms = 10000")
    return ['model_provider="sim"', f"model_providers.sim={{ {table} }}"]


def _forwarded_flags(flags: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The user's `-c`/`--enable`/`--disable` values again as `key.path=<value>` (JSON scalars are TOML)."""
    out: list[str] = []
    for key, value in flags.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += _forwarded_flags(value, f"{path}.")
        else:
            out.append(f"{path}={msgspec.json.encode(value).decode()}")
    return out
