"""Benchmark a long conversation through each compaction path against the simulator.

    python scripts/bench_compaction.py [--turns 60] [--limit 8000] [--user-bytes 1500] [--reply-bytes 1200]
                                       [--paths inline,remote,remote_v2,local] [--summary-only]

For each path the daemon (in this process, on in-memory streams, exactly as the tests drive it) talks to a
fresh simulator with a provider configured for that path: `inline` (server_side_compaction on, the provider
accepts context_management), `remote` (`/responses/compact`), `remote_v2` (a `compaction_trigger` request),
`local` (a summarization request). Every turn sends a `--user-bytes` message and gets a `--reply-bytes`
answer; `--limit` is `model_auto_compact_token_limit`. Measured from the simulator's request log, per turn:
upstream requests, bytes sent (decoded JSON bodies), input tokens the upstream would bill (the simulator's
own bytes/4 of what it reads: from the last compaction item on), and compactions applied (from
`thread/compaction/applied`). Prints every turn and a summary per path (`--summary-only`: just the summaries);
asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol.client import AppServerClient  # noqa: E402
from server.app import serve  # noqa: E402
from server.config import Settings  # noqa: E402
from server.simulator import Simulator  # noqa: E402
from server.simulator.compaction import estimate_tokens, input_items  # noqa: E402
from server.transport.memory import memory_transport  # noqa: E402

KEY_ENV = {"BENCH_SIM_KEY": "sk-bench"}
PATHS: dict[str, dict[str, Any]] = {
    "inline": {"inline_compaction": True, "remote_compaction": "off", "server_side": True},
    "remote": {"inline_compaction": False, "remote_compaction": "v1", "server_side": False},
    "remote_v2": {"inline_compaction": False, "remote_compaction": "v2", "server_side": False},
    "local": {"inline_compaction": False, "remote_compaction": "off", "server_side": False},
}


class WordySimulator(Simulator):
    """Answers every turn with about `reply_bytes` of text, and a summarization request with a short summary."""

    def __init__(self, reply_bytes: int) -> None:
        super().__init__()
        self.reply = ("The answer continues with more detail. " * (reply_bytes // 40 + 1))[:reply_bytes]

    def default_text(self, items: Any) -> str:
        last = items[-1] if items else {}
        content = last.get("content") if isinstance(last, dict) else None
        first = content[0].get("text", "") if isinstance(content, list) and content else ""
        if isinstance(first, str) and first.startswith("Stop working on the task"):
            return "Summary: the user sent numbered messages of filler text; each was answered at length."
        return self.reply


@dataclass
class TurnRow:
    requests: int = 0
    compact_requests: int = 0
    bytes_sent: int = 0
    tokens_in: int = 0
    compactions: int = 0


@dataclass
class PathResult:
    name: str
    rows: list[TurnRow] = field(default_factory=list)


def overrides(base_url: str, path: dict[str, Any], limit: int) -> list[str]:
    provider = (f'{{ name = "Simulator", base_url = "{base_url}", env_key = "BENCH_SIM_KEY", '
                f'inline_compaction = {str(path["inline_compaction"]).lower()}, '
                f'remote_compaction = "{path["remote_compaction"]}" }}')
    return ['model_provider="sim"', f"model_providers.sim={provider}", f"model_auto_compact_token_limit={limit}",
            f"features.server_side_compaction={str(path['server_side']).lower()}"]


async def run_path(name: str, args: argparse.Namespace) -> PathResult:
    result = PathResult(name)
    with tempfile.TemporaryDirectory() as home, WordySimulator(args.reply_bytes) as sim:
        settings = Settings.load(env={"THREADLINE_HOME": home, **KEY_ENV},
                                 overrides=overrides(sim.base_url, PATHS[name], args.limit))
        async with memory_transport() as (transport, end), anyio.create_task_group() as tg:
            tg.start_soon(serve, settings, transport)
            client = AppServerClient(end.write, aiter(end.frames))
            async with client.running():
                await client.initialize(experimental=True)
                thread_id = (await client.request("thread/start", {}))["thread"]["id"]
                for n in range(args.turns):
                    seen = len(sim.requests)
                    body = f"Message {n}: " + "filler words to make this message long enough. " * (
                        args.user_bytes // 48)
                    _, events = await client.run_turn({"threadId": thread_id,
                                                       "input": [{"type": "text", "text": body}]})
                    row = TurnRow(compactions=sum(e["method"] == "thread/compaction/applied" for e in events))
                    for request in sim.requests[seen:]:
                        row.requests += 1
                        row.compact_requests += request.path.endswith("/compact")
                        row.bytes_sent += request.size
                        row.tokens_in += estimate_tokens(input_items(request.body or {}))
                    result.rows.append(row)
                end.close()
            tg.cancel_scope.cancel()
    return result


def report(result: PathResult, per_turn: bool) -> None:
    rows = result.rows
    requests = sum(r.requests for r in rows)
    compactions = sum(r.compactions for r in rows)
    extra = requests - len(rows)  # one request per turn is the turn itself
    print(f"\n== {result.name}: {len(rows)} turns, {compactions} compactions")
    if per_turn:
        print(f"{'turn':>4} {'requests':>8} {'/compact':>8} {'bytes sent':>11} {'tokens in':>10} {'compacted':>9}")
        for n, r in enumerate(rows, 1):
            print(f"{n:>4} {r.requests:>8} {r.compact_requests:>8} {r.bytes_sent:>11,} {r.tokens_in:>10,} "
                  f"{r.compactions:>9}")
    per = f"{extra / compactions:.2f}" if compactions else "n/a"
    print(f"upstream requests: {requests} ({extra} beyond one per turn; {per} extra per compaction)")
    print(f"bytes sent: {sum(r.bytes_sent for r in rows):,} total, "
          f"{sum(r.bytes_sent for r in rows) // max(len(rows), 1):,} per turn on average, "
          f"{max(r.bytes_sent for r in rows):,} at most")
    print(f"input tokens billed: {sum(r.tokens_in for r in rows):,} total, "
          f"{sum(r.tokens_in for r in rows) // max(len(rows), 1):,} per turn on average, "
          f"{max(r.tokens_in for r in rows):,} at most")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--limit", type=int, default=8000, help="model_auto_compact_token_limit")
    parser.add_argument("--user-bytes", type=int, default=1500)
    parser.add_argument("--reply-bytes", type=int, default=1200)
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--summary-only", action="store_true", help="skip the per-turn tables")
    args = parser.parse_args()
    print(f"{args.turns} turns, user messages ~{args.user_bytes} B, replies ~{args.reply_bytes} B, "
          f"auto-compact limit {args.limit:,} tokens")
    for name in args.paths.split(","):
        report(await run_path(name.strip(), args), not args.summary_only)


if __name__ == "__main__":
    anyio.run(main)
