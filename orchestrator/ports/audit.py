"""The audit sink a use case writes to, and the names of its events (docs/audit.md).

The names are the log's stable vocabulary: never rename or remove one; add new ones at the
end of EVENT_TYPES. orchestrator.adapters.files.audit writes them as JSON lines.
"""

from __future__ import annotations

from typing import Any, Protocol

SWITCHOVER_REQUESTED = "switchover.requested"
LEASE_ACQUIRED = "lease.acquired"
LEASE_RENEWED = "lease.renewed"
LEASE_LOST = "lease.lost"
LEASE_RELEASED = "lease.released"
LEASE_COLLISION = "lease.collision"
PREFLIGHT_PASSED = "preflight.passed"
PREFLIGHT_BLOCKED = "preflight.blocked"
STEP_STARTED = "step.started"
STEP_COMPLETED = "step.completed"
STEP_FAILED = "step.failed"
SWITCHOVER_COMPLETED = "switchover.completed"
SWITCHOVER_FAILED = "switchover.failed"
SWITCHOVER_NOOP = "switchover.noop"
CONFIG_CHANGED_SINCE_PREVIEW = "config.changed-since-preview"
ROLLBACK_REQUESTED = "rollback.requested"
ROLLBACK_COMPLETED = "rollback.completed"
RESUME_REQUESTED = "resume.requested"
POLICY_OVERRIDDEN = "policy.overridden"
ACTIVE_GROUPS_CHANGED = "active-groups.changed"
SWITCHOVER_CONFIRMED = "switchover.confirmed"
# orchestrator watch (docs/watch.md)
WATCH_STARTED = "watch.started"
WATCH_DECISION = "watch.decision"
WATCH_NO_QUORUM = "watch.no-quorum"
WATCH_BLOCKED = "watch.blocked"
WATCH_LEASE_BUSY = "watch.lease-busy"
WATCH_SWITCH_RESULT = "watch.switch-result"
WATCH_ACKNOWLEDGED = "watch.acknowledged"
WATCH_RESUMED = "watch.resumed"
RECOVERY_MEASURED = "recovery.measured"
FAILOVER_READINESS = "failover.readiness-changed"
RECORDS_PRUNED = "records.pruned"  # orchestrator prune (docs/team.md)

EVENT_TYPES: tuple[str, ...] = (
    SWITCHOVER_REQUESTED,
    LEASE_ACQUIRED,
    LEASE_RENEWED,
    LEASE_LOST,
    LEASE_RELEASED,
    LEASE_COLLISION,
    PREFLIGHT_PASSED,
    PREFLIGHT_BLOCKED,
    STEP_STARTED,
    STEP_COMPLETED,
    STEP_FAILED,
    SWITCHOVER_COMPLETED,
    SWITCHOVER_FAILED,
    SWITCHOVER_NOOP,
    CONFIG_CHANGED_SINCE_PREVIEW,
    ROLLBACK_REQUESTED,
    ROLLBACK_COMPLETED,
    RESUME_REQUESTED,
    POLICY_OVERRIDDEN,
    ACTIVE_GROUPS_CHANGED,
    SWITCHOVER_CONFIRMED,
    WATCH_STARTED,
    WATCH_DECISION,
    WATCH_NO_QUORUM,
    WATCH_BLOCKED,
    WATCH_LEASE_BUSY,
    WATCH_SWITCH_RESULT,
    WATCH_ACKNOWLEDGED,
    WATCH_RESUMED,
    RECOVERY_MEASURED,
    FAILOVER_READINESS,
    RECORDS_PRUNED,
)


class AuditSink(Protocol):
    """Appends one event; the sink adds the envelope (time, user, pid)."""

    def append(self, event_type: str, **fields: Any) -> Any: ...
