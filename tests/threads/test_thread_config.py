"""Where a thread's settings come from, as Codex takes them: `config` on thread/start and resume under the
explicit fields, values checked before anything is stored, and what a turn finally sends upstream."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from protocol.client import RpcFailure
from server.simulator import Simulator
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio

HI = [{"type": "text", "text": "hi"}]


async def _first_request(h: Harness, sim: Simulator, **start: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """thread/start with `start`, one turn: (the thread/start answer, the body the turn sent upstream)."""
    started = await h.client.request("thread/start", start)
    turn, _ = await h.client.run_turn({"threadId": started["thread"]["id"], "input": HI})
    assert turn["status"] == "completed", turn["error"]
    return started, sim.requests[-1].body


async def test_config_on_thread_start_sets_the_model_and_reasoning_and_explicit_fields_win(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            config = {"model": "gpt-5.1", "model_reasoning_effort": "high", "model_reasoning_summary": "detailed"}
            started, body = await _first_request(h, sim, config=config)
            assert (started["model"], started["reasoningEffort"]) == ("gpt-5.1", "high")
            assert (body["model"], body["reasoning"]) == ("gpt-5.1", {"effort": "high", "summary": "detailed"})
            started, body = await _first_request(h, sim, config=config, model="gpt-5.1-codex-max")
            assert started["model"] == body["model"] == "gpt-5.1-codex-max"


async def test_a_config_value_of_the_wrong_type_is_refused_and_no_thread_is_made(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            for config in ({"model_reasoning_effort": 5}, {"model_reasoning_summary": "verbose"},
                           {"sandbox_mode": "everything"}, {"approval_policy": "sometimes"}):
                with pytest.raises(RpcFailure) as refused:
                    await h.client.request("thread/start", {"config": config})
                assert refused.value.code == -32600
                [key] = config
                assert refused.value.message.startswith(f"failed to load configuration: `{key}`")
            assert (await h.client.request("thread/list", {}))["data"] == []


async def test_a_provider_nobody_configured_is_refused_at_thread_start_not_at_the_first_turn(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            for start in ({"modelProvider": "nope"}, {"config": {"model_provider": "nope"}}):
                with pytest.raises(RpcFailure, match="model provider `nope` is not configured") as refused:
                    await h.client.request("thread/start", start)
                assert refused.value.code == -32600
            started = await h.client.request("thread/start", {"modelProvider": "openai",
                                                              "config": {"approval_policy": "on-failure"}})
            assert (started["modelProvider"], started["approvalPolicy"]) == ("openai", "on-request")  # legacy name
            with pytest.raises(RpcFailure, match="model must not be empty"):
                await h.client.request("thread/start", {"model": " "})


async def test_service_tiers_are_sent_as_the_api_names_them_and_an_unknown_one_is_dropped(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            started, body = await _first_request(h, sim, serviceTier="fast")
            assert started["serviceTier"] == body["service_tier"] == "priority"  # Codex's alias
            started, body = await _first_request(h, sim, serviceTier="bogus")
            assert started["serviceTier"] is None and "service_tier" not in body


async def test_turn_start_resolves_a_relative_cwd_and_refuses_an_empty_effort(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": HI, "cwd": "project"})
            resumed = await h.client.request("thread/resume", {"threadId": thread_id})
            assert resumed["cwd"] == resumed["thread"]["cwd"] == os.path.abspath("project")
            with pytest.raises(RpcFailure) as refused:
                await h.client.request("turn/start", {"threadId": thread_id, "input": HI, "effort": ""})
            assert refused.value.code == -32602 and refused.value.data == {"path": "$.effort"}
            with pytest.raises(RpcFailure, match="model must not be empty") as blank:  # as thread/start refuses it
                await h.client.request("turn/start", {"threadId": thread_id, "input": HI, "model": " "})
            assert blank.value.code == -32600
            assert (await h.client.request("thread/resume", {"threadId": thread_id}))["model"] == "gpt-5.1-codex"


async def test_an_effort_is_sent_as_asked_and_ultra_as_the_models_highest(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"model": "gpt-5.1-codex-mini"}))["thread"]["id"]
            for effort, sent in (("none", "none"), ("max", "max"), ("ultra", "high")):  # as Codex sends them
                await h.client.run_turn({"threadId": thread_id, "input": HI, "effort": effort})
                assert sim.requests[-1].body["reasoning"]["effort"] == sent


async def test_a_model_outside_the_catalog_reasons_when_an_effort_is_asked_for(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"model": "local-model"}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": HI})
            assert "reasoning" not in sim.requests[-1].body  # nothing asked: a model we do not know is left alone
            await h.client.run_turn({"threadId": thread_id, "input": HI, "effort": "high"})
            body = sim.requests[-1].body
            assert body["reasoning"]["effort"] == "high" and body["include"] == ["reasoning.encrypted_content"]


async def test_a_turn_start_that_changes_settings_announces_them_before_its_answer(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            order: list[str] = []
            previous = h.client.on_message

            def record(message: dict[str, Any]) -> None:
                if previous is not None:
                    previous(message)
                order.append(message.get("method") or "response")

            h.client.on_message = record
            await h.client.run_turn({"threadId": thread_id, "input": HI})  # no override: nothing to announce
            await h.client.run_turn({"threadId": thread_id, "input": HI, "model": "gpt-5.1", "effort": "high"})
            assert order.count("thread/settings/updated") == 1
            assert order.index("thread/settings/updated") + 1 == order.index("response", order.index("turn/completed"))
            [update] = [m["params"] for m in h.witness.seen if m.get("method") == "thread/settings/updated"]
            settings = update["threadSettings"]
            assert update["threadId"] == thread_id
            assert (settings["model"], settings["effort"], settings["modelProvider"]) == ("gpt-5.1", "high", "sim")
            assert settings["collaborationMode"]["settings"]["model"] == "gpt-5.1"
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV,
                                  experimental=False) as h:  # an experimental notification: others never see it
            await h.client.request("thread/resume", {"threadId": thread_id})
            await h.client.run_turn({"threadId": thread_id, "input": HI, "model": "gpt-5.1-codex"})
            assert not any(m.get("method") == "thread/settings/updated" for m in h.witness.seen)


@pytest.mark.parametrize("bad", [{"modelProvider": "nope"}, {"model": " "},
                                 {"config": {"model_reasoning_summary": "bogus"}}])
async def test_a_resume_refused_for_its_overrides_loads_nothing_and_leaves_the_thread_free(
        tmp_path: Path, bad: dict[str, Any]) -> None:
    async with running_server(tmp_path) as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
    async with running_server(tmp_path) as h:
        with pytest.raises(RpcFailure) as refused:
            await h.client.request("thread/resume", {"threadId": thread_id, **bad})
        assert refused.value.code == -32600
        assert (await h.client.request("thread/loaded/list", {}))["data"] == []  # nor its lease held
        assert not any(m.get("method") == "thread/status/changed" for m in h.witness.seen)
