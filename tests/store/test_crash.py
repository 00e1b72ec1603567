"""A writer killed with SIGKILL at arbitrary moments never leaves a torn record (ARCHITECTURE: Store).

Our contract, not Codex's: after any crash, every thread reads as a consistent prefix of the batches whose
``write`` had returned — at least those, at most one more per thread (the one in flight may have committed
just before the kill) — and never part of a batch. The kill moment is chosen by progress (after the n-th
acknowledged batch, or during start-up and migrations), seeded, so a failure replays.
"""

from __future__ import annotations

import random
import sys
from collections import defaultdict
from pathlib import Path

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from server.store import SqliteStore, ThreadQuery, ThreadRecord

from .crash_writer import HISTORY, ITEMS, expected_batch, history_entry
from .factories import history_blobs

ROOT = Path(__file__).resolve().parents[2]
ITERATIONS = 50


async def run_until_killed(home: Path, seed: int, kill_after: int) -> dict[str, int]:
    """Run the writer, SIGKILL it after ``kill_after`` acks (-1: while opening); return acked turns per thread."""
    acked: dict[str, int] = {}
    command = [sys.executable, "-m", "tests.store.crash_writer", str(home), str(seed)]
    async with await anyio.open_process(command, cwd=ROOT, stderr=None) as process:
        assert process.stdout is not None
        lines = BufferedByteReceiveStream(process.stdout)
        with anyio.fail_after(20):
            seen = 0
            while True:
                line = (await lines.receive_until(b"\n", 1024)).decode()
                if line == "opening" and kill_after < 0:
                    break
                if line in ("opening", "ready"):
                    continue
                thread_id, k = line.split()
                acked[thread_id] = int(k)
                seen += 1
                if seen >= kill_after:
                    break
            process.kill()
            await process.wait()
            # Acks printed before the kill landed still count; a line cut by the kill does not, and neither does a
            # "ready" the writer got out before the kill (killed while opening).
            try:
                while True:
                    line = (await lines.receive_until(b"\n", 1024)).decode()
                    if line in ("opening", "ready"):
                        continue
                    thread_id, k = line.split()
                    acked[thread_id] = int(k)
            except (anyio.IncompleteRead, anyio.EndOfStream):
                pass
    assert process.returncode == -9
    return acked


async def all_threads(store: SqliteStore) -> list[ThreadRecord]:
    threads: list[ThreadRecord] = []
    cursor = None
    while True:
        page = await store.list_threads(ThreadQuery(limit=100, cursor=cursor))
        threads += page.items
        if (cursor := page.next_cursor) is None:
            return threads


async def check_consistent_prefix(store: SqliteStore, thread: ThreadRecord) -> int:
    """Assert ``thread`` holds exactly batches 1..n of ``expected_batch``; return n."""
    n = thread.turn_count
    assert n >= 1, "a thread is created together with its first turn, never alone"
    assert thread.updated_at == n and thread.preview == f"turn {n}"
    turns = (await store.list_turns(thread.id, limit=10_000, direction="asc")).items
    assert [(turn.seq, turn.turn_id, turn.status) for turn in turns] == [
        (k, f"turn-{k}", f"completed-{k}") for k in range(1, n + 1)
    ]
    items = (await store.list_items(thread.id, limit=100_000)).items
    assert [item.item_id for item in items] == [f"turn-{k}:{i}" for k in range(1, n + 1) for i in range(ITEMS)]
    expected_items = [op for k in range(1, n + 1) for op in expected_batch(thread.id, k).ops if hasattr(op, "item_id")]
    assert [item.data for item in items] == [op.data for op in expected_items]  # type: ignore[attr-defined]
    history = await history_blobs(store, thread.id)
    assert history == [history_entry(k, index) for k in range(1, n + 1) for index in range(HISTORY)]
    return n


@pytest.mark.anyio
async def test_sigkilled_writer_always_leaves_a_consistent_prefix_of_committed_batches(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    home = tmp_path / "home"
    acked_ever: dict[str, int] = defaultdict(int)
    committed_total = 0
    for iteration in range(ITERATIONS):
        kill_after = rng.choice([-1, 0, 1, 2, 3, 5, 8, 13, 21, 34]) if iteration % 7 else -1
        acked = await run_until_killed(home, seed=iteration, kill_after=kill_after)
        for thread_id, k in acked.items():
            acked_ever[thread_id] = max(acked_ever[thread_id], k)
        if not (home / "threadline.sqlite3").exists():
            continue
        async with SqliteStore.open(home) as store:
            threads = await all_threads(store)
            for thread in threads:
                n = await check_consistent_prefix(store, thread)
                # Durable: every acknowledged batch is there; atomic: at most the one in flight beyond it.
                assert acked_ever[thread.id] <= n <= acked_ever[thread.id] + 1, (iteration, thread.id)
                acked_ever[thread.id] = n  # the next run continues from what is stored
            assert set(acked_ever) <= {thread.id for thread in threads}
            committed_total = sum(thread.turn_count for thread in threads)
    assert committed_total > ITERATIONS, "the writer should have committed plenty of batches across the runs"
