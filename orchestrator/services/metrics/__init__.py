"""Prometheus metrics: the live zones per record (Kuadrant names), switches, the lease, health.

Where the numbers come from (docs/metrics.md):

- `dns_record_*` reflect the LIVE zones, read from the DNS servers (the live-zone port),
  not what the orchestrator last wrote: a record changed by hand or by a Kuadrant controller
  shows up. The cleanup counter rises when a registry entry of a group that the zone does
  not publish as active disappears between two observations.
- switch and lease metrics are a fold over the audit log (orchestrator.ports.audit): every event a
  switch writes (requested, step completed with its duration, completed/failed, lease
  acquired/renewed/released/lost/collision) updates them. The same fold serves both
  `orchestrator serve` (which tails the log, so it shows a switch run by any process on the
  host) and the textfile a one-shot CLI run writes for node-exporter. Counters survive
  restarts because the log does. `..._unfinished` comes from the journal.
- health metrics come from the last HealthReport (.orchestrator/health/<stack>.json).
- `orchestrator_database_*` come from a live reading of each database pair
  (the replication port), taken where the live zones are read: who is primary,
  how far each standby lags, whether its WAL receiver streams, who is fenced. What cannot be
  known (a standby's lag while its receiver is down, a CloudNativePG pair measured from
  elsewhere) is absent, never 0.

Metrics must never break a switch: publishing swallows and logs its own errors.

One module per part: registry.py (the families), audit_fold.py, live.py, databases.py,
stack.py (all sources of one stack), textfile.py (one-shot runs).
"""

from orchestrator.services.metrics.audit_fold import AuditFold
from orchestrator.services.metrics.databases import DatabaseObserver, DatabaseSeries, database_series
from orchestrator.services.metrics.live import LiveView, LiveZoneObserver, live_view
from orchestrator.services.metrics.registry import (
    DATABASE_LABELS,
    LIVE_MAX_AGE,
    METRIC_NAMES,
    RECORD_LABELS,
    RESULTS,
    STEP_BUCKETS,
    SWITCH_BUCKETS,
    TEXTFILE_ENV,
    UNKNOWN_STACK,
    Metrics,
)
from orchestrator.services.metrics.stack import StackMetrics, update_health, update_journal
from orchestrator.services.metrics.textfile import (
    Publisher,
    publisher,
    seed_counter_from_textfile,
    textfile_path,
)

__all__ = [
    "DATABASE_LABELS",
    "LIVE_MAX_AGE",
    "METRIC_NAMES",
    "RECORD_LABELS",
    "RESULTS",
    "STEP_BUCKETS",
    "SWITCH_BUCKETS",
    "TEXTFILE_ENV",
    "UNKNOWN_STACK",
    "AuditFold",
    "DatabaseObserver",
    "DatabaseSeries",
    "LiveView",
    "LiveZoneObserver",
    "Metrics",
    "Publisher",
    "StackMetrics",
    "database_series",
    "live_view",
    "publisher",
    "seed_counter_from_textfile",
    "textfile_path",
    "update_health",
    "update_journal",
]
