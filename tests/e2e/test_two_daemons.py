"""Two daemons on one home (two IDE windows): a thread has one writer at a time, and the other is told so.

Each daemon is a real subprocess; the lease is a lock the kernel holds for the process, so this cannot be shown
with two in-memory servers in the test's own process.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
import pytest

from protocol.client import AppServerClient, RpcFailure
from server.simulator import Simulator
from tests.harness import SIM_ENV, sim_overrides

pytestmark = pytest.mark.anyio

HI = [{"type": "text", "text": "hi"}]


def _command(sim: Simulator) -> list[str]:
    flags = [arg for override in sim_overrides(sim.base_url) for arg in ("-c", override)]
    return [sys.executable, "-m", "server", *flags, "-c", "thread_unload_delay_secs=0", "app-server"]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, **SIM_ENV, "THREADLINE_HOME": str(home)}


async def _refused(client: AppServerClient, method: str, params: dict[str, object]) -> str:
    with pytest.raises(RpcFailure) as refused:
        await client.request(method, params, timeout=10)
    assert refused.value.code == -32600
    return refused.value.message


async def test_a_thread_loaded_by_one_daemon_is_refused_to_another_until_it_lets_go(tmp_path: Path) -> None:
    with Simulator() as sim, anyio.fail_after(60):
        async with AppServerClient.spawn(_command(sim), env=_env(tmp_path)) as first, \
                AppServerClient.spawn(_command(sim), env=_env(tmp_path)) as second:
            await first.initialize()
            await second.initialize()
            thread_id = (await first.request("thread/start", {}))["thread"]["id"]
            turn, _ = await first.run_turn({"threadId": thread_id, "input": HI})
            message = await _refused(second, "thread/resume", {"threadId": thread_id})
            assert message.startswith(f"thread {thread_id} already has an active writer")
            for method, params in (("thread/name/set", {"name": "mine"}), ("thread/archive", {}),
                                   ("thread/revert", {"beforeTurnId": turn["id"]}), ("thread/delete", {})):
                assert "already has an active writer" in await _refused(second, method, {"threadId": thread_id,
                                                                                         **params})
            read = await second.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            assert [t["status"] for t in read["thread"]["turns"]] == ["completed"]  # reading needs no lease
            assert await first.request("thread/unsubscribe", {"threadId": thread_id}) == {"status": "unsubscribed"}
            await first.next_global("thread/closed")  # unloaded: the lease is given back
            await second.request("thread/resume", {"threadId": thread_id})
            turn, _ = await second.run_turn({"threadId": thread_id, "input": HI})
            assert turn["status"] == "completed"
            assert [len(r.body["input"]) for r in sim.requests] == [1, 3]  # the second saw the first's turn


async def test_a_daemon_killed_outright_leaves_its_threads_free(tmp_path: Path) -> None:
    with Simulator() as sim, anyio.fail_after(60):
        async with AppServerClient.spawn(_command(sim), env=_env(tmp_path)) as first:
            await first.initialize()
            thread_id = (await first.request("thread/start", {}))["thread"]["id"]
            assert first.process is not None
            first.process.send_signal(signal.SIGKILL)
            await first.process.wait()
        async with AppServerClient.spawn(_command(sim), env=_env(tmp_path)) as second:
            await second.initialize()
            resumed = await second.request("thread/resume", {"threadId": thread_id})
            assert resumed["thread"]["id"] == thread_id
