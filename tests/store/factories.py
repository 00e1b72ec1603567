"""Builders for store tests: thread records and typical batches, with payloads that say what they are."""

from __future__ import annotations

import itertools
import uuid

import msgspec

from server.store import ThreadRecord, ThreadStore, WriteBatch

_clock = itertools.count(1_700_000_000)


def new_id() -> str:
    return str(uuid.uuid4())


def thread_record(
    thread_id: str | None = None,
    *,
    created_at: int | None = None,
    updated_at: int | None = None,
    cwd: str = "/work/project",
    model_provider: str = "openai",
    source_kind: str = "appServer",
    preview: str = "",
    name: str | None = None,
    archived: bool = False,
    git_info: bytes | None = None,
) -> ThreadRecord:
    created = next(_clock) if created_at is None else created_at
    return ThreadRecord(
        id=thread_id or new_id(),
        created_at=created,
        updated_at=created if updated_at is None else updated_at,
        cwd=cwd,
        model_provider=model_provider,
        source_kind=source_kind,
        preview=preview,
        name=name,
        archived=archived,
        data=msgspec.json.encode({"note": "opaque thread blob"}),
        git_info=git_info,
    )


def blob(**fields: object) -> bytes:
    return msgspec.json.encode(fields)


def turn_batch(
    thread_id: str, turn_id: str, *, items: int = 2, history: int = 2, status: str = "completed"
) -> WriteBatch:
    """One finished turn: the turn, ``items`` completed items and ``history`` model-visible entries."""
    batch = WriteBatch(thread_id).put_turn(turn_id, status, blob(id=turn_id, status=status))
    for index in range(items):
        item_id = f"{turn_id}:item{index}"
        batch.put_item(turn_id, item_id, blob(id=item_id), started_at_ms=index, completed_at_ms=index + 1)
    batch.append_history(turn_id, [blob(turn=turn_id, entry=index) for index in range(history)])
    return batch


async def history_blobs(store: ThreadStore, thread_id: str) -> list[bytes]:
    """The model-visible history's entries without their seqs, for tests about what the entries are."""
    return [data for _, data in (await store.load_history(thread_id)).entries]
