"""Benchmark the SQLite store: thread/list pages, open time, and paging a 20,000-item thread.

    python scripts/bench_store.py [--threads 10000 100000] [--reps 200] [--keep DIR]

For each thread count it fills a fresh home through the public API (``WriteBatch``es from concurrent tasks, so
group commit is exercised), reopens it, and prints p50/p95 of: the first ``thread/list`` page, a page half way
down (cursor obtained by walking), a few filtered listings, and the time to open the store. Then it builds one
thread with 2,000 turns x 10 items and times turns/items paging at the start, the middle and per turn.
Numbers are wall-clock on this machine; compare runs, not machines.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.store import SqliteStore, ThreadQuery, ThreadRecord, WriteBatch  # noqa: E402

CWDS = [f"/home/dev/project{index}" for index in range(20)]
SOURCES = ["vscode", "cli", "appServer", "subAgent", "exec"]
INTERACTIVE = ("vscode", "cli", "appServer")


async def timed(fn: Callable[[], Awaitable[object]], reps: int) -> tuple[float, float]:
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def report(label: str, stats: tuple[float, float]) -> None:
    print(f"  {label:<52} p50 {stats[0]:8.2f} ms   p95 {stats[1]:8.2f} ms")


async def fill(store: SqliteStore, count: int, seed: int) -> None:
    rng = random.Random(seed)
    base = 1_700_000_000
    payload = msgspec.json.encode({"model": "gpt-5", "cliVersion": "0.1.0", "padding": "x" * 300})

    async def writer(indices: range) -> None:
        for index in indices:
            thread_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            record = ThreadRecord(
                id=thread_id,
                created_at=base + index,
                updated_at=base + index + rng.randrange(100_000),
                cwd=rng.choice(CWDS),
                model_provider=rng.choice(["openai", "openai", "ollama"]),
                source_kind=rng.choice(SOURCES),
                preview=f"please fix bug number {index} in the parser" if index % 10 else "",
                data=payload,
            )
            batch = WriteBatch(thread_id).create_thread(record)
            if index % 10:  # one thread in ten never got a turn, so it has no preview (require_preview hides it)
                batch.put_turn(f"turn-{index}", "completed", b'{"status":"completed"}')
            await store.write(batch)

    workers = 64
    async with anyio.create_task_group() as tg:
        for worker in range(workers):
            tg.start_soon(writer, range(worker, count, workers))


async def bench_threads(root: Path, count: int, reps: int) -> None:
    home = root / f"threads-{count}"
    print(f"\n== {count:,} threads ==")
    start = time.perf_counter()
    async with SqliteStore.open(home) as store:
        await fill(store, count, seed=count)
    print(f"  fill through the API: {time.perf_counter() - start:.1f} s")

    async def open_and_read() -> None:
        async with SqliteStore.open(home) as store:
            await store.list_threads(ThreadQuery(limit=1))

    report("open + first read + close", await timed(open_and_read, 20))

    async with SqliteStore.open(home) as store:
        cursor = None
        for _ in range(count // 2 // 1000):  # walk to the middle in big pages
            page = await store.list_threads(ThreadQuery(limit=1000, cursor=cursor))
            cursor = page.next_cursor
        cases: list[tuple[str, ThreadQuery]] = [
            ("first page (50, created_at desc)", ThreadQuery(limit=50)),
            ("deep page (50, middle of the list)", ThreadQuery(limit=50, cursor=cursor)),
            ("first page sorted by updated_at", ThreadQuery(limit=50, sort_key="updated_at")),
            ("first page asc", ThreadQuery(limit=50, direction="asc")),
            (
                "interactive sources + require_preview",
                ThreadQuery(limit=50, source_kinds=INTERACTIVE, require_preview=True),
            ),
            ("one cwd", ThreadQuery(limit=50, cwds=(CWDS[3],))),
            ("two cwds", ThreadQuery(limit=50, cwds=(CWDS[3], CWDS[4]))),
            ("search term, 50 hits (scan until found)", ThreadQuery(limit=50, search_term="bug number")),
            ("search term, no hit (full scan)", ThreadQuery(limit=50, search_term="no such words")),
            ("archived only (none exist)", ThreadQuery(limit=50, archived=True)),
        ]
        for label, query in cases:
            slow = query.search_term == "no such words"
            report(label, await timed(lambda query=query: store.list_threads(query), 5 if slow else reps))


async def bench_big_thread(root: Path, reps: int) -> None:
    print("\n== one thread, 2,000 turns x 10 items = 20,000 items ==")
    async with SqliteStore.open(root / "big-thread") as store:
        thread_id = str(uuid.uuid4())
        record = ThreadRecord(
            id=thread_id, created_at=1, updated_at=1, cwd="/w", model_provider="openai", source_kind="cli"
        )
        await store.write(WriteBatch(thread_id).create_thread(record))
        item = msgspec.json.encode({"type": "agentMessage", "text": "y" * 400})
        start = time.perf_counter()
        for turn in range(2_000):
            batch = WriteBatch(thread_id).put_turn(f"turn-{turn}", "completed", b'{"status":"completed"}')
            for index in range(10):
                batch.put_item(f"turn-{turn}", f"item-{turn}-{index}", item, started_at_ms=1, completed_at_ms=2)
            batch.append_history(f"turn-{turn}", [item] * 3)
            await store.write(batch)
        print(f"  2,000 sequential turn batches: {time.perf_counter() - start:.2f} s")
        middle_turns = (await store.list_turns(thread_id, limit=1000)).next_cursor
        middle_items = (await store.list_items(thread_id, limit=10_000)).next_cursor
        cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("turns: newest page (50 desc)", lambda: store.list_turns(thread_id, limit=50)),
            ("turns: middle page (50 desc)", lambda: store.list_turns(thread_id, cursor=middle_turns, limit=50)),
            ("items: first page (100 asc)", lambda: store.list_items(thread_id, limit=100)),
            ("items: middle page (100 asc)", lambda: store.list_items(thread_id, cursor=middle_items, limit=100)),
            ("items: newest page (100 desc)", lambda: store.list_items(thread_id, limit=100, direction="desc")),
            ("items of one turn (turn 1000)", lambda: store.list_items(thread_id, turn_id="turn-1000", limit=100)),
            ("items_for_turns (50 turns)", lambda: store.items_for_turns(thread_id, [f"turn-{t}" for t in range(50)])),
            ("load_history (6,000 entries)", lambda: store.load_history(thread_id)),
        ]
        for label, fn in cases:
            report(label, await timed(fn, reps))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        root = Path(tmp)
        for count in args.threads:
            await bench_threads(root, count, args.reps)
        await bench_big_thread(root, args.reps)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--keep", help="parent directory for the temporary homes (default: system temp)")
    anyio.run(main, parser.parse_args())
