"""Thread.gitInfo and thread/metadata/update, as Codex 0.163.0 behaves (observed side by side on real repos).

The Git state is looked up once, when a thread is first written with history (its first turn, or a fork), from
real repositories made with the real ``git`` in the test's directory.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from protocol.client import RpcFailure
from server.rpc.connection import Connection
from server.sessions import git_info
from server.sessions.actor import ThreadSession
from server.sessions.git_info import GitLookups
from server.sessions.registry import SessionRegistry
from server.sessions.service import Sessions
from server.sessions.views import NOT_LOADED
from server.simulator import Simulator
from server.store import WriteBatch
from tests.harness import SIM_ENV, running_server, sim_overrides

pytestmark = pytest.mark.anyio

ORIGIN = "https://example.com/team/project.git"
HI = [{"type": "text", "text": "hi"}]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def make_repo(path: Path, *, branch: str = "feature/x", origin: str | None = ORIGIN) -> str:
    """A repository with one commit on ``branch``; returns the commit's hash."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", branch)
    git(path, "commit", "-q", "--allow-empty", "-m", "first")
    if origin is not None:
        git(path, "remote", "add", "origin", origin)
    return git(path, "rev-parse", "HEAD")


async def _refused(h: Any, params: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(RpcFailure) as failure:
        await h.client.request("thread/metadata/update", params)
    return failure.value.code, failure.value.message


async def _git_info(h: Any, thread_id: str) -> Any:
    return (await h.client.request("thread/read", {"threadId": thread_id}))["thread"]["gitInfo"]


async def test_the_first_turn_records_the_cwds_git_state_and_every_view_shows_it(tmp_path: Path) -> None:
    sha = make_repo(tmp_path / "repo")
    expected = {"sha": sha, "branch": "feature/x", "originUrl": ORIGIN}
    with Simulator() as sim:
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            started = await h.client.request("thread/start", {"cwd": str(tmp_path / "repo")})
            thread_id = started["thread"]["id"]
            assert started["thread"]["gitInfo"] is None  # not looked up before the thread has history
            await h.client.run_turn({"threadId": thread_id, "input": HI})
            assert await _git_info(h, thread_id) == expected
            listed = await h.client.request("thread/list", {})
            assert [t["gitInfo"] for t in listed["data"]] == [expected]
        git(tmp_path / "repo", "checkout", "-q", "-b", "later")  # the stored state is not looked up again
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            resumed = await h.client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True})
            assert resumed["thread"]["gitInfo"] == expected
            await h.client.run_turn({"threadId": thread_id, "input": HI})
            assert await _git_info(h, thread_id) == expected


async def test_a_detached_head_names_no_branch_and_a_cwd_outside_git_has_no_git_info(tmp_path: Path) -> None:
    sha = make_repo(tmp_path / "detached", origin=None)
    git(tmp_path / "detached", "checkout", "-q", "--detach")
    (tmp_path / "plain").mkdir()
    with Simulator() as sim:
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            shown = []
            for cwd in ("detached", "plain"):
                thread_id = (await h.client.request("thread/start", {"cwd": str(tmp_path / cwd)}))["thread"]["id"]
                await h.client.run_turn({"threadId": thread_id, "input": HI})
                shown.append(await _git_info(h, thread_id))
            assert shown == [{"sha": sha, "branch": None, "originUrl": None}, None]


async def test_metadata_update_patches_field_by_field_quietly_and_keeps_updated_at(tmp_path: Path) -> None:
    sha = make_repo(tmp_path / "repo")
    with Simulator() as sim:
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"cwd": str(tmp_path / "repo")}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": HI})
            before = (await h.client.request("thread/read", {"threadId": thread_id}))["thread"]
            seen: list[str] = []
            previous = h.client.on_message

            def record(message: dict[str, Any]) -> None:
                seen.append(message.get("method", "response"))
                if previous is not None:
                    previous(message)

            h.client.on_message = record
            # Left out: kept. null: cleared. A string: trimmed, then stored.
            answer = await h.client.request("thread/metadata/update", {
                "threadId": thread_id, "gitInfo": {"branch": "  review/42 ", "originUrl": None}})
            thread = answer["thread"]
            assert thread["gitInfo"] == {"sha": sha, "branch": "review/42", "originUrl": None}
            assert thread["turns"] == [] and thread["status"] == {"type": "idle"}
            assert thread["updatedAt"] == before["updatedAt"] and thread["preview"] == before["preview"]
            assert await _git_info(h, thread_id) == thread["gitInfo"]
            assert seen == ["response", "response"]  # the update and the read: no notification

            await h.client.run_turn({"threadId": thread_id, "input": HI})  # a later turn keeps the patch
            assert await _git_info(h, thread_id) == {"sha": sha, "branch": "review/42", "originUrl": None}

            cleared = await h.client.request("thread/metadata/update", {
                "threadId": thread_id, "gitInfo": {"sha": None, "branch": None}})
            assert cleared["thread"]["gitInfo"] is None  # nothing known reads as null
            await h.client.run_turn({"threadId": thread_id, "input": HI})
            assert await _git_info(h, thread_id) is None  # and is not looked up again
            again = await h.client.request("thread/metadata/update", {"threadId": thread_id,
                                                                      "gitInfo": {"branch": "b"}})
            assert again["thread"]["gitInfo"] == {"sha": None, "branch": "b", "originUrl": None}


async def test_metadata_update_of_a_thread_with_no_turn_looks_its_git_state_up_first(tmp_path: Path) -> None:
    sha = make_repo(tmp_path / "repo")
    async with running_server(tmp_path / "home") as h:
        thread_id = (await h.client.request("thread/start", {"cwd": str(tmp_path / "repo")}))["thread"]["id"]
        answer = await h.client.request("thread/metadata/update", {"threadId": thread_id, "gitInfo": {"branch": "x"}})
        assert answer["thread"]["gitInfo"] == {"sha": sha, "branch": "x", "originUrl": ORIGIN}
    async with running_server(tmp_path / "home") as h:
        read = await h.client.request("thread/read", {"threadId": thread_id})
        assert read["thread"]["gitInfo"] == {"sha": sha, "branch": "x", "originUrl": ORIGIN}


async def test_metadata_update_works_on_a_thread_that_is_not_loaded_and_on_an_archived_one(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    async with running_server(tmp_path / "home") as h:
        kept = (await h.client.request("thread/start", {"cwd": str(tmp_path / "plain")}))["thread"]["id"]
        archived = (await h.client.request("thread/start", {"cwd": str(tmp_path / "plain")}))["thread"]["id"]
    async with running_server(tmp_path / "home") as h:
        answer = await h.client.request("thread/metadata/update", {"threadId": kept, "gitInfo": {"sha": "abc"}})
        assert answer["thread"]["status"] == {"type": "notLoaded"}
        assert answer["thread"]["gitInfo"] == {"sha": "abc", "branch": None, "originUrl": None}
        assert (await h.client.request("thread/loaded/list", {}))["data"] == []  # it stays unloaded
        await h.client.request("thread/archive", {"threadId": archived})
        answer = await h.client.request("thread/metadata/update", {"threadId": archived,
                                                                   "gitInfo": {"originUrl": ORIGIN}})
        assert answer["thread"]["gitInfo"] == {"sha": None, "branch": None, "originUrl": ORIGIN}
    async with running_server(tmp_path / "home") as h:
        assert await _git_info(h, kept) == {"sha": "abc", "branch": None, "originUrl": None}


async def test_a_patch_of_a_thread_that_is_loading_reaches_the_loaded_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sha = make_repo(tmp_path / "repo")
    async with running_server(tmp_path / "home") as h:
        thread_id = (await h.client.request("thread/start", {"cwd": str(tmp_path / "repo")}))["thread"]["id"]
    # A resume is held once it has read the thread, before its actor starts; the patch comes in then, and the
    # load goes on once the patch is either written or waiting for the load.
    loading, go, patch_settled = anyio.Event(), anyio.Event(), anyio.Event()
    settle, while_not_loaded = Sessions._settle_cut_turn, SessionRegistry.while_not_loaded

    async def held_load(self: Sessions, loading_id: str) -> None:
        loading.set()
        await go.wait()
        await settle(self, loading_id)

    async def noted(self: SessionRegistry, *args: Any) -> bool:
        patch_settled.set()  # waiting for the load to end
        return await while_not_loaded(self, *args)

    monkeypatch.setattr(Sessions, "_settle_cut_turn", held_load)
    monkeypatch.setattr(SessionRegistry, "while_not_loaded", noted)
    patched = {"sha": sha, "branch": "patched", "originUrl": ORIGIN}
    with Simulator() as sim:
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            answers: dict[str, Any] = {}

            async def ask(method: str, params: dict[str, Any]) -> None:
                answers[method] = await h.client.request(method, params)
                patch_settled.set()  # the patch answered while the load was held: written under it

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ask, "thread/resume", {"threadId": thread_id, "excludeTurns": True})
                    await loading.wait()
                    tg.start_soon(ask, "thread/metadata/update", {"threadId": thread_id,
                                                                  "gitInfo": {"branch": "patched"}})
                    await patch_settled.wait()
                    go.set()
            assert answers["thread/metadata/update"]["thread"]["gitInfo"] == patched
            assert await _git_info(h, thread_id) == patched  # the loaded thread has it
            await h.client.run_turn({"threadId": thread_id, "input": HI})
            assert await _git_info(h, thread_id) == patched  # and its first turn does not look its state up


@pytest.mark.parametrize("held_at", ["the archive's write", "the unload's announcement"])
async def test_a_patch_racing_the_unload_of_an_archive_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               held_at: str) -> None:
    """The patch reaches the thread while an archive unloads it: queued behind the unload in its actor, or after
    the unload has begun. Either way it is written, to the store."""
    (tmp_path / "plain").mkdir()
    holding, go, looked_up = anyio.Event(), anyio.Event(), anyio.Event()
    persist, notify, get = ThreadSession.persist, Connection.notify, GitLookups.get

    async def held_write(self: ThreadSession, batch: WriteBatch) -> None:
        if any(getattr(op, "archived", None) is True for op in batch.ops) and not holding.is_set():
            holding.set()
            await go.wait()
        await persist(self, batch)

    async def held_announcement(self: Connection, method: str, params: Any) -> None:
        if method == "thread/status/changed" and params.status == NOT_LOADED and not holding.is_set():
            holding.set()  # inside the unload: the thread still registered, its mailbox still open
            await go.wait()
        await notify(self, method, params)

    async def noted(self: GitLookups, cwd: str) -> Any:
        try:
            return await get(self, cwd)
        finally:
            looked_up.set()

    if held_at == "the archive's write":
        monkeypatch.setattr(ThreadSession, "persist", held_write)
    else:
        monkeypatch.setattr(Connection, "notify", held_announcement)
    monkeypatch.setattr(GitLookups, "get", noted)
    patched = {"sha": None, "branch": "b", "originUrl": None}
    async with running_server(tmp_path / "home") as h:
        thread_id = (await h.client.request("thread/start", {"cwd": str(tmp_path / "plain")}))["thread"]["id"]
        answers: dict[str, Any] = {}

        async def ask(method: str, params: dict[str, Any]) -> None:
            try:
                answers[method] = await h.client.request(method, params)
            except RpcFailure as exc:
                answers[method] = (exc.code, exc.message)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask, "thread/archive", {"threadId": thread_id})
                await holding.wait()
                tg.start_soon(ask, "thread/metadata/update", {"threadId": thread_id, "gitInfo": {"branch": "b"}})
                await looked_up.wait()
                await anyio.wait_all_tasks_blocked()  # the patch is as far as it gets while the archive is held
                go.set()
        assert answers["thread/archive"] == {}
        answer = answers["thread/metadata/update"]
        assert answer["thread"]["gitInfo"] == patched and answer["thread"]["status"] == {"type": "notLoaded"}
    async with running_server(tmp_path / "home") as h:
        assert await _git_info(h, thread_id) == patched


async def test_a_thread_stored_with_turns_before_git_state_was_kept_is_never_looked_up(tmp_path: Path) -> None:
    make_repo(tmp_path / "repo")
    with Simulator() as sim:
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_ids = []
            for _ in range(2):
                started = await h.client.request("thread/start", {"cwd": str(tmp_path / "repo")})
                thread_ids.append(started["thread"]["id"])
                await h.client.run_turn({"threadId": thread_ids[-1], "input": HI})
            store = started["thread"]["path"].partition("#")[0]
        with sqlite3.connect(store) as conn:  # the store as it was before migration 3 added the git_info column
            conn.execute("ALTER TABLE threads DROP COLUMN git_info")
            conn.execute("PRAGMA user_version = 2")
        conn.close()
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            turned, patched = thread_ids
            await h.client.request("thread/resume", {"threadId": turned, "excludeTurns": True})
            await h.client.run_turn({"threadId": turned, "input": HI})
            assert await _git_info(h, turned) is None  # its Git state then is unknown; today's is not it
            answer = await h.client.request("thread/metadata/update", {"threadId": patched,
                                                                       "gitInfo": {"branch": "b"}})
            assert answer["thread"]["gitInfo"] == {"sha": None, "branch": "b", "originUrl": None}


async def test_a_patch_made_while_the_first_turns_git_lookup_runs_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sha = make_repo(tmp_path / "repo")
    looking, git_answers = anyio.Event(), anyio.Event()
    get = GitLookups.get

    async def first_held(self: GitLookups, cwd: str) -> Any:
        if not looking.is_set():
            looking.set()  # the first turn's lookup: it answers once the patch is in
            await git_answers.wait()
        return await get(self, cwd)

    monkeypatch.setattr(GitLookups, "get", first_held)
    patched = {"sha": sha, "branch": "patched", "originUrl": ORIGIN}
    with Simulator() as sim:
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"cwd": str(tmp_path / "repo")}))["thread"]["id"]
            turn_id = (await h.client.request("turn/start", {"threadId": thread_id, "input": HI}))["turn"]["id"]
            with anyio.fail_after(10):
                await looking.wait()
            answer = await h.client.request("thread/metadata/update", {"threadId": thread_id,
                                                                       "gitInfo": {"branch": "patched"}})
            assert answer["thread"]["gitInfo"] == patched
            git_answers.set()
            events = [e async for e in h.client.turn_events(turn_id, timeout=10)]
            assert events[-1]["params"]["turn"]["status"] == "completed"
            assert await _git_info(h, thread_id) == patched  # the turn's lookup, answered later, did not undo it


async def test_first_turns_forks_and_patches_in_one_cwd_share_one_git_lookup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sha = make_repo(tmp_path / "repo")
    (tmp_path / "plain").mkdir()
    looked_up: list[str] = []
    detect = git_info.detect

    async def counted(cwd: str) -> Any:
        looked_up.append(cwd)
        return await detect(cwd)

    monkeypatch.setattr(git_info, "detect", counted)
    monkeypatch.setattr(git_info, "_REUSE_SECONDS", 600.0)  # shared however slowly this machine runs the test
    found = {"sha": sha, "branch": "feature/x", "originUrl": ORIGIN}
    with Simulator() as sim:
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            threads = [(await h.client.request("thread/start", {"cwd": str(tmp_path / cwd)}))["thread"]["id"]
                       for cwd in ("repo", "repo", "repo", "plain", "repo")]
            *turned, patched = threads
            async with anyio.create_task_group() as tg:  # first turns at once
                for thread_id in turned:
                    tg.start_soon(h.client.run_turn, {"threadId": thread_id, "input": HI})
            fork = await h.client.request("thread/fork", {"threadId": turned[0], "excludeTurns": True})
            await h.client.request("thread/metadata/update", {"threadId": patched, "gitInfo": {"branch": "b"}})
            assert [await _git_info(h, t) for t in (*turned, fork["thread"]["id"])] == [found] * 3 + [None, found]
            assert sorted(looked_up) == sorted([str(tmp_path / "repo"), str(tmp_path / "plain")])


async def test_a_fork_looks_its_git_state_up_again(tmp_path: Path) -> None:
    sha = make_repo(tmp_path / "repo")
    with Simulator() as sim:
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"cwd": str(tmp_path / "repo")}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": HI})
            await h.client.request("thread/metadata/update", {"threadId": thread_id, "gitInfo": {"branch": "zzz"}})
            fork = await h.client.request("thread/fork", {"threadId": thread_id, "excludeTurns": True})
            fresh = {"sha": sha, "branch": "feature/x", "originUrl": ORIGIN}
            assert fork["thread"]["gitInfo"] == fresh
            assert await _git_info(h, fork["thread"]["id"]) == fresh
            assert (await _git_info(h, thread_id))["branch"] == "zzz"


async def test_a_cwd_git_cannot_start_in_gets_no_git_info_and_costs_nothing(tmp_path: Path) -> None:
    with Simulator() as sim:
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            for patch_first in (True, False):
                thread_id = (await h.client.request("thread/start", {"cwd": "/tmp/a\x00b"}))["thread"]["id"]
                if patch_first:
                    answer = await h.client.request("thread/metadata/update",
                                                    {"threadId": thread_id, "gitInfo": {"branch": "b"}})
                    assert answer["thread"]["gitInfo"] == {"sha": None, "branch": "b", "originUrl": None}
                done, _ = await h.client.run_turn({"threadId": thread_id, "input": HI})
                assert done["status"] == "completed"
                assert await _git_info(h, thread_id) == ({"sha": None, "branch": "b", "originUrl": None}
                                                         if patch_first else None)


async def test_a_git_lookup_that_breaks_costs_the_first_turn_nothing_and_is_not_tried_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_repo(tmp_path / "repo")
    asked: list[str] = []

    async def broken(self: GitLookups, cwd: str) -> Any:
        asked.append(cwd)
        raise RuntimeError("a bug in the lookup")

    monkeypatch.setattr(GitLookups, "get", broken)
    with Simulator() as sim:
        async with running_server(tmp_path / "home", overrides=sim_overrides(sim.base_url), env=SIM_ENV) as h:
            thread_id = (await h.client.request("thread/start", {"cwd": str(tmp_path / "repo")}))["thread"]["id"]
            for _ in range(2):
                done, _ = await h.client.run_turn({"threadId": thread_id, "input": HI})
                assert done["status"] == "completed"
            assert await _git_info(h, thread_id) is None
            assert asked == [str(tmp_path / "repo")]  # stored as nothing found: the second turn did not ask


async def test_metadata_update_refuses_bad_patches_and_threads_in_codexs_words(tmp_path: Path) -> None:
    async with running_server(tmp_path / "home") as h:
        thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
        ephemeral = (await h.client.request("thread/start", {"ephemeral": True}))["thread"]["id"]
        unknown = "01a244cb-39f7-7492-b305-21f91ca14372"
        refusals = [
            ({"threadId": thread_id}, "thread metadata update must include at least one field"),
            ({"threadId": thread_id, "gitInfo": None}, "thread metadata update must include at least one field"),
            ({"threadId": thread_id, "gitInfo": {}}, "gitInfo must include at least one field"),
            ({"threadId": thread_id, "gitInfo": {"sha": "  "}}, "gitInfo.sha must not be empty"),
            ({"threadId": thread_id, "gitInfo": {"originUrl": ""}}, "gitInfo.originUrl must not be empty"),
            ({"threadId": ephemeral, "gitInfo": {"branch": "b"}},
             f"ephemeral thread does not support metadata updates: {ephemeral}"),
            ({"threadId": unknown, "gitInfo": {"branch": "b"}}, f"no rollout found for thread id {unknown}"),
            ({"threadId": "not-a-uuid", "gitInfo": {"branch": "b"}}, "invalid thread id: not-a-uuid"),
        ]
        for params, words in refusals:
            assert await _refused(h, params) == (-32600, words), params
        code, _ = await _refused(h, {"threadId": thread_id, "gitInfo": {"branch": 3}})
        assert code == -32602  # params that do not decode (see the README's differences)
        assert await _git_info(h, thread_id) is None  # nothing refused was stored
