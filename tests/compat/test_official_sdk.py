"""The official Python SDK (`openai-codex`, imported as `openai_codex`) drives Threadline unchanged.

Every test launches the real daemon as a subprocess through the SDK's own launch path
(`CodexConfig(launch_args_override=...)`, or `codex_bin` + `config_overrides` where the SDK's handling of the
binary itself matters), pointed at the upstream simulator with `-c` overrides and the simulator's key in the
environment, and then uses only the SDK's public API, as a user would.

The SDK is a test-only dependency: without it these tests skip. SDK calls block in threads the SDK owns; each
test bounds them with `deadline` (SIGALRM interrupts the blocked wait and the SDK's close kills the daemon).

Version gating (PROTOCOL.md §2.1): the SDK refuses `excludeTurns`, `turnTrigger`, `toolOutput` and
`serviceTierForTurn` client-side unless the runtime reports >= 0.151.0 (or exactly `0.0.0`, which makes it probe
`generate-json-schema --experimental`, but only for a `codex_bin` launch). The tests below pin what happens with
the version Threadline reports today, and show the daemon itself serves those fields once the gate passes.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

openai_codex = pytest.importorskip(
    "openai_codex", reason="the official SDK (pip install openai-codex) is a test-only dependency and is not installed"
)

from openai_codex import Codex, CodexConfig, ExternalMessage  # noqa: E402
from openai_codex._runtime_requirements import CheckoutCapabilities  # noqa: E402
from openai_codex.generated.v2_all import TurnStatus  # noqa: E402
from openai_codex.models import UnknownNotification  # noqa: E402

from server.simulator import Gate, HttpError, Reasoning, Reply, Simulator, Text, Usage  # noqa: E402
from tests.harness import SIM_ENV, sim_overrides  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 30


@contextmanager
def deadline(seconds: float = SECONDS) -> Iterator[None]:
    """Bound blocking SDK calls in the main thread: SIGALRM raises TimeoutError out of the SDK's wait."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the SDK did not get an answer from the daemon within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _launch(sim: Simulator, *, python_prelude: str | None = None, **provider: object) -> tuple[str, ...]:
    flags = [part for override in sim_overrides(sim.base_url, **provider) for part in ("-c", override)]
    head = [sys.executable, "-m", "server"] if python_prelude is None else [sys.executable, "-c", python_prelude]
    return (*head, *flags, "app-server", "--listen", "stdio://")


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**SIM_ENV, "THREADLINE_HOME": str(home), "PYTHONPATH": str(ROOT), **extra}


@contextmanager
def sdk(home: Path, sim: Simulator, **provider: object) -> Iterator[Codex]:
    """A `Codex` client whose runtime is `python -m server ... app-server --listen stdio://` (bounded)."""
    config = CodexConfig(launch_args_override=_launch(sim, **provider), cwd=str(ROOT), env=_env(home))
    with deadline():
        codex = Codex(config)
    try:
        with deadline():
            yield codex
    finally:
        codex.close()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


# -- handshake ---------------------------------------------------------------------------------------------


def test_the_sdk_accepts_our_initialize_answer_and_names_the_runtime(tmp_path: Path, sim: Simulator) -> None:
    with sdk(tmp_path, sim) as codex:
        meta = codex.metadata
        assert meta.serverInfo is not None and meta.serverInfo.name == "threadline"
        assert meta.userAgent is not None and meta.userAgent.startswith("threadline/")
        assert "(codex_python_sdk; " in meta.userAgent  # the client's name and version, as Codex writes them
        assert meta.platformFamily == "unix" and meta.platformOs in ("linux", "macos")
        # serverInfo wins over userAgent: the SDK's runtime version is our package version.
        assert codex._client._runtime_version == meta.serverInfo.version


# -- turns -------------------------------------------------------------------------------------------------


def test_thread_run_returns_the_final_response_items_and_usage(tmp_path: Path, sim: Simulator) -> None:
    sim.enqueue(Reply(output=[Reasoning(summary=["Thinking it over."]), Text("Hello from the simulator.", 5)],
                      usage=Usage(input_tokens=40, output_tokens=9)))
    with sdk(tmp_path, sim) as codex:
        thread = codex.thread_start()
        result = thread.run("hi")
    assert result.status == TurnStatus.completed and result.error is None
    assert result.final_response == "Hello from the simulator."
    assert [type(item.root).__name__ for item in result.items] == [
        "UserMessageThreadItem", "ReasoningThreadItem", "AgentMessageThreadItem"]
    assert result.usage is not None and result.usage.last.total_tokens == 49
    assert result.started_at is not None and result.completed_at is not None and result.duration_ms is not None
    assert sim.requests[-1].body["input"][-1]["content"][0]["text"] == "hi"


def test_every_turn_notification_validates_against_the_sdk_models(tmp_path: Path, sim: Simulator) -> None:
    sim.enqueue(Reply(output=[Reasoning(summary=["One.", "Two."], deltas=3), Text("Streamed words here.", 4)]))
    with sdk(tmp_path, sim) as codex:
        handle = codex.thread_start().turn("stream please")
        events = list(handle.stream())
    unknown = [e.method for e in events if isinstance(e.payload, UnknownNotification)]
    assert unknown == [], f"the SDK could not validate (and silently dropped) {unknown}"
    methods = [e.method for e in events]
    assert methods[0] == "turn/started" and methods[-1] == "turn/completed" and methods.count("turn/completed") == 1
    assert {"item/reasoning/summaryPartAdded", "item/reasoning/summaryTextDelta", "item/agentMessage/delta",
            "thread/tokenUsage/updated"} <= set(methods)
    deltas = "".join(e.payload.delta for e in events if e.method == "item/agentMessage/delta")
    assert deltas == "Streamed words here."


def test_a_conversation_keeps_its_history_across_turns(tmp_path: Path, sim: Simulator) -> None:
    sim.enqueue(Reply.text("First answer."), Reply.text("Second answer."))
    with sdk(tmp_path, sim) as codex:
        thread = codex.thread_start()
        assert thread.run("first question").final_response == "First answer."
        assert thread.run("second question").final_response == "Second answer."
        read = thread.read(include_turns=True)
    assert [t.status for t in read.thread.turns] == [TurnStatus.completed, TurnStatus.completed]
    texts = [part.get("text") for entry in sim.requests[-1].body["input"] for part in entry.get("content", [])]
    assert texts == ["first question", "First answer.", "second question"]


def test_a_failed_turn_raises_the_turn_error_message_and_the_thread_goes_on(tmp_path: Path, sim: Simulator) -> None:
    sim.enqueue(HttpError.bad_request("Invalid 'input[0]': something the model refused.", param="input"))
    with sdk(tmp_path, sim) as codex:
        thread = codex.thread_start()
        with pytest.raises(RuntimeError, match="something the model refused"):
            thread.run("this fails")
        assert thread.run("this works").final_response.startswith('You said: "this works"')


def test_interrupt_through_the_sdk_ends_the_turn_as_interrupted(tmp_path: Path, sim: Simulator) -> None:
    gate = Gate()
    sim.enqueue(Reply(output=[Text("never finished", 4)], stall_after=5, gate=gate))
    try:
        with sdk(tmp_path, sim) as codex:
            thread = codex.thread_start()
            handle = thread.turn("wait for it")
            assert gate.wait_reached(SECONDS)
            handle.interrupt()
            result = handle.run()
            assert result.status == TurnStatus.interrupted and result.error is None
            assert thread.run("again").status == TurnStatus.completed
    finally:
        gate.release()


def test_steer_through_the_sdk_joins_the_running_turn(tmp_path: Path, sim: Simulator) -> None:
    gate = Gate()
    sim.enqueue(Reply(output=[Text("Working on it.", 2)], stall_after=3, gate=gate), Reply.text("Done, with both."))
    try:
        with sdk(tmp_path, sim) as codex:
            handle = codex.thread_start().turn("start")
            assert gate.wait_reached(SECONDS)
            assert handle.steer("and also this").turn_id == handle.id
            gate.release()
            result = handle.run()
    finally:
        gate.release()
    assert result.final_response == "Done, with both."
    kinds = [type(item.root).__name__ for item in result.items]
    # As Codex: the steer cut the first response short before it showed anything, so nothing of it remains.
    assert kinds == ["UserMessageThreadItem", "UserMessageThreadItem", "AgentMessageThreadItem"]
    assert [i.get("role") for i in sim.requests[-1].body["input"] if i.get("type") == "message"] == ["user", "user"]


def test_compact_through_the_sdk_is_accepted_or_cleanly_unsupported(tmp_path: Path, sim: Simulator) -> None:
    from openai_codex import MethodNotFoundError

    with sdk(tmp_path, sim) as codex:
        thread = codex.thread_start()
        thread.run("something to compact")
        try:
            thread.compact()
        except MethodNotFoundError:
            pytest.skip("thread/compact/start is not implemented yet (-32601)")


# -- thread management -------------------------------------------------------------------------------------


def test_a_thread_resumes_lists_renames_forks_and_archives_in_a_new_process(tmp_path: Path, sim: Simulator) -> None:
    with sdk(tmp_path, sim) as codex:
        thread = codex.thread_start()
        thread.run("remember me")
        thread.set_name("kept thread")
    with sdk(tmp_path, sim) as codex:
        listed = codex.thread_list()
        assert [(t.id, t.name) for t in listed.data] == [(thread.id, "kept thread")]
        resumed = codex.thread_resume(thread.id)
        turns = resumed.read(include_turns=True).thread.turns
        assert len(turns) == 1 and turns[0].status == TurnStatus.completed
        assert resumed.run("still there?").status == TurnStatus.completed
        fork = codex.thread_fork(thread.id)
        assert fork.id != thread.id and len(fork.read(include_turns=True).thread.turns) == 2
        codex.thread_archive(fork.id)
        assert [t.id for t in codex.thread_list(archived=True).data] == [fork.id]
        assert codex.thread_unarchive(fork.id).id == fork.id
        assert codex.models().data, "model/list answered no model"


@pytest.mark.anyio
async def test_the_async_client_runs_a_turn_too(tmp_path: Path, sim: Simulator) -> None:
    from openai_codex import AsyncCodex

    sim.enqueue(Reply.text("Async hello."))
    config = CodexConfig(launch_args_override=_launch(sim), cwd=str(ROOT), env=_env(tmp_path))
    with anyio.fail_after(SECONDS):
        async with AsyncCodex(config) as codex:
            thread = await codex.thread_start()
            assert (await thread.run("hi")).final_response == "Async hello."


# -- version-gated fields ----------------------------------------------------------------------------------

GATED = {
    "resume excludeTurns": lambda codex, thread: codex.thread_resume(thread.id, include_turns=False),
    # include_turns=True sends excludeTurns: false, which is "not None" and so gated as well.
    "resume include_turns=True": lambda codex, thread: codex.thread_resume(thread.id, include_turns=True),
    "fork excludeTurns": lambda codex, thread: codex.thread_fork(thread.id, include_turns=False),
    "turn/start turnTrigger": lambda codex, thread: thread.run("scheduled", source="cron"),
    "turn/start serviceTierForTurn": lambda codex, thread: thread.run("fast", turn_service_tier="priority"),
    "turn/start toolOutput": lambda codex, thread: thread.run(ExternalMessage("news_feed", "EXTERNAL-SENTINEL")),
}


_REPORT_VERSION = (
    "import os, sys, server.handlers.initialize as init; init.PROTOCOL_VERSION = os.environ['TL_REPORTED_VERSION']; "
    "from server.cli import main; sys.exit(main(sys.argv[1:]))"
)


@contextmanager
def _shared_session(home: Path, reported_version: str | None) -> Iterator[tuple[Codex, Any, Simulator]]:
    """One daemon (and one thread with a finished turn) for every gated call: start-up is the slow part."""
    with Simulator() as simulator:
        if reported_version is None:
            config = CodexConfig(launch_args_override=_launch(simulator), cwd=str(ROOT), env=_env(home))
        else:
            config = CodexConfig(launch_args_override=_launch(simulator, python_prelude=_REPORT_VERSION),
                                 cwd=str(ROOT), env=_env(home, TL_REPORTED_VERSION=reported_version))
        with deadline():
            codex = Codex(config)
        try:
            with deadline():
                thread = codex.thread_start()
                thread.run("hi")
            yield codex, thread, simulator
        finally:
            codex.close()


@pytest.fixture(scope="module")
def as_is(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Codex, Any, Simulator]]:
    with _shared_session(tmp_path_factory.mktemp("as-is"), None) as session:
        yield session


@pytest.fixture(scope="module")
def as_codex(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Codex, Any, Simulator]]:
    with _shared_session(tmp_path_factory.mktemp("as-codex"), "0.163.0") as session:
        assert session[0]._client._runtime_version == "0.163.0"
        yield session


@pytest.mark.parametrize("call", list(GATED), ids=list(GATED))
def test_version_gated_sdk_options_reach_the_daemon(as_is: tuple[Codex, Any, Simulator], call: str) -> None:
    codex, thread, _ = as_is
    with deadline():
        GATED[call](codex, thread)


def _upstream_effect(call: str, body: dict[str, Any]) -> None:
    if call == "turn/start serviceTierForTurn":
        assert body.get("service_tier") == "priority", "serviceTierForTurn did not reach the upstream request"
    if call == "turn/start toolOutput":
        assert "EXTERNAL-SENTINEL" in json_text(body["input"]), "the ExternalMessage content never reached the model"


def json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


_IGNORED: dict[str, str] = {}


@pytest.mark.parametrize("call", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=_IGNORED[name])) if name in _IGNORED else name
    for name in GATED], ids=list(GATED))
def test_the_daemon_serves_version_gated_fields_once_it_reports_a_codex_version(
        as_codex: tuple[Codex, Any, Simulator], call: str) -> None:
    codex, thread, simulator = as_codex
    with deadline():
        GATED[call](codex, thread)
    _upstream_effect(call, simulator.requests[-1].body)


def test_an_unversioned_runtime_launched_through_codex_bin_passes_the_sdk_schema_probe(
        tmp_path: Path, sim: Simulator) -> None:
    """The `0.0.0` path: the SDK runs `<bin> [--config ...] app-server generate-json-schema --experimental`."""
    wrapper = tmp_path / "threadline-0.0.0"
    wrapper.write_text(f"#!{sys.executable}\n{_REPORT_VERSION.replace('; ', chr(10))}\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    config = CodexConfig(codex_bin=str(wrapper), config_overrides=tuple(sim_overrides(sim.base_url)), cwd=str(ROOT),
                         env=_env(tmp_path / "home", TL_REPORTED_VERSION="0.0.0"))
    with deadline(60):
        codex = Codex(config)
        try:
            assert codex._client._runtime_version == "0.0.0"
            thread = codex.thread_start()
            thread.run("hi")
            for call in GATED.values():
                call(codex, thread)
        finally:
            codex.close()


def test_the_sdk_schema_probe_finds_every_gated_field_in_our_generated_schema(tmp_path: Path) -> None:
    probe = CheckoutCapabilities(command=(sys.executable, "-m", "server", "app-server"), cwd=str(ROOT),
                                 env={**os.environ, "PYTHONPATH": str(ROOT), "THREADLINE_HOME": str(tmp_path)})
    fields = probe.fields
    assert {"toolOutput", "turnTrigger", "serviceTierForTurn"} <= fields["turn/start"]
    assert "excludeTurns" in fields["thread/resume"] and "excludeTurns" in fields["thread/fork"]
