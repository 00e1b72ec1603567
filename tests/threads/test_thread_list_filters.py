"""thread/list filters as Codex 0.163.0 applies them: the default provider, searchTerm, and the edge values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from protocol.client import RpcFailure
from server.simulator import Simulator
from tests.harness import SIM_ENV, Harness, running_server, sim_overrides

pytestmark = pytest.mark.anyio


def _with_second_provider(base_url: str) -> list[str]:
    """The simulator as the configured provider `sim`, and again as `sim2`, which threads can pick."""
    return [*sim_overrides(base_url),
            f'model_providers.sim2={{ name = "Sim Two", base_url = "{base_url}", env_key = "SIM_API_KEY" }}']


async def _thread_with_turn(h: Harness, text: str, **start: Any) -> str:
    thread_id = (await h.client.request("thread/start", start))["thread"]["id"]
    await h.client.run_turn({"threadId": thread_id, "input": [{"type": "text", "text": text}]})
    return thread_id


async def _ids(h: Harness, params: dict[str, Any]) -> list[str]:
    return [t["id"] for t in (await h.client.request("thread/list", params))["data"]]


async def test_without_model_providers_only_the_configured_provider_is_listed_and_an_empty_list_means_all(
        tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=_with_second_provider(sim.base_url), env=SIM_ENV) as h:
            cwd = str(tmp_path)
            a = await _thread_with_turn(h, "alpha on sim", cwd=cwd)
            b = await _thread_with_turn(h, "beta on sim2", cwd=cwd, modelProvider="sim2")
            c = await _thread_with_turn(h, "gamma on sim", cwd=cwd)
            assert await _ids(h, {}) == [c, a]
            assert await _ids(h, {"modelProviders": None}) == [c, a]
            assert await _ids(h, {"modelProviders": []}) == [c, b, a]
            assert await _ids(h, {"modelProviders": ["sim2"]}) == [b]
            assert await _ids(h, {"modelProviders": ["sim", "sim2"]}) == [c, b, a]

            # Every other filter keeps the default: cwd, sources, search, sort, exclusions.
            assert await _ids(h, {"cwd": cwd}) == [c, a]
            assert await _ids(h, {"cwd": [cwd, str(tmp_path / "elsewhere")]}) == [c, a]
            assert await _ids(h, {"sourceKinds": ["vscode"]}) == [c, a]
            assert await _ids(h, {"searchTerm": "on sim"}) == [c, a]
            assert await _ids(h, {"searchTerm": "beta"}) == []
            assert await _ids(h, {"sortKey": "updated_at", "sortDirection": "asc"}) == [a, c]
            assert await _ids(h, {"excludedThreadIds": [a]}) == [c]

            # A cursor walk sees the same threads, page by page.
            walked, cursor = [], None
            for _ in range(5):
                page = await h.client.request("thread/list", {"limit": 1} | ({"cursor": cursor} if cursor else {}))
                walked += [t["id"] for t in page["data"]]
                if (cursor := page["nextCursor"]) is None:
                    break
            assert walked == [c, a]

            await h.client.request("thread/archive", {"threadId": a})
            await h.client.request("thread/archive", {"threadId": b})
            assert await _ids(h, {"archived": True}) == [a]
            assert await _ids(h, {"archived": True, "modelProviders": []}) == [b, a]


async def test_search_term_is_a_case_sensitive_substring_of_the_name_or_the_preview(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            pie = await _thread_with_turn(h, "alpha Apple pie")
            named = await _thread_with_turn(h, "gamma cherry")
            await h.client.request("thread/name/set", {"threadId": named, "name": "Named Thing"})
            found = {term: await _ids(h, {"searchTerm": term}) for term in (
                "Apple pie", "alpha", "Named", "Thing", "cherry", "a",
                "apple", "APPLE", "named", "thing", "NAMED", "%", "_", "pie ", "alpha  Apple")}
            assert found == {
                "Apple pie": [pie], "alpha": [pie], "Named": [named], "Thing": [named], "cherry": [named],
                "a": [named, pie],
                # As Codex: no case folding, no LIKE wildcards, no trimming.
                "apple": [], "APPLE": [], "named": [], "thing": [], "NAMED": [], "%": [], "_": [], "pie ": [],
                "alpha  Apple": []}


async def _refusal(h: Harness, method: str, params: dict[str, Any]) -> tuple[int, str, Any]:
    with pytest.raises(RpcFailure) as refused:
        await h.client.request(method, params)
    return refused.value.code, refused.value.message, refused.value.data


async def test_edge_values_of_thread_list_are_answered_as_codex_answers_them(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path, overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            a = await _thread_with_turn(h, "alpha", cwd=str(tmp_path))
            b = await _thread_with_turn(h, "beta", cwd=str(tmp_path))
            # An empty list of directories allows none; no thread is in a section.
            assert await h.client.request("thread/list", {"cwd": []}) == {
                "data": [], "nextCursor": None, "backwardsCursor": None}
            assert await _ids(h, {"sectionId": "some-section"}) == []
            assert await _ids(h, {"sortKey": "section_position", "sectionId": "some-section"}) == []
            for section in ({}, {"sectionId": None}):
                assert await _refusal(h, "thread/list", {"sortKey": "section_position", **section}) == (
                    -32600, "section-position sorting requires a section filter", None)

            # Excluded ids are UUIDs in any of their spellings; anything else refuses the whole list.
            spellings = [a.upper(), a.replace("-", ""), f"urn:uuid:{a}", f"{{{a}}}"]
            assert [await _ids(h, {"excludedThreadIds": [spelling]}) for spelling in spellings] == [[b]] * 4
            assert await _ids(h, {"excludedThreadIds": ["00000000-0000-0000-0000-000000000000"]}) == [b, a]
            for bad in ("not-a-uuid", "", f"urn:uuid:{a.replace('-', '')}", f"{{{a}"):
                code, message, _ = await _refusal(h, "thread/list", {"excludedThreadIds": [b, bad]})
                assert (code, message) == (-32602, f"invalid excluded thread id: {bad}")
            too_many = [f"00000000-0000-0000-0000-{n:012d}" for n in range(101)]
            assert (await _refusal(h, "thread/list", {"excludedThreadIds": too_many}))[:2] == (
                -32602, "excludedThreadIds accepts at most 100 entries")
            assert (await _refusal(h, "thread/list", {"originators": ["someone"]}))[:2] == (
                -32602, "originator filtering is not supported by the local app-server")

            # limit is a u32, as in Codex: 2^32 - 1 is a (large) page, 2^32 is refused and names the field.
            assert await _ids(h, {"limit": 4294967295}) == [b, a]
            for method, params in (("thread/list", {}), ("thread/loaded/list", {}),
                                   ("thread/turns/list", {"threadId": a}), ("thread/items/list", {"threadId": a}),
                                   ("model/list", {})):
                code, _, data = await _refusal(h, method, {**params, "limit": 4294967296})
                assert (code, data) == (-32602, {"path": "$.limit"}), method
