"""``thread/metadata/update``: patch a stored thread's Git state, loaded or not, archived or not.

As Codex: the answer is the thread as now stored, without turns; nothing is announced and ``updatedAt`` does
not move (it is metadata, not activity). A thread whose Git state was never looked up (no turn yet) is looked
up first, so the patch edits what the thread would have recorded. Ephemeral threads keep no metadata.
"""

from __future__ import annotations

import msgspec

from protocol._generated.types import ThreadMetadataUpdateParams, ThreadMetadataUpdateResponse, ThreadStatus

from ..errors import InvalidRequest
from ..store import ThreadRecord, WriteBatch
from . import git_info
from .params import opt
from .service import Sessions
from .views import NOT_LOADED, thread_view

__all__ = ["update_metadata"]

_MISSING = "no rollout found for thread id {id}"


async def update_metadata(sessions: Sessions, params: ThreadMetadataUpdateParams) -> ThreadMetadataUpdateResponse:
    changes = git_info.check_patch(opt(params.git_info))
    record = await sessions.record(params.thread_id, missing=_MISSING)
    session = sessions.loaded(record.id)
    if session is not None and session.ephemeral:
        raise InvalidRequest(f"ephemeral thread does not support metadata updates: {record.id}")
    # Looked up outside the actor: git may take seconds, and the thread's turn must not wait on it.
    detected = await sessions.deps.git.get(record.cwd) if record.git_info is None else None

    def patched(stored: bytes | None) -> bytes:
        current = git_info.decode(stored) or detected or git_info.NOTHING_FOUND
        return git_info.encode(git_info.apply_patch(current, changes))

    session = sessions.loaded(record.id)  # it may have been loaded while git answered
    status: ThreadStatus
    if session is None:
        record = msgspec.structs.replace(record, git_info=patched(record.git_info))
        with sessions.errors(_MISSING):
            await sessions.store.write(WriteBatch(record.id).update_thread(git_info=record.git_info))
        status = NOT_LOADED
    else:
        loaded = session

        async def apply() -> tuple[ThreadRecord, ThreadStatus]:
            loaded.record = msgspec.structs.replace(loaded.record, git_info=patched(loaded.record.git_info))
            await loaded.persist(WriteBatch(loaded.thread_id).update_thread(git_info=loaded.record.git_info))
            return loaded.record, loaded.status

        record, status = await session.call(apply)
    return ThreadMetadataUpdateResponse(thread=thread_view(record, status=status, store_path=sessions.store.path))
