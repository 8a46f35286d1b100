"""The metric families (docs/metrics.md): names, types, labels; one registry per stack."""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

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
