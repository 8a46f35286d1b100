"""Database pairs: who is primary, how far each standby lags, receivers, fencing (live readings)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.ports.replication import ReplicationReader
from orchestrator.services.metrics.registry import Metrics

log = logging.getLogger("orchestrator.services.metrics")  # one logger for the package


@dataclass(frozen=True)
class DatabaseSeries:
    """The values of one pair's database metrics: (pair, group) -> value per metric."""

    primary: dict[tuple[str, str], int] = field(default_factory=dict)
    lag_bytes: dict[tuple[str, str], float] = field(default_factory=dict)
    lag_seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    receiver_up: dict[tuple[str, str], int] = field(default_factory=dict)
    fenced: dict[tuple[str, str], int] = field(default_factory=dict)


def database_series(reading: Any) -> DatabaseSeries:
    """The series of one PairReading (orchestrator.adapters.postgres.measure). Unknown values are left out.

    - primary: 1 on role `primary`, 0 on the other clusters that were measured (standby,
      fenced, unreachable: none of them serves writes); a CloudNativePG cluster that is not
      measured from here (`unmeasured`) has no series;
    - lag and receiver: standbys only (a fenced cluster streams from nobody by design);
      a lag the reading does not know (receiver down, primary unreachable) is absent;
    - fenced: 1 on role `fenced`, 0 on primary and standby; absent when unreachable or
      unmeasured (the reading cannot tell).
    """
    out = DatabaseSeries()
    for c in reading.clusters:
        key = (str(reading.pair), str(c.group))
        if c.role == "unmeasured":
            continue
        out.primary[key] = 1 if c.role == "primary" else 0
        if c.role in ("primary", "standby", "fenced"):
            out.fenced[key] = 1 if c.role == "fenced" else 0
        if c.role != "standby":
            continue
        out.receiver_up[key] = 1 if c.receiver_up else 0
        if c.lag_bytes is not None:
            out.lag_bytes[key] = float(c.lag_bytes)
        if c.lag_seconds is not None:
            out.lag_seconds[key] = float(c.lag_seconds)
    return out


@dataclass
class DatabaseObserver:
    """Measures each database pair of the topology and updates the `orchestrator_database_*` gauges.

    Each pair is measured on its own: a pair whose reading fails loses its series (absent, not
    stale) and is logged; the other pairs, and every other metric, are unaffected.
    """

    metrics: Metrics
    load: Callable[[], Any]  # () -> Topology
    measure: ReplicationReader  # (pairs) -> Replication
    observed_at: float | None = None
    clock: Callable[[], float] = time.monotonic
    failed: tuple[str, ...] = ()  # pairs whose last reading failed

    def observe(self, max_age: float = 0.0) -> None:
        if self.observed_at is not None and self.clock() - self.observed_at < max_age:
            return
        m = self.metrics
        gauges = (m.db_primary, m.db_lag_bytes, m.db_lag_seconds, m.db_receiver_up, m.db_fenced)
        try:
            pairs = tuple(getattr(self.load(), "databases", None) or ())
        except Exception as exc:  # noqa: BLE001 — the live-zone observer reports the same failure
            log.warning("loading the topology for the database metrics failed: %s", exc)
            pairs = ()
        series: list[DatabaseSeries] = []
        failed = []
        for pair in pairs:
            try:
                reading = self.measure((pair,)).pair(pair.name)
                if reading is not None:
                    series.append(database_series(reading))
            except Exception as exc:  # noqa: BLE001 — one pair's failure must not break /metrics
                name = str(getattr(pair, "name", pair))
                # Once per outage, not at every scrape.
                (log.debug if name in self.failed else log.warning)(
                    "measuring database pair %s failed: %s", name, exc
                )
                failed.append(name)
        for gauge in gauges:
            gauge.clear()
        for s in series:
            for gauge, values in zip(
                gauges, (s.primary, s.lag_bytes, s.lag_seconds, s.receiver_up, s.fenced), strict=True
            ):
                for (pair_name, group), value in sorted(values.items()):
                    gauge.labels(pair_name, group).set(value)
        self.failed = tuple(failed)
        self.observed_at = self.clock()
