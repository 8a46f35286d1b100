"""The metrics of `orchestrator watch` (docs/watch.md, docs/metrics.md).

Counters whose label sets are known up front start at 0, so that `increase()` sees the first
event too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from orchestrator.domain.publish import DOWN, UP, GroupView, PublishRule

ACTIONS = ("none", "switch", "blocked", "no-quorum")
KINDS = ("failover", "failback", "migration")
RESULTS = ("completed", "lease-busy", "blocked", "failed")
PHASES = ("detection", "decision", "switch", "total")
# Every metric watch exports, with its type (docs/metrics.md lists each one).
WATCH_METRIC_NAMES: dict[str, str] = {
    "orchestrator_watch_rule_info": "gauge",
    "orchestrator_watch_group_down": "gauge",
    "orchestrator_watch_observer_down": "gauge",
    "orchestrator_watch_observers": "gauge",
    "orchestrator_watch_blocked": "gauge",
    "orchestrator_watch_block_until_timestamp_seconds": "gauge",
    "orchestrator_watch_decisions_total": "counter",
    "orchestrator_watch_automatic_switches_total": "counter",
    "orchestrator_failover_ready": "gauge",
    "orchestrator_failover_blocker_info": "gauge",
    "orchestrator_failover_ready_checked_timestamp_seconds": "gauge",
    "orchestrator_recovery_seconds": "gauge",
    "orchestrator_recovery_objective_seconds": "gauge",
    "orchestrator_recovery_within_objective": "gauge",
}


class WatchMetrics:
    def __init__(self, stack: str, registry: CollectorRegistry | None = None) -> None:
        self.stack = stack
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.rule = Gauge(
            "orchestrator_watch_rule_info",
            "A group's publish rule (1).",
            ["stack", "group", "publish", "republish"],
            registry=r,
        )
        self.group_state = Gauge(
            "orchestrator_watch_group_down",
            "1 when a quorum of observers sees the group down, 0 when it sees it up; absent: unknown.",
            ["stack", "group"],
            registry=r,
        )
        self.observer = Gauge(
            "orchestrator_watch_observer_down",
            "Each fresh observer's verdict per group: 1 down, 0 up (absent: unknown or stale).",
            ["stack", "observer", "group"],
            registry=r,
        )
        self.observers = Gauge(
            "orchestrator_watch_observers", "Fresh observers on the board.", ["stack"], registry=r
        )
        self.blocked = Gauge(
            "orchestrator_watch_blocked",
            "1 while automatic switches are blocked (anti-flap) until acknowledged.",
            ["stack"],
            registry=r,
        )
        self.block_until = Gauge(
            "orchestrator_watch_block_until_timestamp_seconds",
            "When the anti-flap block lapses on its own.",
            ["stack"],
            registry=r,
        )
        self.decisions = Counter(
            "orchestrator_watch_decisions_total",
            "Rule evaluations by outcome.",
            ["stack", "action"],
            registry=r,
        )
        self.switches = Counter(
            "orchestrator_watch_automatic_switches_total",
            "Automatic switches by kind and result.",
            ["stack", "kind", "result"],
            registry=r,
        )
        self.ready = Gauge(
            "orchestrator_failover_ready",
            "1 when the failover a rule could trigger would pass its dry-run now, else 0.",
            ["stack", "to_group"],
            registry=r,
        )
        self.blocker = Gauge(
            "orchestrator_failover_blocker_info",
            "A blocker of a failover path's dry-run (1 per blocker).",
            ["stack", "to_group", "blocker"],
            registry=r,
        )
        self.ready_checked = Gauge(
            "orchestrator_failover_ready_checked_timestamp_seconds",
            "When the failover paths were last dry-run.",
            ["stack"],
            registry=r,
        )
        self.recovery = Gauge(
            "orchestrator_recovery_seconds",
            "The last switch's recovery time by phase: detection (first failure to quorum), decision, "
            "switch, total (first failure to every vantage serving the new group).",
            ["stack", "phase"],
            registry=r,
        )
        self.rto = Gauge(
            "orchestrator_recovery_objective_seconds",
            "The stack's recovery-time objective.",
            ["stack"],
            registry=r,
        )
        self.within = Gauge(
            "orchestrator_recovery_within_objective",
            "1 when the last recovery met the objective.",
            ["stack"],
            registry=r,
        )
        for action in ACTIONS:
            self.decisions.labels(stack, action)
        for kind in KINDS:
            for result in RESULTS:
                self.switches.labels(stack, kind, result)
        self.blocked.labels(stack).set(0)

    def rules(self, rules: Iterable[PublishRule], rto: float) -> None:
        self.rule.clear()
        for r in rules:
            self.rule.labels(self.stack, r.group, r.strategy, str(r.republish).lower()).set(1)
        self.rto.labels(self.stack).set(rto)

    def views(self, views: Mapping[str, GroupView], fresh: Iterable[tuple[str, Mapping[str, str]]]) -> None:
        self.group_state.clear()
        for g, v in views.items():
            if v.state in (DOWN, UP):
                self.group_state.labels(self.stack, g).set(1 if v.state == DOWN else 0)
        self.observer.clear()
        count = 0
        for observer, groups in fresh:
            count += 1
            for g, state in groups.items():
                if state in (DOWN, UP):
                    self.observer.labels(self.stack, observer, g).set(1 if state == DOWN else 0)
        self.observers.labels(self.stack).set(count)

    def block(self, until: float | None) -> None:
        self.blocked.labels(self.stack).set(1 if until is not None else 0)
        if until is None:
            self.block_until.clear()
        else:
            self.block_until.labels(self.stack).set(until)

    def readiness(self, to_group: str, blockers: Iterable[str], at: float) -> None:
        blockers = list(blockers)
        self.ready.labels(self.stack, to_group).set(0 if blockers else 1)
        for labels in list(self.blocker._metrics):  # noqa: SLF001 — drop this path's old blockers only
            if labels[1] == to_group:
                self.blocker.remove(*labels)
        for b in blockers:
            self.blocker.labels(self.stack, to_group, b[:200]).set(1)
        self.ready_checked.labels(self.stack).set(at)

    def recovered(self, phases: Mapping[str, float], rto: float) -> None:
        for phase in PHASES:
            if phase in phases:
                self.recovery.labels(self.stack, phase).set(round(phases[phase], 3))
        self.within.labels(self.stack).set(1 if phases.get("total", rto + 1) <= rto else 0)
