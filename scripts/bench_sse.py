"""Benchmark the upstream read path in process: SSE decoding plus event decoding, small events and huge ones.

    python scripts/bench_sse.py [--mib 1 5 10 20] [--reps 5] [--baseline OLD_SSE_PY]

The bodies are the simulator's own bytes (`server.simulator.stream.ResponseStream`, framed as the simulator
frames them), fed to `SseDecoder` in pieces the way a socket hands them up, and every message is decoded with
`decode_event`, as `EventStream` does:
- the streaming hot path: a 5,000-delta turn (one word per delta) fed one event per chunk (the worst case for
  per-call overhead: a paced stream) and in 16 KiB pieces (a burst, as the simulator flushes it);
- one large answer of N MiB streamed in 1 MiB deltas: its `output_text.done`, `content_part.done`,
  `output_item.done` and `response.completed` each carry the whole text, fed in 64 KiB pieces. Linear decoding
  shows as a constant time per MiB.
`--baseline DIR` loads `server/upstream/sse.py` and `events.py` from another checkout (e.g.
`mkdir /tmp/old && git archive HEAD~1 | tar -x -C /tmp/old`) and times them interleaved with the current ones on
the same bodies. Best of `--reps`; prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.simulator import Reply, Text, Usage  # noqa: E402
from server.simulator.stream import ResponseStream  # noqa: E402
from server.upstream import sse  # noqa: E402
from server.upstream.events import decode_event  # noqa: E402

MiB = 1 << 20
_encoder = msgspec.json.Encoder()


def body_events(reply: Reply) -> list[bytes]:
    stream = ResponseStream(reply, list(reply.output), model="gpt-5.1-codex", input_tokens=1000)
    return [b"event: " + e["type"].encode() + b"\ndata: " + _encoder.encode(e) + b"\n\n" for e in stream.events()]


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i:i + size] for i in range(0, len(body), size)]


Reader = tuple[Any, Callable[[bytes], Any]]  # an SseDecoder class and its decode_event


def read_all(reader: Reader, chunks: list[bytes]) -> int:
    decoder_class, decode = reader
    decoder, events = decoder_class(), 0
    for chunk in chunks:
        for message in decoder.feed(chunk):
            decode(message.data)
            events += 1
    return events


def best_ms(run: Callable[[], Any], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"baseline_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # msgspec resolves the Structs' string annotations through it
    spec.loader.exec_module(module)
    return module


def main(args: argparse.Namespace) -> None:
    decoders: dict[str, Reader] = {"current": (sse.SseDecoder, decode_event)}
    if args.baseline:
        upstream = Path(args.baseline) / "server" / "upstream"
        decoders = {"baseline": (load(upstream / "sse.py").SseDecoder, load(upstream / "events.py").decode_event),
                    **decoders}
    words = body_events(Reply(output=[Text.words(5000)], usage=Usage(1000, 5000)))
    print(f"== a 5,000-delta turn ({len(words):,} events, {sum(map(len, words)) / 1024:.0f} KiB), best of {args.reps} ==")
    for label, chunks in (("one event per chunk", words), ("16 KiB pieces", pieces(b"".join(words), 16 * 1024))):
        for name, decoder in decoders.items():
            ms = best_ms(lambda d=decoder, c=chunks: read_all(d, c), args.reps)
            print(f"  {label:20} {name:9} {ms:8.2f} ms  ({ms * 1000 / len(words):.2f} µs per event)")
    print(f"\n== one N MiB answer in 1 MiB deltas, fed in 64 KiB pieces, best of {args.reps} ==")
    for mib in args.mib:
        body = b"".join(body_events(Reply(output=[Text("x" * (mib * MiB), mib)])))
        chunks = pieces(body, 64 * 1024)
        for name, decoder in decoders.items():
            if name == "baseline" and mib > args.baseline_max:
                print(f"  {mib:3} MiB  {name:9}  skipped (over --baseline-max {args.baseline_max} MiB)")
                continue
            reps = 1 if name == "baseline" else args.reps
            ms = best_ms(lambda d=decoder, c=chunks: read_all(d, c), reps)
            print(f"  {mib:3} MiB  {name:9} {ms:9.1f} ms  ({ms / mib:7.1f} ms per MiB; body {len(body) / MiB:.0f} MiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--baseline", help="another checkout whose SSE and event decoding to time beside ours")
    parser.add_argument("--baseline-max", type=int, default=10, help="largest answer (MiB) the baseline is given")
    main(parser.parse_args())
