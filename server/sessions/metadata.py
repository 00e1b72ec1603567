"""``thread/metadata/update``: patch a stored thread's Git state, loaded or not, archived or not.

As Codex: the answer is the thread as now stored, without turns; nothing is announced and ``updatedAt`` does
not move (it is metadata, not activity). A thread whose Git state was never looked up (no turn yet) is looked
up first, so the patch edits what the thread would have recorded (nothing, for a thread stored with turns before
Git state was kept). Ephemeral threads keep no metadata. A patch that races a load or an unload of its thread is
neither lost nor refused (``Sessions.change``).
"""

from __future__ import annotations

import msgspec

from protocol._generated.types import ThreadMetadataUpdateParams, ThreadMetadataUpdateResponse, ThreadStatus

from ..errors import InvalidRequest
from ..store import ThreadRecord, WriteBatch
from . import git_info
from .actor import ThreadSession
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
    detected = None
    if record.git_info is None:
        detected = await git_info.first_lookup(sessions.deps.git, record.cwd, record.turn_count)

    def patched(stored: ThreadRecord) -> ThreadRecord:
        current = git_info.decode(stored.id, stored.git_info) or detected or git_info.NOTHING_FOUND
        return msgspec.structs.replace(stored, git_info=git_info.encode(git_info.apply_patch(current, changes)))

    async def in_store() -> tuple[ThreadRecord, ThreadStatus]:
        with sessions.errors(_MISSING):
            stored = patched(await sessions.store.get_thread(record.id))
            await sessions.store.write(WriteBatch(record.id).update_thread(git_info=stored.git_info))
        return stored, NOT_LOADED

    async def in_actor(session: ThreadSession) -> tuple[ThreadRecord, ThreadStatus]:
        record = patched(session.record)
        # Written first: a write that fails leaves the record as the store holds it (a turn's batches never carry
        # git_info, so none written meanwhile can undo it).
        await session.persist(WriteBatch(session.thread_id).update_thread(git_info=record.git_info))
        session.record = msgspec.structs.replace(session.record, git_info=record.git_info)
        return session.record, session.status

    # Loaded or not by now (git may have taken seconds), and maybe loading or unloading as we write.
    record, status = await sessions.change(record.id, in_store, in_actor)
    session = sessions.loaded(record.id)
    meta = session.meta if session is not None else sessions.meta_of(record)
    return ThreadMetadataUpdateResponse(thread=thread_view(record, status=status, meta=meta,
                                                           store_path=sessions.store.path))
