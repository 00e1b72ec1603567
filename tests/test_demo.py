"""`threadline demo` as a user runs it: a real subprocess, offline, bounded, exit status and transcript checked."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import anyio
import pytest

from server.demo_script import SCRIPT
from server.simulator import HttpError, Simulator

pytestmark = pytest.mark.anyio


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("THREADLINE_HOME", "OPENAI_API_KEY")}
    return {**env, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **extra}


async def _demo(*args: str, env: dict[str, str], seconds: float = 90) -> tuple[int, str, str]:
    with anyio.fail_after(seconds):
        done = await anyio.run_process([sys.executable, "-m", "server", *args], env=env, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def _scripted_texts() -> list[str]:
    texts = []
    for exchange in SCRIPT:
        for reply in exchange.replies:
            texts += [part.text for part in reply.output if hasattr(part, "text")]
    return texts


async def test_the_offline_demo_streams_the_scripted_conversation_and_ends_with_a_summary() -> None:
    code, out, err = await _demo("demo", env=_env())
    assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    assert "✗" not in out
    for exchange in SCRIPT:
        assert f"you ▸ {exchange.prompt}" in out
    for text in _scripted_texts():
        assert text in out, f"scripted reply missing from the transcript: {text[:60]!r}"
    assert "thinking: Reading the function before judging it" in out
    assert "tool call: read_file(path='app/settings.py')" in out
    assert "tool result: ok, 14 lines" in out
    scene = out[out.index("Compaction"):out.index("Summary")]  # the compaction hook: run, or skipped with a note
    assert "skipped: this daemon does not implement thread/compact/start" in scene or "checkpoint applied" in scene
    summary = out[out.index("Summary"):]
    assert re.search(r"turns\s+4 \(0 failed\)", summary)
    assert re.search(r"items\s+10 \(4 agentMessage, 1 dynamicToolCall, 1 reasoning, 4 userMessage\)", summary)
    assert re.search(r"tokens\s+\d+ total", summary)
    assert re.search(r"upstream requests\s+5 to /responses for the conversation", summary)
    assert re.search(r"time\s+[\d.]+ s wall", summary)


async def test_the_demo_removes_its_temporary_home_and_honours_turns() -> None:
    code, out, err = await _demo("demo", "--turns", "1", env=_env())
    assert code == 0, err
    assert re.search(r"turns\s+1 \(0 failed\)", out)
    assert SCRIPT[1].prompt not in out
    home = re.search(r"home\s+(\S+) \(temporary", out)
    assert home is not None and not Path(home.group(1)).exists()


async def test_live_without_an_api_key_fails_with_a_clear_message() -> None:
    code, out, err = await _demo("demo", "--live", env=_env(), seconds=30)
    assert code == 2
    assert "OPENAI_API_KEY is not set" in err
    assert "Summary" not in out


async def test_live_talks_to_the_openai_provider_and_keeps_a_home_the_user_chose(tmp_path: Path) -> None:
    # No network: the built-in openai provider is pointed at a local simulator through the user's own -c flag,
    # which the demo passes on to the daemon.
    home = tmp_path / "home"
    async with Simulator() as sim:
        env = _env(OPENAI_API_KEY="sk-demo-test", THREADLINE_HOME=str(home))
        code, out, err = await _demo("-c", f'openai_base_url="{sim.base_url}"', "demo", "--live", "--turns", "2",
                                     env=env)
        requests = sim.requests_to("responses")
    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "via provider openai" in out
    assert f'You said: "{SCRIPT[1].prompt}"' in out
    assert len(requests) == 2
    assert requests[0].headers["authorization"] == "Bearer sk-demo-test"
    assert any(tool.get("name") == "read_file" for tool in requests[0].body["tools"])
    assert (home / "threadline.sqlite3").exists() and f"{home} (kept)" in out


async def test_every_request_the_live_demo_sends_is_one_the_openai_api_types_accept(tmp_path: Path) -> None:
    from tests.upstream.request_types import assert_all_valid  # skips this test without the openai package

    async with Simulator() as sim:  # every turn of the conversation, then its compaction
        env = _env(OPENAI_API_KEY="sk-demo-test", THREADLINE_HOME=str(tmp_path / "home"))
        code, out, err = await _demo("-c", f'openai_base_url="{sim.base_url}"', "demo", "--live", env=env)
    assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert len(sim.requests_to("responses")) == len(SCRIPT) and len(sim.requests_to("compact")) == 1
    assert_all_valid(sim)


async def test_a_failed_turn_ends_the_conversation_with_status_1_and_no_compaction() -> None:
    async with Simulator() as sim:
        sim.enqueue(HttpError.api_error(401, "Incorrect API key provided."))
        env = _env(OPENAI_API_KEY="sk-wrong")
        code, out, err = await _demo("-c", f'openai_base_url="{sim.base_url}"', "demo", "--live", env=env)
        requests = sim.requests_to("responses")
    assert code == 1, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Incorrect API key provided" in out and "stopping here" in out
    assert SCRIPT[1].prompt not in out and "Compaction" not in out
    assert re.search(r"turns\s+1 \(1 failed\)", out)
    assert len(requests) == 1


async def test_a_bad_turn_count_is_a_usage_error() -> None:
    code, _, err = await _demo("demo", "--turns", "0", env=_env(), seconds=30)
    assert code == 2 and "--turns must be between 1 and" in err
