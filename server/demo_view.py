"""The demo's terminal view: one turn's notifications rendered as they arrive, and the closing summary.

Contract: `View.show(message)` takes each notification of a turn (``{"method", "params"}``) in order and writes
to the given text stream at once — agent message deltas verbatim, reasoning summary deltas on a dimmed
"thinking" line, one line per client tool call and its result — flushing after each so the reply visibly
streams. `View.stats` accumulates what the summary reports. Colour only when the stream is a terminal and
NO_COLOR is unset. This is the demo, not the daemon: writing to stdout is its job.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from protocol._generated.methods import ServerNotificationMethod as N

__all__ = ["Stats", "View"]


@dataclass
class Stats:
    turns: int = 0
    failed_turns: int = 0
    items: Counter[str] = field(default_factory=Counter)
    deltas: int = 0
    notifications: int = 0
    tool_calls: int = 0
    usage: dict[str, Any] | None = None
    usage_updates: int = 0
    turn_ms: list[int] = field(default_factory=list)


class View:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.stats = Stats()
        self._color = out.isatty() and not os.environ.get("NO_COLOR")
        self._open_line = ""  # "", "reasoning" or "message": what the cursor is in the middle of
        self._at_line_start = True

    # -- styling -------------------------------------------------------------------------------------------

    def _style(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self._color else text

    def write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self._at_line_start = text.endswith("\n")

    def line(self, text: str = "", *, style: str = "") -> None:
        self._end_open_line()
        self.write((self._style(style, text) if style else text) + "\n")

    def heading(self, text: str) -> None:
        self.line()
        self.line(text, style="1")

    def note(self, text: str) -> None:
        self.line(f"  · {text}", style="2")

    def user(self, text: str) -> None:
        self.line()
        self.line(f"you ▸ {text}", style="1;36")

    def _end_open_line(self) -> None:
        if self._open_line and not self._at_line_start:
            self.write("\n")
        self._open_line = ""

    # -- one turn ------------------------------------------------------------------------------------------

    def show(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params") or {}
        self.stats.notifications += 1
        if method == N.ITEM_AGENT_MESSAGE_DELTA:
            self.stats.deltas += 1
            if self._open_line != "message":
                self._end_open_line()
                self.write(self._style("1;32", "model ▸ "))
                self._open_line = "message"
            self.write(params.get("delta", ""))
        elif method == N.ITEM_REASONING_SUMMARY_TEXT_DELTA:
            if self._open_line != "reasoning":
                self._end_open_line()
                self.write(self._style("2", "  thinking: "))
                self._open_line = "reasoning"
            self.write(self._style("2;3", params.get("delta", "")))
        elif method == N.ITEM_STARTED:
            self._item_started(params.get("item") or {})
        elif method == N.ITEM_COMPLETED:
            self._item_completed(params.get("item") or {})
        elif method == N.THREAD_TOKEN_USAGE_UPDATED:
            self.stats.usage = params.get("tokenUsage")
            self.stats.usage_updates += 1
        elif method == N.ERROR:
            error = params.get("error") or {}
            retry = " (retrying)" if params.get("willRetry") else ""
            self.note(f"upstream error{retry}: {error.get('message')}")
        elif method == N.TURN_COMPLETED:
            self._turn_completed(params.get("turn") or {})

    def _item_started(self, item: dict[str, Any]) -> None:
        if item.get("type") == "dynamicToolCall":
            self.stats.tool_calls += 1
            args = item.get("arguments")
            self.line(f"  ⚙ tool call: {item.get('tool')}({_compact(args)}) → answered by the demo client",
                      style="33")

    def _item_completed(self, item: dict[str, Any]) -> None:
        kind = str(item.get("type"))
        self.stats.items[kind] += 1
        if kind == "agentMessage" and self._open_line == "message":
            self._end_open_line()
        elif kind == "dynamicToolCall":
            texts = [c.get("text", "") for c in item.get("contentItems") or [] if isinstance(c, dict)]
            size = sum(len(t.splitlines()) for t in texts)
            outcome = "ok" if item.get("success") else "failed"
            self.line(f"  ⚙ tool result: {outcome}, {size} lines in {item.get('durationMs')} ms", style="33")

    def _turn_completed(self, turn: dict[str, Any]) -> None:
        self._end_open_line()
        self.stats.turns += 1
        if isinstance(turn.get("durationMs"), int):
            self.stats.turn_ms.append(turn["durationMs"])
        if turn.get("status") != "completed":
            self.stats.failed_turns += 1
            error = turn.get("error") or {}
            self.line(f"  ✗ turn {turn.get('status')}: {error.get('message', '')}", style="31")

    # -- the end -------------------------------------------------------------------------------------------

    def summary(self, *, wall_s: float, startup_ms: float, upstream: str, home: str) -> None:
        s = self.stats
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(s.items.items()))
        total = (s.usage or {}).get("total") or {}
        self.heading("Summary")
        rows = [
            ("turns", f"{s.turns} ({s.failed_turns} failed), {_ms_list(s.turn_ms)}"),
            ("items", f"{sum(s.items.values())} ({kinds})"),
            ("tokens", f"{total.get('totalTokens', 0)} total = {total.get('inputTokens', 0)} in "
                       f"({total.get('cachedInputTokens', 0)} cached) + {total.get('outputTokens', 0)} out"),
            ("upstream requests", upstream),
            ("streamed", f"{s.deltas} message deltas in {s.notifications} notifications, {s.tool_calls} tool call(s)"),
            ("time", f"{wall_s:.2f} s wall, daemon spawn → initialize {startup_ms:.0f} ms"),
            ("home", home),
        ]
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            self.line(f"  {name:<{width}}  {value}")


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v!r}" for k, v in value.items())
    return repr(value)


def _ms_list(values: list[int]) -> str:
    return "durations " + ", ".join(f"{v} ms" for v in values) if values else "no durations"
