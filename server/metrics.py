"""Counters the daemon keeps about itself, readable through `metrics/read` and exported to OpenTelemetry.

Contract: `Metrics.add(name, attributes)` bumps one counter series (a name plus its string attributes) and
never raises; `snapshot()` returns every series as the wire's `MetricCounter`s, sorted by name then
attributes, with counts since the process started. When `opentelemetry-api` is importable (the optional
`otel` extra), each `add` is also recorded on an OpenTelemetry counter of the same name from the meter
`threadline`, so whatever SDK and exporter the host configured picks it up; without the package the export
is a no-op. `METRICS` is the process-wide registry: a daemon is one process, and OpenTelemetry's own
meter provider is process-wide too.

Counter names follow Codex's: `codex.compaction` {mode, trigger, outcome} for every compaction attempt,
`codex.compaction_checkpoint_applied` {mode, trigger} for every checkpoint written to a thread.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

from protocol._generated.types import MetricCounter

__all__ = ["COMPACTION", "COMPACTION_CHECKPOINT_APPLIED", "METRICS", "Metrics", "otel_meter"]

logger = logging.getLogger(__name__)

COMPACTION = "codex.compaction"
COMPACTION_CHECKPOINT_APPLIED = "codex.compaction_checkpoint_applied"

_DESCRIPTIONS = {
    COMPACTION: "Compaction attempts, by mode (inline|remote|local), trigger (auto|manual) and outcome.",
    COMPACTION_CHECKPOINT_APPLIED: "Compaction checkpoints applied to a thread's history and persisted.",
}

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def otel_meter() -> Any | None:
    """The OpenTelemetry meter `threadline`, or None when `opentelemetry-api` is not installed.

    Imported lazily (and looked up again on each call) so the package stays optional and a host that installs
    it, or a test that hides it, is seen as it is.
    """
    try:
        otel_metrics = importlib.import_module("opentelemetry.metrics")
    except ImportError:
        return None
    try:
        return otel_metrics.get_meter("threadline")
    except Exception:  # a broken telemetry install must never break the daemon
        logger.warning("opentelemetry is installed but get_meter failed; metrics are not exported", exc_info=True)
        return None


class Metrics:
    """A set of monotonic counters. Thread-safe; `add` is cheap enough to call on every event."""

    def __init__(self, *, export: bool = True) -> None:
        self._lock = threading.Lock()
        self._values: dict[SeriesKey, int] = {}
        self._export = export
        self._meter: Any | None = None
        self._meter_checked = False
        self._instruments: dict[str, Any] = {}

    def add(self, name: str, attributes: Mapping[str, str] | None = None, value: int = 1) -> None:
        """Add `value` (>= 0) to the series `name{attributes}`, and to its OpenTelemetry counter if any."""
        if value < 0:
            logger.warning("counter %s: ignoring negative increment %d", name, value)
            return
        attrs = {str(k): str(v) for k, v in (attributes or {}).items()}
        key: SeriesKey = (name, tuple(sorted(attrs.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + value
            instrument = self._instrument(name) if self._export else None
        if instrument is not None:
            try:
                instrument.add(value, attrs)
            except Exception:  # exporting is best effort; the in-process count above already happened
                logger.debug("opentelemetry counter %s failed", name, exc_info=True)

    def value(self, name: str, attributes: Mapping[str, str] | None = None) -> int:
        """The current count of one series (0 when it never moved)."""
        key: SeriesKey = (name, tuple(sorted((attributes or {}).items())))
        with self._lock:
            return self._values.get(key, 0)

    def total(self, name: str, **match: str) -> int:
        """The sum over every series of `name` whose attributes include `match`."""
        with self._lock:
            return sum(
                count
                for (series, attrs), count in self._values.items()
                if series == name and all(dict(attrs).get(k) == v for k, v in match.items())
            )

    def snapshot(self) -> list[MetricCounter]:
        """Every series, sorted, as the `metrics/read` wire type."""
        with self._lock:
            items = sorted(self._values.items())
        return [MetricCounter(name=name, attributes=dict(attrs), value=count) for (name, attrs), count in items]

    def _instrument(self, name: str) -> Any | None:
        # Called under the lock: the meter and each instrument are created once per registry.
        if not self._meter_checked:
            self._meter_checked = True
            self._meter = otel_meter()
        if self._meter is None:
            return None
        instrument = self._instruments.get(name)
        if instrument is None:
            try:
                instrument = self._meter.create_counter(name, unit="1", description=_DESCRIPTIONS.get(name, ""))
            except Exception:
                logger.warning("cannot create opentelemetry counter %s", name, exc_info=True)
                return None
            self._instruments[name] = instrument
        return instrument


METRICS = Metrics()
