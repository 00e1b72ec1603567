"""A thread's Git state: looked up from its cwd once, stored, patched by ``thread/metadata/update``.

As Codex does, the lookup happens when a thread is first written with history — its first turn, or a fork —
and never again: a later patch edits what was stored, and a thread whose fields were all cleared stays
without Git state. The stored form (``ThreadRecord.git_info``) tells "never looked up" (None) from "looked
up, nothing found or all cleared" (a GitInfo whose fields are all null), which the wire shows as null. A stored
form that does not decode reads as nothing found, with a warning (``server.sessions.damage``): Git state is an
annotation, and it is not looked up again (the thread was written with history before), but a patch writes over it.

The lookup runs ``git`` three times at once (commit, branch, origin URL), each bounded in time; a cwd that is
not a repository, a missing ``git`` or a stuck one all give null fields, never an error. A git that overruns is
killed with everything it started (on POSIX it leads a process group of its own, and the group is killed).
``GitLookups`` shares one lookup among the threads that ask about the same cwd at once (fifty first turns in one
project spawn three processes, not a hundred and fifty, which measurably slowed every running stream) and reuses
its answer for a moment after.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess

import anyio
import msgspec
from anyio.abc import Process
from msgspec import UNSET

from protocol._generated.types import GitInfo, ThreadMetadataGitInfoUpdateParams

from ..errors import InvalidRequest
from .damage import decoded

__all__ = ["NOTHING_FOUND", "GitLookups", "apply_patch", "check_patch", "decode", "detect", "encode", "first_lookup",
           "wire_view"]

logger = logging.getLogger(__name__)

NOTHING_FOUND = GitInfo(sha=None, branch=None, origin_url=None)

_GIT_SECONDS = 5.0  # as Codex bounds each git command
_OWN_SESSION = os.name == "posix"  # git leads a process group of its own, so an overrun ends all it started
_REUSE_SECONDS = 2.0  # a repository's HEAD seldom moves within this; a turn started later looks again
_decoder = msgspec.json.Decoder(GitInfo)
_FIELDS = (("sha", "sha"), ("branch", "branch"), ("origin_url", "originUrl"))


def encode(info: GitInfo) -> bytes:
    return msgspec.json.encode(info)


def decode(thread_id: str, stored: bytes | None) -> GitInfo | None:
    """The stored state; None when it was never looked up, NOTHING_FOUND when it cannot be read."""
    if stored is None:
        return None
    info = decoded(_decoder, stored, thread_id, "Git state (threads.git_info)", "it reads as nothing known")
    return NOTHING_FOUND if info is None else info


def wire_view(thread_id: str, stored: bytes | None) -> GitInfo | None:
    """``Thread.gitInfo``: null when never looked up, and when nothing is known."""
    info = decode(thread_id, stored)
    return None if info is None or info == NOTHING_FOUND else info


async def _git(cwd: str, *args: str) -> str | None:
    """One ``git`` command's trimmed output, or None when it fails, is missing or hangs."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}  # never prompt, never lock
    try:
        # stdin is the daemon's wire and stderr its log: git gets neither.
        process = await anyio.open_process(["git", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, start_new_session=_OWN_SESSION)
    # No git on PATH or a cwd that no longer exists (OSError); a cwd that cannot be a path at all, such as one
    # with a NUL byte, which thread/start accepts (ValueError).
    except (OSError, ValueError) as exc:
        logger.debug("git %s in %s failed to start: %s", args[0], cwd, exc)
        return None
    output, code = bytearray(), None
    async with process:
        try:
            with anyio.move_on_after(_GIT_SECONDS):
                assert process.stdout is not None
                async for chunk in process.stdout:  # to its end: git, and all it started, are done writing
                    output += chunk
                code = await process.wait()
        finally:
            if code is None:  # it overran, or the lookup was cancelled
                _end(process)
    if code is None:
        logger.warning("git %s in %s took over %g s; its answer is left out", args[0], cwd, _GIT_SECONDS)
        return None
    return (output.decode("utf-8", "replace").strip() or None) if code == 0 else None


def _end(process: Process) -> None:
    """End a git that overran and, on POSIX, everything it started: a wrapper script's children would otherwise
    run on, orphaned. They share git's process group unless they left it themselves, as a daemon does."""
    with contextlib.suppress(ProcessLookupError):  # all of them have exited already
        if _OWN_SESSION:
            os.killpg(process.pid, signal.SIGKILL)  # the group outlives git itself while its children run
        elif process.returncode is None:
            process.kill()


async def detect(cwd: str) -> GitInfo:
    """The Git state of ``cwd`` now (``NOTHING_FOUND`` outside a repository)."""
    found: dict[str, str | None] = {}

    async def ask(field: str, *args: str) -> None:
        found[field] = await _git(cwd, *args)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, "sha", "rev-parse", "HEAD")
        tg.start_soon(ask, "branch", "rev-parse", "--abbrev-ref", "HEAD")
        tg.start_soon(ask, "origin_url", "remote", "get-url", "origin")
    branch = found["branch"]
    # A detached HEAD names no branch: git answers "HEAD".
    return GitInfo(sha=found["sha"], branch=None if branch == "HEAD" else branch, origin_url=found["origin_url"])


async def first_lookup(lookups: GitLookups, cwd: str, turn_count: int) -> GitInfo:
    """The Git state to record for a thread that has none yet: its cwd's state now, as Codex looks it up when it
    first writes a thread. Nothing, for a thread that has turns already: it was first written before Threadline
    kept Git state (store migration 3), Codex never looks a thread up after that first write, and the cwd's state
    today is not what it was then."""
    if turn_count > 0:
        return NOTHING_FOUND
    return await lookups.get(cwd)


class _Lookup:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: GitInfo | None = None  # None when the lookup was cancelled: ask again
        self.finished_at = 0.0


class GitLookups:
    """``detect`` shared per cwd: one lookup at a time for a cwd, its answer reused for ``_REUSE_SECONDS``."""

    def __init__(self) -> None:
        self._by_cwd: dict[str, _Lookup] = {}

    async def get(self, cwd: str) -> GitInfo:
        while True:
            lookup = self._by_cwd.get(cwd)
            if lookup is not None and lookup.done.is_set() and (
                    anyio.current_time() - lookup.finished_at > _REUSE_SECONDS or lookup.result is None):
                lookup = None
            if lookup is None:
                return await self._look_up(cwd)
            await lookup.done.wait()
            if lookup.result is not None:
                return lookup.result

    async def _look_up(self, cwd: str) -> GitInfo:
        lookup = self._by_cwd[cwd] = _Lookup()
        try:
            lookup.result = await detect(cwd)
            return lookup.result
        finally:
            lookup.finished_at = anyio.current_time()
            lookup.done.set()
            if lookup.result is None:  # cancelled: nobody may take "nothing" for the answer
                del self._by_cwd[cwd]
            self._forget_old()

    def _forget_old(self) -> None:
        now = anyio.current_time()
        for cwd in [c for c, old in self._by_cwd.items()
                    if old.done.is_set() and now - old.finished_at > _REUSE_SECONDS]:
            del self._by_cwd[cwd]


def check_patch(patch: ThreadMetadataGitInfoUpdateParams | None) -> dict[str, str | None]:
    """The patch's changes by field (values trimmed), or the -32600 Codex gives for an empty or blank one."""
    if patch is None:
        raise InvalidRequest("thread metadata update must include at least one field")
    changes: dict[str, str | None] = {}
    for field, wire_name in _FIELDS:
        value = getattr(patch, field)
        if value is UNSET:
            continue
        if value is not None:
            value = value.strip()
            if not value:
                raise InvalidRequest(f"gitInfo.{wire_name} must not be empty")
        changes[field] = value
    if not changes:
        raise InvalidRequest("gitInfo must include at least one field")
    return changes


def apply_patch(current: GitInfo, changes: dict[str, str | None]) -> GitInfo:
    return msgspec.structs.replace(current, **changes)
