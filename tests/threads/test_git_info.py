"""server.sessions.git_info on its own: the patch rules, the stored form, and a lookup that never fails."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from protocol._generated.types import GitInfo, ThreadMetadataGitInfoUpdateParams
from server.errors import InvalidRequest
from server.sessions import git_info

FOUND = GitInfo(sha="abc", branch="main", origin_url="https://example.com/r.git")


def test_a_patch_keeps_what_it_leaves_out_clears_nulls_and_trims_strings() -> None:
    changes = git_info.check_patch(ThreadMetadataGitInfoUpdateParams(branch=" dev\n", origin_url=None))
    assert changes == {"branch": "dev", "origin_url": None}
    assert git_info.apply_patch(FOUND, changes) == GitInfo(sha="abc", branch="dev", origin_url=None)


@pytest.mark.parametrize(("patch", "words"), [
    (None, "thread metadata update must include at least one field"),
    (ThreadMetadataGitInfoUpdateParams(), "gitInfo must include at least one field"),
    (ThreadMetadataGitInfoUpdateParams(branch="\t "), "gitInfo.branch must not be empty"),
])
def test_an_empty_or_blank_patch_is_refused(patch: ThreadMetadataGitInfoUpdateParams | None, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        git_info.check_patch(patch)


def test_the_stored_form_tells_never_looked_up_from_nothing_found_and_both_show_null() -> None:
    thread_id = "0190f0f0-0000-7000-8000-000000000000"
    assert git_info.decode(thread_id, None) is None
    assert git_info.decode(thread_id, git_info.encode(git_info.NOTHING_FOUND)) == git_info.NOTHING_FOUND
    assert git_info.wire_view(thread_id, None) is None
    assert git_info.wire_view(thread_id, git_info.encode(git_info.NOTHING_FOUND)) is None
    assert git_info.wire_view(thread_id, git_info.encode(FOUND)) == FOUND


@pytest.mark.anyio
async def test_a_lookup_without_git_or_without_its_directory_finds_nothing(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert await git_info.detect(str(tmp_path / "gone")) == git_info.NOTHING_FOUND
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on PATH
    assert await git_info.detect(str(tmp_path)) == git_info.NOTHING_FOUND


@pytest.mark.anyio
async def test_a_cwd_that_cannot_be_a_path_finds_nothing() -> None:
    # thread/start accepts any string as its cwd; one with a NUL byte cannot even be handed to git.
    assert await git_info.detect("/tmp/a\x00b") == git_info.NOTHING_FOUND


@pytest.mark.anyio
async def test_a_git_that_hangs_is_given_up_on_and_finds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "git"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setattr(git_info, "_GIT_SECONDS", 0.2)
    assert await git_info.detect(str(tmp_path)) == git_info.NOTHING_FOUND


@pytest.mark.anyio
@pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX; elsewhere git alone is killed")
@pytest.mark.parametrize("ended_by", ["its own timeout", "a cancelled lookup"])
async def test_a_git_that_hangs_is_ended_with_everything_it_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    ended_by: str) -> None:
    # A git wrapper that starts a helper, then hangs. Both hold a FIFO open while they live: when the test reads
    # the FIFO's end, every one of them has ended.
    alive = tmp_path / "alive"
    os.mkfifo(alive)
    fake = tmp_path / "git"
    fake.write_text('#!/bin/sh\nexec 3>"$ALIVE"\nsleep 60 &\necho "$!" >&3\nexec sleep 60\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("ALIVE", str(alive))
    reader = os.open(alive, os.O_RDONLY | os.O_NONBLOCK)  # opened first, so no writer waits for a reader
    helpers = bytearray()
    try:
        if ended_by == "its own timeout":
            monkeypatch.setattr(git_info, "_GIT_SECONDS", 1.0)
            assert await git_info.detect(str(tmp_path)) == git_info.NOTHING_FOUND
        else:  # as an interrupted first turn cancels its lookup
            with anyio.move_on_after(1.0):
                await git_info.detect(str(tmp_path))
        with anyio.fail_after(10):
            await read_to_end(reader, helpers)
        assert len(helpers.split()) == 3  # one helper for each git command, all of them ended
    finally:
        os.close(reader)
        for pid in helpers.split():  # only when the test fails: end its own orphans, by pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


@pytest.mark.anyio
async def test_threads_asking_about_one_cwd_at_once_share_one_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    release = anyio.Event()

    async def slow_detect(cwd: str) -> GitInfo:
        calls.append(cwd)
        await release.wait()
        return FOUND

    monkeypatch.setattr(git_info, "detect", slow_detect)
    lookups = git_info.GitLookups()
    answers: list[GitInfo] = []

    async def ask(cwd: str) -> None:
        answers.append(await lookups.get(cwd))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(ask, "/project")
            tg.start_soon(ask, "/other")
            await wait_until(lambda: len(calls) == 2)
            release.set()
    assert sorted(calls) == ["/other", "/project"] and answers == [FOUND] * 51
    assert await lookups.get("/project") == FOUND and len(calls) == 2  # reused for a moment after


@pytest.mark.anyio
async def test_a_cancelled_lookup_is_not_taken_for_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    first_started = anyio.Event()

    async def detect(cwd: str) -> GitInfo:
        calls.append(cwd)
        if len(calls) == 1:
            first_started.set()
            await anyio.sleep_forever()  # cancelled below, as an interrupted turn's lookup is
        return FOUND

    monkeypatch.setattr(git_info, "detect", detect)
    lookups = git_info.GitLookups()
    answers: list[GitInfo] = []

    async def wait_for_it() -> None:
        answers.append(await lookups.get("/project"))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            async with anyio.create_task_group() as first:
                first.start_soon(lookups.get, "/project")
                await first_started.wait()
                tg.start_soon(wait_for_it)
                await anyio.wait_all_tasks_blocked()
                first.cancel_scope.cancel()
    assert answers == [FOUND] and len(calls) == 2


async def read_to_end(fd: int, into: bytearray) -> None:
    """Read a non-blocking ``fd`` until every writer has closed it."""
    while True:
        await anyio.wait_readable(fd)
        if not (chunk := os.read(fd, 4096)):
            return
        into += chunk


async def wait_until(condition: Callable[[], bool]) -> None:
    while not condition():
        await anyio.wait_all_tasks_blocked()
