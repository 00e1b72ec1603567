"""Benchmark thread methods through a real `threadline app-server` subprocess with many stored threads.

    python scripts/bench_daemon.py [--threads 10000 100000] [--reps 200] [--big-items 20000] [--keep DIR]

Seeding is fast and realistic: the daemon itself runs one turn against the simulator in a template home
(reasoning, a client tool call, a reply), and those exact blobs (thread meta, turn, items, model-visible
history) are cloned with fresh ids, times and prompts straight through `SqliteStore` — one turn per thread, so
every thread lists. One extra thread gets `--big-items` items (10 per turn). Then, over stdio, with p50/p95:
`thread/list` first page, every page of a cursor walk to the middle and that middle page repeated; a cold
`thread/resume {excludeTurns:true}` + `thread/turns/list` of the big thread (unloaded again after each rep);
and spawn → `initialize` response with N threads stored vs an empty home. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol.client import AppServerClient  # noqa: E402
from server.simulator import FunctionCall, Reasoning, Reply, Simulator, Text, Usage  # noqa: E402
from server.store import SqliteStore, ThreadRecord, WriteBatch  # noqa: E402

TOOL = {"type": "function", "name": "read_file", "description": "Read a file.",
        "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}
VERBS = ["fix", "refactor", "explain", "add tests for", "speed up", "document", "review", "port"]
TOPICS = ["the config parser", "the login flow", "flaky CI", "the cache layer", "the CSV export", "retry logic"]
CWDS = [f"/home/dev/project{i}" for i in range(20)]
PAGE = 50

# Daemons run with a bytecode cache, as an installed package does (this machine sets PYTHONDONTWRITEBYTECODE,
# which would recompile every module at each start); the cache lives in the temp dir, not the source tree.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "threadline-bench-pycache")


def pct(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def report(label: str, samples: list[float]) -> None:
    p50, p95 = pct(samples)
    print(f"  {label:<64} p50 {p50:8.2f} ms   p95 {p95:8.2f} ms   (n={len(samples)})", flush=True)


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await fn()
    return (time.perf_counter() - start) * 1000, result


def daemon(home: Path, *flags: str) -> Any:
    command = [sys.executable, "-m", "server", "app-server", "--listen", "stdio://"]
    for flag in flags:
        command += ["-c", flag]
    return AppServerClient.spawn(command, env={**CHILD_ENV, "THREADLINE_HOME": str(home), "SIM_API_KEY": "sk-b"})


def uuid7_at(ms: int, rng: random.Random) -> str:
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62 | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


# -- seeding ------------------------------------------------------------------------------------------------


async def template(root: Path) -> dict[str, Any]:
    """Let the daemon store one real turn, then read its blobs back."""
    home = root / "template"
    with Simulator() as sim:
        sim.enqueue(Reply(output=[Reasoning(summary=["Reading the parser first."]),
                                  FunctionCall("read_file", '{"path": "app/parser.py"}')], usage=Usage(420, 40)),
                    Reply(output=[Text("The parser splits on every '='; use partition. " * 6, 40)],
                          usage=Usage(700, 120)))
        provider = (f'model_providers.sim={{ name = "sim", base_url = "{sim.base_url}", env_key = "SIM_API_KEY" }}')
        async with daemon(home, 'model_provider="sim"', provider) as client:
            async def tool(_: Any) -> Any:
                return {"contentItems": [{"type": "inputText", "text": "def parse(text):\n    ...\n" * 20}],
                        "success": True}
            client.handlers["item/tool/call"] = tool
            await client.initialize()
            thread = (await client.request("thread/start", {"dynamicTools": [TOOL]}))["thread"]
            await client.run_turn({"threadId": thread["id"],
                                   "input": [{"type": "text", "text": "Fix the config parser please"}]})
    async with SqliteStore.open(home) as store:
        record = await store.get_thread(thread["id"])
        turn = (await store.list_turns(thread["id"])).items[0]
        items = (await store.list_items(thread["id"], limit=100)).items
        history = [data for _, data in (await store.load_history(thread["id"])).entries]
    return {"record": record, "turn": turn, "items": items, "history": history}


def _with(blob: bytes, **changes: Any) -> bytes:
    value = msgspec.json.decode(blob)
    value.update(changes)
    return msgspec.json.encode(value)


def thread_record(tpl: dict[str, Any], index: int, created: int, rng: random.Random) -> ThreadRecord:
    thread_id = uuid7_at(created * 1000 + rng.randrange(1000), rng)
    prompt = f"{rng.choice(VERBS)} {rng.choice(TOPICS)} (ticket {index})"
    # On the built-in provider: the daemons below run without config, and thread/list shows by default only the
    # threads of the configured provider, as Codex's does.
    return msgspec.structs.replace(
        tpl["record"], id=thread_id, created_at=created, updated_at=created + rng.randrange(3600), turn_count=0,
        cwd=rng.choice(CWDS), preview=prompt, model_provider="openai",
        data=_with(tpl["record"].data, session_id=thread_id))


def thread_batch(tpl: dict[str, Any], index: int, created: int, rng: random.Random) -> WriteBatch:
    """One thread with the template's one turn, under fresh ids, times and prompt."""
    record = thread_record(tpl, index, created, rng)
    turn_id = uuid7_at(created * 1000 + 500, rng)
    batch = WriteBatch(record.id).create_thread(record)
    batch.put_turn(turn_id, "completed", _with(tpl["turn"].data, id=turn_id, rootTurnId=turn_id))
    for item in tpl["items"]:
        fresh = item.item_id if item.item_id.startswith("call_") else uuid7_at(created * 1000 + 600, rng)
        data = _with(item.data, id=fresh)
        if b'"userMessage"' in item.data:
            data = _with(data, content=[{"type": "text", "text": record.preview, "text_elements": []}])
        batch.put_item(turn_id, fresh, data, started_at_ms=created * 1000, completed_at_ms=created * 1000 + 900)
    return batch.append_history(turn_id, tpl["history"])


async def seed(home: Path, count: int, tpl: dict[str, Any]) -> None:
    base = int(time.time()) - count * 600
    async def writer(worker: int, workers: int) -> None:
        rng = random.Random(worker)
        for index in range(worker, count, workers):
            await store.write(thread_batch(tpl, index, base + index * 600, rng))
    async with SqliteStore.open(home) as store, anyio.create_task_group() as tg:
        for worker in range(64):
            tg.start_soon(writer, worker, 64)


async def seed_big_thread(home: Path, tpl: dict[str, Any], items: int) -> str:
    """A thread of items/10 turns, each: user, reasoning, 4 tool calls, reasoning, 2 tool calls, reply."""
    by_type = {msgspec.json.decode(i.data)["type"]: i.data for i in tpl["items"]}
    shape = ["userMessage", "reasoning", *["dynamicToolCall"] * 4, "reasoning", *["dynamicToolCall"] * 2,
             "agentMessage"]
    rng = random.Random(7)
    created = int(time.time()) - 86_400
    record = thread_record(tpl, -1, created, rng)
    thread_id = record.id
    async with SqliteStore.open(home) as store:
        await store.write(WriteBatch(thread_id).create_thread(record))
        for turn in range(items // len(shape)):
            turn_id = uuid7_at(created * 1000 + turn, rng)
            turn_data = _with(tpl["turn"].data, id=turn_id, rootTurnId=turn_id)
            batch = WriteBatch(thread_id).put_turn(turn_id, "completed", turn_data)
            for n, kind in enumerate(shape):
                item_id = f"call_{turn}_{n}" if kind == "dynamicToolCall" else uuid7_at(created * 1000 + turn, rng)
                batch.put_item(turn_id, item_id, _with(by_type[kind], id=item_id), started_at_ms=1, completed_at_ms=2)
            await store.write(batch.append_history(turn_id, tpl["history"] * 2))
    return thread_id


# -- measuring ----------------------------------------------------------------------------------------------


async def bench_list(home: Path, count: int, reps: int) -> None:
    async with daemon(home) as client:
        await client.initialize()
        listing = {"limit": PAGE}
        page = await client.request("thread/list", listing)
        print(f"  (first page: {len(page['data'])} threads, newest {page['data'][0]['preview']!r})")
        first = [(await timed(lambda: client.request("thread/list", listing)))[0] for _ in range(reps)]
        report(f"thread/list first page ({PAGE})", first)
        walk, cursor = [], None
        for _ in range(count // 2 // PAGE):
            ms, page = await timed(lambda c=cursor: client.request("thread/list", {**listing, "cursor": c}))
            walk.append(ms)
            cursor = page["nextCursor"]
        report(f"thread/list every page of a walk to #{count // 2:,} via cursors", walk)
        deep = [(await timed(lambda: client.request("thread/list", {**listing, "cursor": cursor})))[0]
                for _ in range(reps)]
        report(f"thread/list deep page (threads {count // 2:,}+, repeated)", deep)


async def bench_resume(home: Path, thread_id: str, reps: int) -> None:
    resumes, turn_pages = [], []
    async with daemon(home, "thread_unload_delay_secs=0") as client:
        await client.initialize()
        for _ in range(reps):
            ms, _ = await timed(lambda: client.request("thread/resume", {"threadId": thread_id, "excludeTurns": True}))
            resumes.append(ms)
            ms, page = await timed(lambda: client.request("thread/turns/list", {"threadId": thread_id}))
            turn_pages.append(ms)
            if len(page["data"]) != 25:
                print(f"  ! thread/turns/list returned {len(page['data'])} turns, expected 25")
            await client.request("thread/unsubscribe", {"threadId": thread_id})
            await client.next_global("thread/closed", where=lambda p: p.get("threadId") == thread_id)
    report("thread/resume {excludeTurns:true}, cold (unloaded before each)", resumes)
    report("thread/turns/list first page (default 25, summary view)", turn_pages)
    report("resume + turns/list together", [a + b for a, b in zip(resumes, turn_pages, strict=True)])


async def startup(home: Path) -> float:
    start = time.perf_counter()
    async with daemon(home) as client:
        await client.initialize()
        return (time.perf_counter() - start) * 1000


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        root = Path(tmp)
        tpl = await template(root)
        print(f"template thread: {len(tpl['items'])} items, {len(tpl['history'])} history entries, "
              f"meta blob {len(tpl['record'].data)} bytes")
        empty = root / "empty"
        for count in args.threads:
            home = root / f"threads-{count}"
            start = time.perf_counter()
            await seed(home, count, tpl)
            big = await seed_big_thread(home, tpl, args.big_items)
            size = sum(f.stat().st_size for f in home.iterdir()) / 1e6
            print(f"\n== {count:,} threads (+1 with {args.big_items:,} items); seeded in "
                  f"{time.perf_counter() - start:.1f} s, {size:.0f} MB on disk ==", flush=True)
            await bench_list(home, count, args.reps)
            await bench_resume(home, big, max(10, args.reps // 10))
            full, bare = [], []
            for _ in range(args.startups):
                full.append(await startup(home))
                bare.append(await startup(empty))
            report(f"spawn → initialize response, {count:,} threads stored", full)
            report("spawn → initialize response, empty home", bare)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--big-items", type=int, default=20_000)
    parser.add_argument("--startups", type=int, default=10)
    parser.add_argument("--keep", help="parent directory for the temporary homes (default: system temp)")
    anyio.run(main, parser.parse_args())
