"""Which threads thread/list shows, as Codex 0.163.0 decides: a thread is listed once a user message has given it a
preview (a fork's own, not its source's), while the archived listing shows every archived thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.simulator import Simulator
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio

PIXEL = "data:image/png;base64,iVBORw0KGgo="
CLIP = "data:audio/wav;base64,UklGRg=="


def _say(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


async def _start(h: Harness) -> str:
    return (await h.client.request("thread/start", {}))["thread"]["id"]


async def _turn(h: Harness, thread_id: str, given: list[dict[str, Any]]) -> str:
    turn, _ = await h.client.run_turn({"threadId": thread_id, "input": given})
    return turn["id"]


async def _listed(h: Harness, **params: Any) -> dict[str, str]:
    """Every listed thread's preview by id."""
    return {t["id"]: t["preview"] for t in (await h.client.request("thread/list", params))["data"]}


async def _preview(h: Harness, thread_id: str) -> str:
    return (await h.client.request("thread/read", {"threadId": thread_id}))["thread"]["preview"]


async def test_a_thread_is_listed_once_a_user_message_gives_it_a_preview(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            fresh = await _start(h)
            named = await _start(h)
            await h.client.request("thread/name/set", {"threadId": named, "name": "a name is no message"})
            blank = await _start(h)
            await _turn(h, blank, _say("   "))
            picture, clip = await _start(h), await _start(h)
            await _turn(h, picture, [{"type": "image", "url": PIXEL}])
            await _turn(h, clip, [{"type": "audio", "url": CLIP}])
            assert await _listed(h) == {clip: "[Audio]", picture: "[Image]"}

            await _turn(h, blank, _say("words at last"))  # the first message with a preview lists it
            await _turn(h, fresh, _say("a first question"))
            assert await _listed(h) == {fresh: "a first question", blank: "words at last", clip: "[Audio]",
                                        picture: "[Image]"}

            # A revert keeps the preview, so the thread stays listed even with no turn left.
            (only_turn,) = [t["id"] for t in (await h.client.request(
                "thread/turns/list", {"threadId": fresh}))["data"]]
            await h.client.request("thread/revert", {"threadId": fresh, "beforeTurnId": only_turn})
            assert (await _listed(h))[fresh] == "a first question"
            assert named not in await _listed(h, modelProviders=[], sourceKinds=["vscode"])


async def test_the_archived_listing_shows_every_archived_thread_even_one_that_never_ran_a_turn(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            idle = await _start(h)
            worked = await _start(h)
            await _turn(h, worked, _say("some work"))
            for thread_id in (idle, worked):
                await h.client.request("thread/archive", {"threadId": thread_id})
            assert await _listed(h, archived=True) == {worked: "some work", idle: ""}
            assert await _listed(h) == {}
            await h.client.request("thread/unarchive", {"threadId": idle})
            assert await _listed(h) == {}  # back among the live threads, still with nothing to list it by
            assert await _listed(h, archived=True) == {worked: "some work"}


async def test_a_fork_is_listed_once_it_has_a_turn_of_its_own_and_shows_that_turn_s_message(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            source = await _start(h)
            first = await _turn(h, source, _say("source question"))
            await _turn(h, source, _say("source follow-up"))
            forked = await h.client.request("thread/fork", {"threadId": source})
            fork = forked["thread"]["id"]
            assert (forked["thread"]["preview"], await _preview(h, fork)) == ("", "")
            cut = (await h.client.request("thread/fork", {"threadId": source, "lastTurnId": first}))["thread"]
            assert cut["preview"] == ""
            shelved = (await h.client.request("thread/fork", {"threadId": source}))["thread"]["id"]
            await h.client.request("thread/archive", {"threadId": shelved})

            assert await _listed(h) == {source: "source question"}
            assert await _listed(h, searchTerm="source question") == {source: "source question"}
            assert await _listed(h, archived=True) == {shelved: ""}

            await _turn(h, fork, _say("fork question"))
            assert await _listed(h) == {fork: "fork question", source: "source question"}
            assert await _preview(h, fork) == "fork question"
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            assert await _listed(h) == {fork: "fork question", source: "source question"}  # as stored
            assert await _preview(h, cut["id"]) == ""
