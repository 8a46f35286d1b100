"""Prometheus metrics: the live zones per record (Kuadrant names), switches, the lease, health.

Where the numbers come from (docs/metrics.md):

- `dns_record_*` reflect the LIVE zones, read from the DNS servers (orchestrator.adapters.dns.livezone),
  not what the orchestrator last wrote: a record changed by hand or by a Kuadrant controller
  shows up. The cleanup counter rises when a registry entry of a group that the zone does
  not publish as active disappears between two observations.
- switch and lease metrics are a fold over the audit log (orchestrator.adapters.files.audit): every event a
  switch writes (requested, step completed with its duration, completed/failed, lease
  acquired/renewed/released/lost/collision) updates them. The same fold serves both
  `orchestrator serve` (which tails the log, so it shows a switch run by any process on the
  host) and the textfile a one-shot CLI run writes for node-exporter. Counters survive
  restarts because the log does. `..._unfinished` comes from the journal.
- health metrics come from the last HealthReport (.orchestrator/health/<stack>.json).
- `orchestrator_database_*` come from a live reading of each database pair
  (orchestrator.adapters.postgres.measure), taken where the live zones are read: who is primary,
  how far each standby lags, whether its WAL receiver streams, who is fenced. What cannot be
  known (a standby's lag while its receiver is down, a CloudNativePG pair measured from
  elsewhere) is absent, never 0.

Metrics must never break a switch: publishing swallows and logs its own errors.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder, write_to_textfile

from orchestrator.adapters.files import audit as ev
from orchestrator.adapters.files.audit import parse_ts

log = logging.getLogger(__name__)

# `_created` samples add nothing for these metrics and double the textfile's size.
prometheus_client.disable_created_metrics()

TEXTFILE_ENV = "ORCHESTRATOR_METRICS_TEXTFILE"
RECORD_LABELS = ("dns_record_name", "zone", "group")
DATABASE_LABELS = ("pair", "group")
SWITCH_BUCKETS = (5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
STEP_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
RESULTS = ("completed", "failed", "noop")
LIVE_MAX_AGE = 0.5  # seconds: scrapes closer together than this reuse the last observation
UNKNOWN_STACK = "unknown"

# Every metric the orchestrator exposes, with its type (docs/metrics.md lists each one;
# a unit test keeps the two in step, and the rules and dashboard use only these).
METRIC_NAMES: dict[str, str] = {
    "dns_record_group_info": "gauge",
    "dns_record_group_active": "gauge",
    "dns_record_inactive_group_cleanup_total": "counter",
    "orchestrator_inactive_group_registry_entries": "gauge",
    "orchestrator_live_zone_up": "gauge",
    "orchestrator_live_zone_read_duration_seconds": "gauge",
    "orchestrator_switchovers_total": "counter",
    "orchestrator_switchover_duration_seconds": "histogram",
    "orchestrator_switchover_step_duration_seconds": "histogram",
    "orchestrator_switchover_last_step_duration_seconds": "gauge",
    "orchestrator_switchover_in_progress": "gauge",
    "orchestrator_switchover_unfinished": "gauge",
    "orchestrator_switchover_last_success_timestamp_seconds": "gauge",
    "orchestrator_lease_held": "gauge",
    "orchestrator_lease_epoch": "gauge",
    "orchestrator_lease_collisions_total": "counter",
    "orchestrator_health_check_status": "gauge",
    "orchestrator_last_switchover_healthy": "gauge",
    "orchestrator_health_checked_timestamp_seconds": "gauge",
    "orchestrator_api_requests_total": "counter",
    "orchestrator_database_primary_info": "gauge",
    "orchestrator_database_replication_lag_bytes": "gauge",
    "orchestrator_database_replication_lag_seconds": "gauge",
    "orchestrator_database_wal_receiver_up": "gauge",
    "orchestrator_database_fenced": "gauge",
}


class Metrics:
    """Every metric in one registry (a fresh one per instance: tests and processes never share)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.group_info = Gauge(
            "dns_record_group_info",
            "Group that publishes each DNS record (always 1; the group is in the `group` label).",
            RECORD_LABELS,
            registry=r,
        )
        self.group_active = Gauge(
            "dns_record_group_active",
            "1 when the zone publishes the group as active and the live record serves one of its "
            "targets, else 0.",
            RECORD_LABELS,
            registry=r,
        )
        self.cleanup = Counter(
            "dns_record_inactive_group_cleanup",
            "Registry entries of inactive groups seen removed from the live zone.",
            RECORD_LABELS,
            registry=r,
        )
        self.inactive_entries = Gauge(
            "orchestrator_inactive_group_registry_entries",
            "Live registry entries owned by a group the zone does not publish as active.",
            ("zone", "group"),
            registry=r,
        )
        self.live_up = Gauge(
            "orchestrator_live_zone_up",
            "1 when the last read of the live zones succeeded, else 0.",
            ("stack",),
            registry=r,
        )
        self.live_read = Gauge(
            "orchestrator_live_zone_read_duration_seconds",
            "How long the last read of the live zones took.",
            ("stack",),
            registry=r,
        )
        self.switchovers = Counter(
            "orchestrator_switchovers",
            "Switchovers that ended, by result (completed, failed, noop).",
            ("stack", "result"),
            registry=r,
        )
        self.duration = Histogram(
            "orchestrator_switchover_duration_seconds",
            "Wall-clock time of a switchover execution, from request (or resume) to its end.",
            ("stack", "result"),
            buckets=SWITCH_BUCKETS,
            registry=r,
        )
        self.step_duration = Histogram(
            "orchestrator_switchover_step_duration_seconds",
            "Duration of each completed switch step.",
            ("stack", "step"),
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.last_step = Gauge(
            "orchestrator_switchover_last_step_duration_seconds",
            "Duration of each step the last time it completed.",
            ("stack", "step"),
            registry=r,
        )
        self.in_progress = Gauge(
            "orchestrator_switchover_in_progress",
            "Switch executions started (or resumed) and not yet ended, per the audit log.",
            ("stack",),
            registry=r,
        )
        self.unfinished = Gauge(
            "orchestrator_switchover_unfinished",
            "1 while the journal holds an unfinished switch (running, or failed and not resumed or "
            "rolled back).",
            ("stack",),
            registry=r,
        )
        self.last_success = Gauge(
            "orchestrator_switchover_last_success_timestamp_seconds",
            "Unix time the last switchover completed.",
            ("stack",),
            registry=r,
        )
        self.lease_held = Gauge(
            "orchestrator_lease_held",
            "1 while a switch of this host holds the lease (until released, lost, or expired).",
            ("stack",),
            registry=r,
        )
        self.lease_epoch = Gauge(
            "orchestrator_lease_epoch",
            "Fencing epoch of the last lease a switch of this host acquired.",
            ("stack",),
            registry=r,
        )
        self.lease_collisions = Counter(
            "orchestrator_lease_collisions",
            "Switches refused because another holder had the lease.",
            ("stack",),
            registry=r,
        )
        self.health_status = Gauge(
            "orchestrator_health_check_status",
            "Status of each post-switchover health check (1 on the current status).",
            ("stack", "check", "status"),
            registry=r,
        )
        self.healthy = Gauge(
            "orchestrator_last_switchover_healthy",
            "The LastSwitchoverHealthy condition (1 on the current status: True, False, Unknown).",
            ("stack", "status"),
            registry=r,
        )
        self.health_checked = Gauge(
            "orchestrator_health_checked_timestamp_seconds",
            "Unix time the last health report was finished.",
            ("stack",),
            registry=r,
        )
        self.db_primary = Gauge(
            "orchestrator_database_primary_info",
            "1 for the group whose cluster is the pair's primary now, 0 for the pair's other measured "
            "clusters (standby, fenced, unreachable).",
            DATABASE_LABELS,
            registry=r,
        )
        self.db_lag_bytes = Gauge(
            "orchestrator_database_replication_lag_bytes",
            "Bytes of WAL a standby has not replayed yet (the primary's position minus its replay "
            "position); absent when unknown.",
            DATABASE_LABELS,
            registry=r,
        )
        self.db_lag_seconds = Gauge(
            "orchestrator_database_replication_lag_seconds",
            "Age of the last transaction a standby replayed while bytes are outstanding (0 when caught "
            "up); absent when unknown.",
            DATABASE_LABELS,
            registry=r,
        )
        self.db_receiver_up = Gauge(
            "orchestrator_database_wal_receiver_up",
            "1 while a standby's WAL receiver streams from its upstream, else 0.",
            DATABASE_LABELS,
            registry=r,
        )
        self.db_fenced = Gauge(
            "orchestrator_database_fenced",
            "1 when a cluster is fenced (a failover left it behind; rebuild it), 0 when it answers and "
            "is not.",
            DATABASE_LABELS,
            registry=r,
        )
        self.api_requests = Counter(
            "orchestrator_api_requests",
            "HTTP requests to `orchestrator serve`, by route and status code.",
            ("route", "code"),
            registry=r,
        )

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition (Prometheus text, or OpenMetrics when the scraper asks for it)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


# --- the audit fold ---------------------------------------------------------------------------


def _epoch(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        return parse_ts(ts).timestamp()
    except (TypeError, ValueError):
        return None


@dataclass
class _Lease:
    held: bool = False
    epoch: int | None = None
    expires_at: float = 0.0


@dataclass
class AuditFold:
    """Applies audit events to the metrics; `sync()` reads only what was appended since."""

    metrics: Metrics
    path: Path
    stack_of: Callable[[str], str | None] = lambda _sid: None
    lease_ttl: float = 30.0
    offset: int = 0
    inode: int | None = None
    stacks: dict[str, str] = field(default_factory=dict)  # switch id -> stack
    started: dict[str, float] = field(default_factory=dict)  # switch id -> start (unix)
    running: dict[str, set[str]] = field(default_factory=dict)  # stack -> switch ids
    leases: dict[str, _Lease] = field(default_factory=dict)
    applied: int = 0

    def sync(self) -> int:
        """Apply the events appended since the last call; returns how many were applied."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return 0
        if self.inode is not None and (st.st_ino != self.inode or st.st_size < self.offset):
            # Rotated or truncated: the counters already hold what was read; start the new file.
            self.offset = 0
        self.inode = st.st_ino
        if st.st_size <= self.offset:
            return 0
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read(st.st_size - self.offset)
        end = data.rfind(b"\n")
        if end < 0:
            return 0  # a line still being written: wait for its newline
        self.offset += end + 1
        count = 0
        for raw in data[: end + 1].split(b"\n"):
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # a fragment left by a crash mid-write (the audit log skips it too)
            if isinstance(event, dict):
                self.apply(event)
                count += 1
        self.applied += count
        return count

    def _stack(self, event: dict[str, Any]) -> str:
        sid = event.get("switch_id")
        if event.get("stack"):
            stack = str(event["stack"])
            if sid:
                self.stacks[sid] = stack
            return stack
        if sid and sid in self.stacks:
            return self.stacks[sid]
        if sid:
            found = self.stack_of(sid)
            if found:
                self.stacks[sid] = found
                return found
        return UNKNOWN_STACK

    def _set_running(self, stack: str) -> None:
        self.metrics.in_progress.labels(stack).set(len(self.running.get(stack, ())))

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        sid = event.get("switch_id")
        when = _epoch(event.get("ts")) or time.time()
        m = self.metrics
        if kind in (ev.SWITCHOVER_REQUESTED, ev.RESUME_REQUESTED):
            stack = self._stack(event)
            if sid:
                self.started[sid] = when
                self.running.setdefault(stack, set()).add(sid)
            self._set_running(stack)
        elif kind == ev.STEP_COMPLETED:
            stack = self._stack(event)
            seconds = event.get("duration_s")
            step = event.get("step")
            if isinstance(seconds, int | float) and step:
                m.step_duration.labels(stack, step).observe(float(seconds))
                m.last_step.labels(stack, step).set(float(seconds))
        elif kind in (ev.SWITCHOVER_COMPLETED, ev.SWITCHOVER_FAILED):
            stack = self._stack(event)
            result = "completed" if kind == ev.SWITCHOVER_COMPLETED else "failed"
            m.switchovers.labels(stack, result).inc()
            start = self.started.pop(sid, None) if sid else None
            if start is not None:
                m.duration.labels(stack, result).observe(max(0.0, when - start))
            if result == "completed":
                m.last_success.labels(stack).set(when)
            if sid:
                self.running.get(stack, set()).discard(sid)
            self._set_running(stack)
        elif kind == ev.SWITCHOVER_NOOP:
            m.switchovers.labels(self._stack(event), "noop").inc()
        elif kind == ev.LEASE_ACQUIRED:
            stack = self._stack(event)
            epoch = event.get("epoch")
            self.leases[stack] = _Lease(
                True, epoch if isinstance(epoch, int) else None, when + self.lease_ttl
            )
            if isinstance(epoch, int):
                m.lease_epoch.labels(stack).set(epoch)
        elif kind == ev.LEASE_RENEWED:
            stack = self._stack(event)
            lease = self.leases.setdefault(stack, _Lease())
            lease.held = True
            expires = event.get("expires_at")
            lease.expires_at = float(expires) if isinstance(expires, int | float) else when + self.lease_ttl
            if isinstance(event.get("epoch"), int):
                lease.epoch = event["epoch"]
                m.lease_epoch.labels(stack).set(lease.epoch)
        elif kind in (ev.LEASE_RELEASED, ev.LEASE_LOST):
            stack = self._stack(event)
            self.leases.setdefault(stack, _Lease()).held = False
        elif kind == ev.LEASE_COLLISION:
            m.lease_collisions.labels(self._stack(event)).inc()

    def settle(self, now: float | None = None) -> None:
        """Time-dependent values: a lease nobody renewed is not held after its expiry."""
        now = time.time() if now is None else now
        for stack, lease in self.leases.items():
            self.metrics.lease_held.labels(stack).set(1 if lease.held and now < lease.expires_at else 0)


# --- the live zones ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveView:
    """What one observation of the live zones found (pure data, built by `live_view`)."""

    series: dict[tuple[str, str, str], int]  # (name, zone, group) -> active 1/0
    entries: frozenset[tuple[str, str, str, str]]  # (host, zone, group, type) of live registry entries
    active: dict[str, tuple[str, ...]]  # zone -> groups it publishes as active


def live_view(topology: Any, live: dict[str, Any]) -> LiveView:
    """Per (hostname, zone, group): does the group serve it now? From the live records only."""
    from orchestrator.adapters.dns.livezone import candidates, registry_entries
    from orchestrator.domain.kuadrant import FormatError, active_groups_txt_name, parse_active_groups_txt

    target_types = ("A", "AAAA", "CNAME")
    zone_active: dict[str, tuple[str, ...]] = {}
    for zone in topology.zones:
        rec = live.get(f"{zone.name}/{active_groups_txt_name(zone.name)}/TXT")
        try:
            zone_active[zone.name] = tuple(parse_active_groups_txt(rec.values[0])) if rec else ()
        except (FormatError, IndexError):
            zone_active[zone.name] = ()
    entries: set[tuple[str, str, str, str]] = set()
    owned: dict[tuple[str, str, str], set[str]] = {}  # (host, zone, group) -> targets per registry
    for rec, entry in registry_entries(live):
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
        if rs.type in target_types and (rec := live.get(rs.key)) is not None:
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


# --- database pairs ---------------------------------------------------------------------------


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


def _default_measure(pairs: tuple[Any, ...]) -> Any:
    from orchestrator.adapters.postgres.measure import measure

    return measure(pairs)


@dataclass
class DatabaseObserver:
    """Measures each database pair of the topology and updates the `orchestrator_database_*` gauges.

    Each pair is measured on its own: a pair whose reading fails loses its series (absent, not
    stale) and is logged; the other pairs, and every other metric, are unaffected.
    """

    metrics: Metrics
    load: Callable[[], Any]  # () -> Topology
    measure: Callable[[tuple[Any, ...]], Any] = _default_measure  # (pairs) -> Replication
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


# --- journal and health -----------------------------------------------------------------------


def update_journal(metrics: Metrics, root: Path, stack: str) -> None:
    from orchestrator.adapters.files.journal import Journal
    from orchestrator.adapters.files.paths import state_dir

    try:
        unfinished = Journal(state_dir(root) / "journal").unfinished(stack)
    except Exception as exc:  # noqa: BLE001
        log.warning("reading the journal failed: %s", exc)
        return
    metrics.unfinished.labels(stack).set(0 if unfinished is None else 1)


def update_health(metrics: Metrics, root: Path, stack: str) -> None:
    from orchestrator.adapters.files.health_store import load_report
    from orchestrator.domain.health import CHECKS, CONDITION_STATUSES, STATUSES

    report = load_report(root, stack)
    if report is None:
        return
    by_name = {c.name: c.status for c in report.checks}
    for check in CHECKS:
        for status in STATUSES:
            metrics.health_status.labels(stack, check, status).set(1 if by_name.get(check) == status else 0)
    for status in CONDITION_STATUSES:
        metrics.healthy.labels(stack, status).set(1 if report.condition.status == status else 0)
    if (when := _epoch(report.finished_at)) is not None:
        metrics.health_checked.labels(stack).set(when)


def _journal_stack(root: Path) -> Callable[[str], str | None]:
    def stack_of(switch_id: str) -> str | None:
        from orchestrator.adapters.files.journal import Journal
        from orchestrator.adapters.files.paths import state_dir

        try:
            return Journal(state_dir(root) / "journal").load(switch_id).stack
        except Exception:  # noqa: BLE001
            return None

    return stack_of


def _live_loader(root: Path, stack: str) -> tuple[Callable[[], Any], Callable[[Any], dict[str, Any]]]:
    def load() -> Any:
        from orchestrator.services.deploy import load as load_stack

        return load_stack(root, stack)[0]

    def read(topology: Any) -> dict[str, Any]:
        from orchestrator.adapters.dns.livezone import read_live

        return read_live(topology)

    return load, read


class StackMetrics:
    """All sources for one stack of one project, refreshed on demand (serve and the CLI)."""

    def __init__(
        self,
        root: Path,
        stack: str,
        *,
        audit_path: Path | None = None,
        live: LiveZoneObserver | None = None,
        databases: DatabaseObserver | None = None,
    ) -> None:
        self.root = root
        self.stack = stack
        self.metrics = Metrics()
        self.lock = threading.Lock()
        self.fold = AuditFold(
            self.metrics, audit_path or ev.default_audit_log(root), stack_of=_journal_stack(root)
        )
        if live is None:
            load, read = _live_loader(root, stack)
            live = LiveZoneObserver(self.metrics, stack, load, read)
        self.live = live
        if databases is None:
            # The same topology as the live zones (tests that replace live.load replace this too).
            databases = DatabaseObserver(self.metrics, lambda: self.live.load())
        self.databases = databases

    def refresh(self, *, live: bool = True, max_age: float = LIVE_MAX_AGE) -> None:
        with self.lock:
            self.fold.sync()
            self.fold.settle()
            update_journal(self.metrics, self.root, self.stack)
            update_health(self.metrics, self.root, self.stack)
            if live:
                self.live.observe(max_age=max_age)
                self.databases.observe(max_age=max_age)

    def render(self, accept: str | None = None, *, live: bool = True) -> tuple[bytes, str]:
        self.refresh(live=live)
        with self.lock:
            return self.metrics.render(accept)


# --- one-shot CLI runs: the node-exporter textfile --------------------------------------------


def textfile_path(environ: dict[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    value = env.get(TEXTFILE_ENV)
    return Path(value) if value else None


def seed_counter_from_textfile(counter: Counter, name: str, path: Path, labels: Iterable[str]) -> None:
    """Carry a counter over from the previous textfile (so it keeps rising across runs)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = path.read_text()
    except OSError:
        return
    labels = tuple(labels)
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.value > 0:
                    counter.labels(*(sample.labels.get(k, "") for k in labels)).inc(sample.value)
    except ValueError as exc:
        log.warning("the previous metrics textfile %s is unreadable: %s", path, exc)


class Publisher:
    """Writes the textfile of a one-shot run; does nothing when no path is configured.

    Each publish() catches up with the audit log and rewrites the file atomically; with
    live=True it also reads the live zones (at the start and the end of a switch, so the
    cleanup between the two is counted).
    """

    def __init__(self, root: Path, stack: str, path: Path | None) -> None:
        self.root = root
        self.stack = stack
        self.path = path
        self._stack_metrics: StackMetrics | None = None
        self._lock = threading.Lock()  # the lease keeper's thread publishes too

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def _metrics(self) -> StackMetrics:
        if self._stack_metrics is None:
            sm = StackMetrics(self.root, self.stack)
            assert self.path is not None
            seed_counter_from_textfile(
                sm.metrics.cleanup, "dns_record_inactive_group_cleanup_total", self.path, RECORD_LABELS
            )
            self._stack_metrics = sm
        return self._stack_metrics

    def publish(self, *, live: bool = False) -> None:
        if self.path is None:
            return
        try:
            with self._lock:
                sm = self._metrics()
                sm.refresh(live=live, max_age=0.0)
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with sm.lock:
                    write_to_textfile(str(self.path), sm.metrics.registry)
        except Exception as exc:  # noqa: BLE001 — metrics never break a switch
            log.warning("writing the metrics textfile %s failed: %s", self.path, exc)


def publisher(root: Path, stack: str, path: Path | None = None) -> Publisher:
    """The CLI's publisher: `path`, else $ORCHESTRATOR_METRICS_TEXTFILE, else a no-op."""
    return Publisher(root, stack, path or textfile_path())
