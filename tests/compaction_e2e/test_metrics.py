"""Compaction counters: readable through the experimental `metrics/read`, exported to OpenTelemetry if present."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from protocol.client import RpcFailure
from server.metrics import COMPACTION, COMPACTION_CHECKPOINT_APPLIED, METRICS, Metrics, otel_meter
from server.simulator import Reply, Simulator
from tests.harness import SIM_ENV, running_server

from .support import config, items_completed, text

pytestmark = pytest.mark.anyio

INLINE_APPLIED = {"mode": "inline", "trigger": "auto", "outcome": "applied"}


def _series(counters: list[dict[str, Any]], name: str, attributes: dict[str, str]) -> int:
    return next((c["value"] for c in counters if c["name"] == name and c["attributes"] == attributes), 0)


async def test_metrics_read_reports_every_compaction_by_mode_trigger_and_outcome(tmp_path: Path) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("noted"), Reply.text("compacted"))
        async with running_server(tmp_path, overrides=config(sim, inline=True, server_side=True), env=SIM_ENV) as h:
            before = (await h.client.request("metrics/read", {}))["counters"]
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 2000)})
            await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 2400)})
            after = (await h.client.request("metrics/read", {}))["counters"]
    assert _series(after, COMPACTION, INLINE_APPLIED) - _series(before, COMPACTION, INLINE_APPLIED) == 1
    applied = {"mode": "inline", "trigger": "auto"}
    assert _series(after, COMPACTION_CHECKPOINT_APPLIED, applied) - _series(before, COMPACTION_CHECKPOINT_APPLIED,
                                                                           applied) == 1


async def test_a_client_without_the_experimental_api_sees_the_item_but_not_the_checkpoint_or_metrics(
    tmp_path: Path,
) -> None:
    with Simulator() as sim:
        sim.enqueue(Reply.text("noted"), Reply.text("compacted"))
        overrides = config(sim, inline=True, server_side=True)
        async with running_server(tmp_path, overrides=overrides, env=SIM_ENV, experimental=False) as h:
            with pytest.raises(RpcFailure, match="requires experimentalApi"):
                await h.client.request("metrics/read", {})
            thread_id = (await h.client.request("thread/start", {}))["thread"]["id"]
            await h.client.run_turn({"threadId": thread_id, "input": text("first turn", 2000)})
            _, events = await h.client.run_turn({"threadId": thread_id, "input": text("second turn", 2400)})
            assert len(items_completed(events, "contextCompaction")) == 1
            assert "thread/compaction/applied" not in [e["method"] for e in events]


def test_series_are_counted_apart_and_listed_in_order() -> None:
    metrics = Metrics(export=False)
    metrics.add(COMPACTION, {"mode": "local", "trigger": "manual", "outcome": "applied"})
    metrics.add(COMPACTION, {"mode": "inline", "trigger": "auto", "outcome": "applied"}, 2)
    metrics.add(COMPACTION_CHECKPOINT_APPLIED, {"mode": "inline", "trigger": "auto"})
    metrics.add(COMPACTION, {"mode": "inline", "trigger": "auto", "outcome": "applied"}, -5)  # ignored
    rows = [(c.name, c.attributes, c.value) for c in metrics.snapshot()]
    assert rows == [
        (COMPACTION, {"mode": "inline", "outcome": "applied", "trigger": "auto"}, 2),
        (COMPACTION, {"mode": "local", "outcome": "applied", "trigger": "manual"}, 1),
        (COMPACTION_CHECKPOINT_APPLIED, {"mode": "inline", "trigger": "auto"}, 1),
    ]
    assert metrics.total(COMPACTION) == 3 and metrics.total(COMPACTION, mode="local") == 1
    assert isinstance(METRICS, Metrics)


class _FakeCounter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.adds: list[tuple[int, dict[str, str]]] = []

    def add(self, amount: int, attributes: dict[str, str]) -> None:
        self.adds.append((amount, attributes))


def _fake_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> dict[str, _FakeCounter]:
    counters: dict[str, _FakeCounter] = {}

    class Meter:
        def create_counter(self, name: str, unit: str = "", description: str = "") -> _FakeCounter:
            return counters.setdefault(name, _FakeCounter(name))

    package = types.ModuleType("opentelemetry")
    module = types.ModuleType("opentelemetry.metrics")
    module.get_meter = lambda name: Meter()  # type: ignore[attr-defined]
    package.metrics = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "opentelemetry", package)
    monkeypatch.setitem(sys.modules, "opentelemetry.metrics", module)
    return counters


def test_with_opentelemetry_installed_every_increment_is_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    counters = _fake_opentelemetry(monkeypatch)
    metrics = Metrics()
    metrics.add(COMPACTION, {"mode": "remote", "trigger": "auto", "outcome": "fallback"})
    metrics.add(COMPACTION, {"mode": "local", "trigger": "auto", "outcome": "applied"})
    assert counters[COMPACTION].adds == [(1, {"mode": "remote", "trigger": "auto", "outcome": "fallback"}),
                                         (1, {"mode": "local", "trigger": "auto", "outcome": "applied"})]
    assert metrics.value(COMPACTION, {"mode": "local", "trigger": "auto", "outcome": "applied"}) == 1


def test_without_opentelemetry_counting_still_works_and_nothing_is_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail exactly as if the package were not installed.
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.metrics", None)
    assert otel_meter() is None
    metrics = Metrics()
    metrics.add(COMPACTION_CHECKPOINT_APPLIED, {"mode": "local", "trigger": "manual"})
    assert metrics.value(COMPACTION_CHECKPOINT_APPLIED, {"mode": "local", "trigger": "manual"}) == 1


def test_a_broken_exporter_never_breaks_counting(monkeypatch: pytest.MonkeyPatch) -> None:
    counters = _fake_opentelemetry(monkeypatch)
    metrics = Metrics()
    metrics.add(COMPACTION, {"mode": "local"})

    def explode(amount: int, attributes: dict[str, str]) -> None:
        raise RuntimeError("exporter down")

    monkeypatch.setattr(counters[COMPACTION], "add", explode)
    metrics.add(COMPACTION, {"mode": "local"})
    assert metrics.value(COMPACTION, {"mode": "local"}) == 2


def test_the_real_opentelemetry_api_accepts_our_counters() -> None:
    pytest.importorskip("opentelemetry.metrics")
    metrics = Metrics()
    metrics.add(COMPACTION, {"mode": "inline", "trigger": "auto", "outcome": "applied"})
    assert otel_meter() is not None
