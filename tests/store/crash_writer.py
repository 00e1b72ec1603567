"""Subprocess for the crash test: writes turn batches forever until it is SIGKILLed.

    python -m tests.store.crash_writer HOME SEED

Prints ``opening`` before opening the store, ``ready`` once it is open, then one ``<thread_id> <k>`` line each
time ``store.write`` returned for turn ``k`` of that thread (the batch committed). Lanes write concurrently so
batches share group commits. Batch ``k`` of a thread is fully determined by ``(thread_id, k)`` — see
``expected_batch`` — so the test can check exactly what a committed prefix must contain:

- turn ``turn-k`` (status and data name ``k``), created with the thread in batch 1;
- ``ITEMS`` items ``turn-k:i`` with a few KiB of payload each, so commits take measurable time;
- ``HISTORY`` history entries, and ``updated_at = k``.
"""

from __future__ import annotations

import random
import sys
import uuid

import anyio
import msgspec

from server.store import SqliteStore, ThreadNotFound, ThreadRecord, WriteBatch

ITEMS = 5
HISTORY = 3
LANES = 4
_LANE_NAMESPACE = uuid.UUID("6f1c2a4e-8a59-4c47-9a8e-3a0f0c1d2b3e")


def lane_thread_id(lane: int) -> str:
    return str(uuid.uuid5(_LANE_NAMESPACE, f"lane-{lane}"))


def history_entry(k: int, index: int) -> bytes:
    return msgspec.json.encode({"turn": k, "entry": index})


def expected_batch(thread_id: str, k: int) -> WriteBatch:
    batch = WriteBatch(thread_id)
    if k == 1:
        record = ThreadRecord(
            id=thread_id, created_at=k, updated_at=k, cwd="/crash", model_provider="openai", source_kind="cli"
        )
        batch.create_thread(record)
    turn_id = f"turn-{k}"
    batch.put_turn(turn_id, f"completed-{k}", msgspec.json.encode({"k": k}))
    padding = "p" * 4096
    for index in range(ITEMS):
        item = msgspec.json.encode({"k": k, "i": index, "padding": padding})
        batch.put_item(turn_id, f"{turn_id}:{index}", item, started_at_ms=k, completed_at_ms=k)
    batch.append_history(turn_id, [history_entry(k, index) for index in range(HISTORY)])
    return batch.touch(k, preview=f"turn {k}")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def lane(store: SqliteStore, thread_id: str) -> None:
    try:
        k = (await store.get_thread(thread_id)).turn_count + 1
    except ThreadNotFound:
        k = 1
    while True:
        await store.write(expected_batch(thread_id, k))
        say(f"{thread_id} {k}")
        k += 1


async def main(home: str, seed: int) -> None:
    say("opening")
    async with SqliteStore.open(home) as store:
        say("ready")
        fresh = str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4))  # a thread born in this run
        async with anyio.create_task_group() as tg:
            for thread_id in [*map(lane_thread_id, range(LANES)), fresh]:
                tg.start_soon(lane, store, thread_id)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]))
