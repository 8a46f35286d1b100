"""The live zones per record (Kuadrant names), read from the DNS servers, not from state."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.desired import candidates
from orchestrator.domain.kuadrant import FormatError, active_groups_by_zone, registry_entries
from orchestrator.domain.names import TARGET_TYPES
from orchestrator.services.metrics.registry import Metrics

log = logging.getLogger("orchestrator.services.metrics")  # one logger for the package


@dataclass(frozen=True)
class LiveView:
    """What one observation of the live zones found (pure data, built by `live_view`)."""

    series: dict[tuple[str, str, str], int]  # (name, zone, group) -> active 1/0
    entries: frozenset[tuple[str, str, str, str]]  # (host, zone, group, type) of live registry entries
    active: dict[str, tuple[str, ...]]  # zone -> groups it publishes as active


def live_view(topology: Any, live: dict[str, Any]) -> LiveView:
    """Per (hostname, zone, group): does the group serve it now? From the live records only."""
    readable, _ = active_groups_by_zone(live.values())
    zone_active = {zone.name: readable.get(zone.name) or () for zone in topology.zones}
    entries: set[tuple[str, str, str, str]] = set()
    owned: dict[tuple[str, str, str], set[str]] = {}  # (host, zone, group) -> targets per registry
    for rec, entry in registry_entries(live.values()):
        if isinstance(entry, FormatError):
            continue
        group = entry.group or ""
        entries.add((entry.host, rec.zone, group, entry.type))
        owned.setdefault((entry.host, rec.zone, group), set()).update(entry.targets)
    targets: dict[tuple[str, str, str], set[str]] = {}
    for group in topology.groups:
        for ep in group.endpoints:
            targets.setdefault((ep.hostname, ep.zone, group.name), set()).update(ep.all_targets())
    for key, values in owned.items():
        targets.setdefault(key, set()).update(values)
    served: dict[tuple[str, str], set[str]] = {}
    for rs in candidates(topology):
        if rs.type in TARGET_TYPES and (rec := live.get(rs.key)) is not None:
            served.setdefault((rs.name, rs.zone), set()).update(rec.values)
    series = {}
    for (host, zone, group), want in targets.items():
        active = group in zone_active.get(zone, ()) and bool(served.get((host, zone), set()) & want)
        series[(host, zone, group)] = 1 if active else 0
    return LiveView(series=series, entries=frozenset(entries), active=zone_active)


@dataclass
class LiveZoneObserver:
    """Reads the live zones and updates the per-record metrics; counts inactive-group cleanups."""

    metrics: Metrics
    stack: str
    load: Callable[[], Any]  # () -> Topology
    read: Callable[[Any], dict[str, Any]]  # Topology -> live records by key
    previous: LiveView | None = None
    observed_at: float = 0.0
    clock: Callable[[], float] = time.monotonic

    def observe(self, max_age: float = 0.0) -> LiveView | None:
        if self.previous is not None and self.clock() - self.observed_at < max_age:
            return self.previous
        m = self.metrics
        t0 = self.clock()
        try:
            topology = self.load()
            view = live_view(topology, self.read(topology))
        except Exception as exc:  # noqa: BLE001 — a server down must not break /metrics
            log.warning("reading the live zones failed: %s", exc)
            m.live_up.labels(self.stack).set(0)
            m.group_info.clear()
            m.group_active.clear()
            m.inactive_entries.clear()
            return None
        m.live_read.labels(self.stack).set(self.clock() - t0)
        m.live_up.labels(self.stack).set(1)
        m.group_info.clear()
        m.group_active.clear()
        for (host, zone, group), active in sorted(view.series.items()):
            m.group_info.labels(host, zone, group).set(1)
            m.group_active.labels(host, zone, group).set(active)
        m.inactive_entries.clear()
        counts: dict[tuple[str, str], int] = {}
        for _host, zone, group, _type in view.entries:
            if group not in view.active.get(zone, ()):
                counts[(zone, group)] = counts.get((zone, group), 0) + 1
        for (zone, group), n in sorted(counts.items()):
            m.inactive_entries.labels(zone, group).set(n)
        if self.previous is not None:
            for host, zone, group, _type in sorted(self.previous.entries - view.entries):
                if group not in view.active.get(zone, ()):
                    m.cleanup.labels(host, zone, group).inc()
        self.previous = view
        self.observed_at = self.clock()
        return view
